"""The judgment cache: `judgments/<judge>/<mode>.jsonl`, keyed by content; only successes are reused."""
from __future__ import annotations

from pathlib import Path

from arena.records import JsonlAppender, read_records


class JudgmentStore:
    """Append-only judgment records of one judge and mode; the newest record of a key wins."""

    def __init__(self, root: Path, judge: str, mode: str) -> None:
        self.path = Path(root) / judge / f"{mode}.jsonl"

    def load(self) -> dict[str, dict]:
        """Latest record per key (failed and unparsed ones included, so they can be reported and retried)."""
        if not self.path.exists():
            return {}
        out: dict[str, dict] = {}
        for _, rec in read_records(self.path, strict=False):
            if rec.get("key"):
                out[rec["key"]] = rec
        return out

    def appender(self) -> JsonlAppender:
        """The single writer of this file."""
        return JsonlAppender(self.path)
