"""Rating engine: Bradley-Terry on pair counts with bootstrap intervals, online Elo, style control.

Pure numpy/scipy/pandas; knows nothing about HTTP or judges. The names below load on first use (module
__getattr__), so `arena rate` can read battles while the fitting modules (scipy) import beside it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {
    "load_battles": "io",
    "validate_battles": "io",
    "RatingResult": "leaderboard",
    "rank_by_ci": "leaderboard",
    "rate_all": "leaderboard",
    "rate_battles": "leaderboard",
    "RatingOptions": "options",
    "parse_anchor": "options",
    "format_table": "report",
    "result_to_dict": "report",
    "write_leaderboard": "report",
}

__all__ = [
    "RatingOptions",
    "RatingResult",
    "format_table",
    "load_battles",
    "parse_anchor",
    "rank_by_ci",
    "rate_all",
    "rate_battles",
    "result_to_dict",
    "validate_battles",
    "write_leaderboard",
]

if TYPE_CHECKING:
    from arena.rating.io import load_battles, validate_battles
    from arena.rating.leaderboard import RatingResult, rank_by_ci, rate_all, rate_battles
    from arena.rating.options import RatingOptions, parse_anchor
    from arena.rating.report import format_table, result_to_dict, write_leaderboard


def __getattr__(name: str) -> object:
    """Import a public name's module on first access (submodules load as usual)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'arena.rating' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"arena.rating.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
