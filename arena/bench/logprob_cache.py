"""The log-probability cache: WORKSPACE/logprobs/<model>.jsonl, one line per scored request.

A request (a context and continuation, or a window of token ids) is keyed by the candidate's identity (the
same identity the answer cache uses; for backend: transformers its folder and weight files) and the request
itself, so a re-run, or a run interrupted half way, sends only what was not scored before. Lines are appended
as results arrive (one writer per workspace: the bench run holds the workspace lock)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.config import DemoCandidate, TransformersCandidate
from arena.generation import model_identity, weights_fingerprint
from arena.records import JsonlAppender, content_hash, read_records, safe_filename


def identity(cand: Any) -> dict[str, Any] | None:
    """What makes a candidate's log-probabilities differ; None for the demo backend (nothing to save)."""
    if isinstance(cand, DemoCandidate):
        return None
    if isinstance(cand, TransformersCandidate):
        path = Path(cand.path).resolve()
        ident: dict[str, Any] = {"backend": "transformers", "path": str(path), "weights": weights_fingerprint(str(path)),
                                 "max_length": cand.max_length}
        if cand.revision:
            ident["revision"] = cand.revision
        return ident
    return model_identity(cand)


class LogprobCache:
    """Cached request results of one candidate, loaded at start, appended to as they arrive."""

    def __init__(self, workspace: Path, model: str, ident: dict[str, Any]) -> None:
        self.path = Path(workspace) / "logprobs" / f"{safe_filename(model)}.jsonl"
        self._ident = content_hash(ident)
        self.known: dict[str, Any] = {}
        if self.path.exists():
            for _, rec in read_records(self.path, strict=False):
                if isinstance(rec.get("key"), str) and "value" in rec:
                    self.known[rec["key"]] = rec["value"]  # the last line of a key wins (a re-read tokenization)
        self.hits = 0
        self.added = 0
        self.offline = False  # scoring with no server: tokenizations and the window size are read from here
        self._out: JsonlAppender | None = None

    def key(self, *request: Any) -> str:
        """The cache key of one request of this candidate."""
        return content_hash([self._ident, *request], length=32)

    def get(self, key: str) -> Any:
        """The cached value, or None."""
        value = self.known.get(key)
        if value is not None:
            self.hits += 1
        return value

    def put(self, key: str, value: Any, counted: bool = True, replace: bool = False) -> None:
        """Remember a value and append it to the cache file at once (`counted`: a scored request, reported as
        scored; a tokenization or the window size is not; `replace`: a changed value is written again and wins)."""
        if key in self.known and (not replace or self.known[key] == value):
            return
        self.known[key] = value
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = JsonlAppender(self.path, fsync_every=64)
        self._out.append({"key": key, "value": value})
        self.added += counted

    def close(self) -> None:
        """Flush and close the cache file."""
        if self._out is not None:
            self._out.close()
            self._out = None
