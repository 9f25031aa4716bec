"""The judgment cache: `judgments/<judge>/<mode>.jsonl`, keyed by content; only successes are reused."""
from __future__ import annotations

from pathlib import Path

from arena.records import JsonlAppender, read_records

# baseline and pairwise games use the same prompts: each mode reads the other's file as well
_SHARED = {"pairwise": ("baseline",), "baseline": ("pairwise",), "single": ()}


class JudgmentStore:
    """Append-only judgment records of one judge and mode; the newest record of a key wins."""

    def __init__(self, root: Path, judge: str, mode: str) -> None:
        self.path = Path(root) / judge / f"{mode}.jsonl"
        self._also = [Path(root) / judge / f"{m}.jsonl" for m in _SHARED.get(mode, ())]

    def load(self) -> dict[str, dict]:
        """Latest record per key (failed and unparsed ones included, so they can be reported and retried);
        successful judgments of the same prompts made in the sibling mode count too."""
        out: dict[str, dict] = {}
        for other in self._also:
            if other.exists():
                out.update({r["key"]: r for _, r in read_records(other, strict=False)
                            if r.get("key") and r.get("status") == "ok"})
        if self.path.exists():
            for _, rec in read_records(self.path, strict=False):
                known_ok = out.get(rec.get("key"), {}).get("status") == "ok"
                if rec.get("key") and (rec.get("status") == "ok" or not known_ok):
                    out[rec["key"]] = rec
        return out

    def appender(self) -> JsonlAppender:
        """The single writer of this file."""
        return JsonlAppender(self.path, background_sync=True)
