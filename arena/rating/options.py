"""Options of the rating engine (one dataclass shared by the CLI and the pipeline)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from arena.errors import ArenaError
from arena.limits import MAX_BOOTSTRAP  # one bound for the config key and --bootstrap
from arena.rating.clusters import BOOTSTRAP_BY

METHODS = ("bt", "elo")
LOW_DATA_BATTLES = 20  # a model with fewer battles is flagged `low_data` in leaderboards


@dataclass(frozen=True)
class RatingOptions:
    """How to turn battles into ratings: model, bootstrap, normalisation and style control."""

    bootstrap: int = 1000
    seed: int = 0
    bootstrap_by: str = "battle"
    anchor: tuple[str, float] | None = None
    baseline: str | None = None
    method: str = "bt"
    style_control: bool = False
    percentiles: tuple[float, float] = (2.5, 97.5)
    scale: float = 400.0
    base: float = 10.0
    init: float = 1000.0
    elo_k: float = 4.0
    prior_weight: float = 0.01
    min_battles_warning: int = 1
    low_data_battles: int = LOW_DATA_BATTLES

    def __post_init__(self) -> None:
        """Reject inconsistent options with an error that says what to change."""
        if self.method not in METHODS:
            raise ArenaError(
                f"unknown rating method {self.method!r}", hint=f"use one of {', '.join(METHODS)}"
            )
        if self.anchor is not None and self.baseline is not None:
            raise ArenaError("--anchor and --baseline cannot be combined", hint="pick one normalisation")
        if self.anchor is not None:
            name, value = self.anchor
            if not name or not math.isfinite(float(value)):
                raise ArenaError(f"invalid anchor {self.anchor!r}", hint="use MODEL=RATING, e.g. gpt-4=1000")
        if not 0 <= int(self.bootstrap) <= MAX_BOOTSTRAP:
            raise ArenaError(
                f"bootstrap rounds (--bootstrap / rating.bootstrap) must be between 0 and {MAX_BOOTSTRAP}, "
                f"got {self.bootstrap}",
                hint="1000 rounds (the default) give stable 95% intervals",
            )
        if self.bootstrap_by not in BOOTSTRAP_BY:
            raise ArenaError(
                f"unknown bootstrap resampling {self.bootstrap_by!r} (--bootstrap-by / rating.bootstrap_by)",
                hint=f"use one of {', '.join(BOOTSTRAP_BY)}",
            )
        if self.bootstrap_by == "question" and self.method != "bt":
            raise ArenaError(
                "question resampling (--bootstrap-by question) needs the Bradley-Terry method",
                hint="drop --method elo, or resample battles",
            )
        if int(self.seed) < 0:
            raise ArenaError(f"the seed must be >= 0, got {self.seed}")
        low, high = self.percentiles
        if not 0.0 <= low < high <= 100.0:
            raise ArenaError(f"invalid percentiles {self.percentiles}", hint="use e.g. (2.5, 97.5)")
        if self.scale <= 0 or self.base <= 1:
            raise ArenaError("scale must be > 0 and base > 1")
        if self.elo_k <= 0:
            raise ArenaError(f"elo_k must be > 0, got {self.elo_k}")
        if self.prior_weight <= 0:
            raise ArenaError(f"prior_weight must be > 0, got {self.prior_weight}")
        if self.style_control and self.method != "bt":
            raise ArenaError("style control needs the Bradley-Terry method", hint="drop --method elo")

    @property
    def factor(self) -> float:
        """Rating points per natural-log-odds unit (400 / ln 10 by default)."""
        return self.scale / math.log(self.base)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy of the options."""
        out = asdict(self)
        out["anchor"] = list(self.anchor) if self.anchor else None
        out["percentiles"] = list(self.percentiles)
        return out


def parse_anchor(text: str) -> tuple[str, float]:
    """Parse `MODEL=RATING` (the model name may itself contain '=')."""
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise ArenaError(
            f"invalid anchor {text!r}", hint="use MODEL=RATING, e.g. mixtral-8x7b-instruct-v0.1=1114"
        )
    try:
        rating = float(value)
    except ValueError:
        raise ArenaError(
            f"invalid anchor rating {value!r} in {text!r}", hint="RATING must be a number"
        ) from None
    return name, rating
