"""The terminal view of a load test: a progress bar per level and one table row per level."""
from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

COLUMNS = [("level", 26), ("ok/sent", 11), ("fail", 5), ("req/s", 8), ("out tok/s", 10), ("TTFT p50/p99 ms", 16),
           ("TPOT p50 ms", 12), ("ITL p50/p99 ms", 15), ("E2E p50/p99 s", 14), ("in/out tok", 11)]


def progress_bar(label: str, total: int | None, duration_s: float | None, enabled: bool | None) -> tqdm:
    """A bar counting finished requests (total: N requests; a time-bound level shows a count only)."""
    # None: only on a terminal (tqdm's own rule), so `arena perf ... > file 2>&1` holds no bar updates
    return tqdm(total=total, desc=label, unit="req", leave=False, disable=None if enabled is None else not enabled,
                file=sys.stderr, dynamic_ncols=True, mininterval=0.2)


def _ms(dist: dict[str, Any] | None, *stats: str) -> str:
    vals = [(dist or {}).get(s) for s in stats]
    return "/".join("-" if v is None else f"{v * 1000:.1f}" for v in vals)


def _s(dist: dict[str, Any] | None, *stats: str) -> str:
    vals = [(dist or {}).get(s) for s in stats]
    return "/".join("-" if v is None else f"{v:.2f}" for v in vals)


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def level_row(level: dict[str, Any]) -> list[str]:
    """The table cells of one level."""
    label = level["label"] + (" (interrupted)" if level.get("interrupted") else "")
    tokens = f"{_num((level.get('input_tokens') or {}).get('mean'), '{:.0f}')}/" \
             f"{_num((level.get('output_tokens') or {}).get('mean'), '{:.0f}')}"
    return [label, f"{level['completed']}/{level['sent']}", str(level["failed"]),
            _num(level.get("request_throughput"), "{:.2f}"), _num(level.get("output_throughput")),
            _ms(level.get("ttft_s"), "p50", "p99"), _ms(level.get("tpot_s"), "p50"),
            _ms(level.get("itl_s"), "p50", "p99"), _s(level.get("e2e_latency_s"), "p50", "p99"), tokens]


def render_table(doc: dict[str, Any], folder: Any = "perf") -> str:
    """The whole test as text: what was tested, one row a level, errors by kind, notes."""
    lines = [f"arena perf: {doc['target']['label']}", f"results: {folder}/{doc['perf_id']}.json (.csv, .requests.jsonl)"]
    lines.append("  ".join(name.ljust(width) for name, width in COLUMNS))
    for level in doc["levels"]:
        cells = level_row(level)
        lines.append("  ".join(c.ljust(w) for c, (_, w) in zip(cells, COLUMNS)))
    for level in doc["levels"]:
        if level.get("errors"):
            kinds = ", ".join(f"{k} {n}" for k, n in level["errors"].items())
            first = next(iter(level.get("error_examples", {}).values()), "")
            lines.append(f"  {level['label']}: errors {kinds}; e.g. {first}")
        if level.get("repeated_prompts"):
            lines.append(f"  {level['label']}: {level['repeated_prompts']} of {level['sent']} measured "
                         "requests repeated an earlier prompt (a prefix cache may have answered them faster)")
        if level.get("tokens_source") not in ("usage", "none"):
            lines.append(f"  {level['label']}: token counts {level.get('tokens_source')} (the server sent no "
                         "usage: output = streamed chunks, input = characters / 4)")
    lines += [f"note: {n}" for n in doc.get("notes", [])]
    m = doc.get("machine") or {}
    lines.append(f"load generator: {m.get('cpus')} CPUs, load average at start {m.get('loadavg_at_start')}")
    return "\n".join(lines)
