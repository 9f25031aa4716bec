"""The judge budget: a per-run limit and a workspace total, with the worst case of every call in flight reserved.

A judgment starts only when what is spent, plus the reservations of the calls in flight, plus its own
worst case fits under every limit. When it does not fit, it waits for calls in flight to settle and
checks again; the stage stops only when nothing is in flight and the next judgment still does not fit.
The workspace total is the sum of an append-only ledger, `judgments/<judge>/spent.jsonl`, one line per
paid call, so it survives re-runs; appends are serialized by a file lock, so two processes cannot tear it.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

LEDGER_NAME = "spent.jsonl"


class SpendLedger:
    """The workspace's memory of what one judge has cost: one JSON line per paid call."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock")
        self._offset = 0
        self._total = 0.0

    def total(self) -> float:
        """Dollars spent on this judge in this workspace, over every run (lines appended since are read too)."""
        if not self.path.exists():
            return self._total
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line another process is still writing waits
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                self._total += float(json.loads(line).get("cost_usd") or 0.0)
            except (ValueError, AttributeError, TypeError):
                continue  # a damaged line costs nothing rather than stopping the judge
        return self._total

    def append(self, entry: dict[str, Any]) -> None:
        """Add one call's cost; one write of one line under the lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(entry, sort_keys=True) + "\n").encode()
        with self._lock, self.path.open("ab") as f:
            f.write(data)


@dataclass
class Stop:
    """Why the stage stopped starting judgments: which limit, what was spent, what the next one could cost."""

    limit_name: str
    limit: float
    spent: float
    next_worst: float


def run_limit_left(limit: float, next_worst: float, panel: bool = False) -> str:
    """How the judgments a max_cost_usd stop left behind can be done: by the next run, unless one judgment's
    worst case alone is more than this judge may spend in a run. A panel member's limit is what the panel's
    max_cost_usd left it after the earlier members: a re-run may leave it more (their judgments cached)."""
    if next_worst <= limit:
        return "left for the next run"
    if panel:
        return (f"left: one judgment's worst case (${next_worst:.4f}) is more than the ${limit:.4f} the panel's "
                "max_cost_usd left this member in this run; a re-run leaves it more once the earlier members' "
                "judgments are cached, or raise max_cost_usd")
    return (f"left: one judgment's worst case (${next_worst:.4f}) is more than the ${limit:.4f} this judge may "
            "spend in a run; raise max_cost_usd")


class Budget:
    """Reservations and spending of one judge stage against `max_cost_usd` and `max_total_cost_usd`."""

    def __init__(self, run_limit: float | None, total_limit: float | None, ledger: SpendLedger | None,
                 panel: bool = False) -> None:
        self.run_limit, self.total_limit, self.ledger = run_limit, total_limit, ledger
        self.panel = panel  # a panel member: run_limit is what the panel's max_cost_usd left it
        self.spent = 0.0
        self.reserved = 0.0
        self.in_flight = 0
        self.stop: Stop | None = None
        self.overrun = 0.0  # how much calls cost beyond the worst case reserved for them (bad usage reports)
        self.total_before = ledger.total() if ledger else 0.0
        self._cond: asyncio.Condition | None = None

    def _total(self) -> float:
        return self.ledger.total() if self.ledger else self.spent

    def _blocking(self, worst: float) -> Stop | None:
        """The first limit the next judgment would pass, given the spending and reservations so far."""
        if self.run_limit is not None and self.spent + self.reserved + worst > self.run_limit:
            return Stop("max_cost_usd", self.run_limit, self.spent, worst)
        if self.total_limit is not None:
            total = self._total()
            if total + self.reserved + worst > self.total_limit:
                return Stop("max_total_cost_usd", self.total_limit, total, worst)
        return None

    async def reserve(self, worst: float) -> bool:
        """Wait until a judgment of cost up to `worst` fits; False once the stage has stopped at the budget."""
        if self.run_limit is None and self.total_limit is None:
            self.in_flight += 1
            return True
        self._cond = self._cond or asyncio.Condition()
        async with self._cond:
            while True:
                if self.stop is not None:
                    return False
                blocking = self._blocking(worst)
                if blocking is None:
                    self.reserved += worst
                    self.in_flight += 1
                    return True
                if self.in_flight == 0:
                    self.stop = blocking
                    self._cond.notify_all()
                    return False
                await self._cond.wait()

    def extend(self, extra: float) -> bool:
        """Reserve `extra` more for a judgment in flight (a retry after an attempt cut off in flight, which may
        be billed), if it fits now under every limit; False when it does not (the judgment is not retried)."""
        if self.run_limit is None and self.total_limit is None:
            return True
        if self._blocking(extra) is not None:
            return False
        self.reserved += extra
        return True

    async def settle(self, worst: float, cost: float, entry: dict[str, Any] | None = None) -> None:
        """A judgment finished: its reservation becomes its real cost (written to the ledger), waiters re-check."""
        if cost > 0 and self.ledger is not None:
            self.ledger.append({**(entry or {}), "cost_usd": round(cost, 8),
                                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self.spent += cost
        self.overrun += max(0.0, cost - worst)
        self.in_flight -= 1
        if self._cond is None:
            return
        async with self._cond:
            self.reserved -= worst
            self._cond.notify_all()

    def report(self) -> dict[str, Any]:
        """The budget's figures for run.json: limits, spending, and by how much a limit was passed (if it was)."""
        total = self._total() if self.ledger else None
        out: dict[str, Any] = {"max_cost_usd": self.run_limit, "max_total_cost_usd": self.total_limit,
                               "spent_usd": round(self.spent, 6),
                               "workspace_total_before_usd": round(self.total_before, 6) if self.ledger else None,
                               "workspace_total_usd": None if total is None else round(total, 6),
                               "passed_by_usd": round(self.passed_by(), 6), "stopped_by": None}
        if self.stop is not None:
            out.update(stopped_by=self.stop.limit_name, next_worst_case_usd=round(self.stop.next_worst, 6))
        if self.panel:
            out["panel_member"] = True  # max_cost_usd is what the panel's limit left this member
        return out

    def passed_by(self) -> float:
        """How far the spending went over the tighter limit (0 when within both)."""
        over = [self.spent - self.run_limit] if self.run_limit is not None else []
        if self.total_limit is not None:
            over.append(self._total() - self.total_limit)
        return max([0.0, *over])

    def messages(self, who: str, not_done: int) -> list[str]:
        """True sentences about the budget for run.json's errors: a stop, and any limit the endpoint made us pass."""
        out = []
        over = self.passed_by()
        if over > 0:
            why = (f"the endpoint reported more tokens than the worst case reserved for its calls (the prompt bound "
                   f"and max_tokens), ${self.overrun:.4f} more in all" if self.overrun > 0 else
                   "another run spent from the same workspace total at the same time")
            out.append(f"{who}: passed the budget by ${over:.4f}: spent ${self.spent:.4f} in this run"
                       f"{self._limits_text()}; {why}")
        if self.stop is not None:
            s = self.stop
            scope = "in this run" if s.limit_name == "max_cost_usd" else "in this workspace over all runs"
            verb = "passed" if s.spent > s.limit else "stopped before passing"
            left = ("left until max_total_cost_usd is raised (a re-run stops at the same place)"
                    if s.limit_name != "max_cost_usd" else run_limit_left(s.limit, s.next_worst, self.panel))
            limit = (f"the ${s.limit:.4f} the panel's max_cost_usd left this member"
                     if self.panel and s.limit_name == "max_cost_usd" else f"{s.limit_name}={s.limit:g}")
            out.append(f"{who}: {verb} {limit} with ${s.spent:.4f} spent {scope}; the next "
                       f"judgment could cost up to ${s.next_worst:.4f}, which does not fit; {not_done} judgments "
                       f"{left}")
        return out

    def _limits_text(self) -> str:
        parts = [f"max_cost_usd={self.run_limit:g}"] if self.run_limit is not None else []
        if self.total_limit is not None:
            parts.append(f"max_total_cost_usd={self.total_limit:g} (workspace total ${self._total():.4f})")
        return " against " + " and ".join(parts) if parts else ""
