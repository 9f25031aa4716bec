"""Load-test files in WORKSPACE/perf/: `<id>.json` (settings, target, every level's figures), `<id>.csv`
(one row a level) and `<id>.requests.jsonl` (one line a measured request). The JSON and CSV are rewritten
atomically after each level, the requests appended, so an interrupted test keeps every finished level."""
from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path
from typing import Any

from arena import __version__
from arena.perf.client import RequestResult
from arena.perf.metrics import flat_row
from arena.records import JsonlAppender, safe_filename, write_json_atomic, write_text_atomic

PERF_DIR = "perf"
KIND = "arena-perf"  # the "kind" of a results file (viz/page_perf.py reads these files)


def perf_dir(workspace: Path) -> Path:
    """WORKSPACE/perf."""
    return Path(workspace) / PERF_DIR

def new_perf_id(target_name: str) -> str:
    """A sortable id: UTC time plus the target's name (made unique in the folder)."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{safe_filename(target_name)}"


def machine() -> dict[str, Any]:
    """The load generator's machine: CPUs and load average (the figures depend on both)."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cpus": os.cpu_count(), "loadavg_at_start": load}


def request_record(label: str, res: RequestResult, t0: float) -> dict[str, Any]:
    """One measured request as a JSON line (times in seconds, relative to the level's start)."""
    return {"level": label, "ok": res.ok, "error": res.error, "detail": res.detail or None,
            "sent_at_s": round(res.start - t0, 6), "latency_s": round(res.latency, 6),
            "ttft_s": None if res.ttft is None else round(res.ttft, 6), "chunks": res.chunks,
            "prompt_tokens": res.prompt_tokens, "output_tokens": res.output_tokens,
            "mean_itl_s": round(sum(res.itl) / len(res.itl), 6) if res.itl else None,
            "finish_reason": res.finish_reason}


class PerfWriter:
    """Writes one load test's files as its levels finish."""

    def __init__(self, workspace: Path, target: dict[str, Any], settings: dict[str, Any]) -> None:
        folder = perf_dir(workspace)
        folder.mkdir(parents=True, exist_ok=True)
        base = new_perf_id(target["name"])
        perf_id, n = base, 1
        while (folder / f"{perf_id}.json").exists():
            n += 1
            perf_id = f"{base}-{n}"
        self.perf_id = perf_id
        self.json_path = folder / f"{perf_id}.json"
        self.csv_path = folder / f"{perf_id}.csv"
        self.requests_path = folder / f"{perf_id}.requests.jsonl"
        self.doc: dict[str, Any] = {
            "kind": KIND, "perf_id": perf_id, "arena_version": __version__, "status": "running",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "finished": None,
            "target": target, "settings": settings, "machine": machine(), "notes": [], "levels": []}
        self._save()

    def add_level(self, summary: dict[str, Any], results: list[RequestResult], t0: float) -> None:
        """Keep a finished (or interrupted) level: its requests, then the JSON and CSV."""
        with JsonlAppender(self.requests_path, fsync_every=0) as out:
            for res in results:
                out.append(request_record(summary["label"], res, t0))
        self.doc["levels"].append(summary)
        self._save()

    def note(self, text: str) -> None:
        """Add a note (e.g. how tokens were counted) to the results."""
        if text not in self.doc["notes"]:
            self.doc["notes"].append(text)

    def finish(self, status: str, reasons: list[str] | None = None) -> None:
        """Mark the test completed, partial, failed or interrupted (with the reasons when not completed)."""
        self.doc["status"] = status
        if reasons:
            self.doc["status_reasons"] = list(reasons)
        self.doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._save()

    def _save(self) -> None:
        write_json_atomic(self.json_path, self.doc)
        rows = [flat_row(level) for level in self.doc["levels"]]
        buf = io.StringIO()
        if rows:
            fields = ["perf_id", "target", "model", "kind", *rows[0]]
            writer = csv.DictWriter(buf, fieldnames=fields)
            writer.writeheader()
            t = self.doc["target"]
            for row in rows:
                writer.writerow({"perf_id": self.perf_id, "target": t["name"], "model": t["model"],
                                 "kind": t["kind"], **row})
        write_text_atomic(self.csv_path, buf.getvalue())
