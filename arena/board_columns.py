"""The objective and serving columns of a run's leaderboard.{json,csv}, beside the ratings.

- Serving: the run's own `serving.json` (arena.perf.serving), per rated model: median/p95 latency and TTFT,
  median output tokens per second, error rate, requests and the concurrency they were measured at
  ("measured during answer generation at concurrency C"). Demo-backend rows stay empty (no model ran).
- Objective: the latest result of each bench task in the same workspace (`WORKSPACE/bench/<model>.json`, which
  `arena bench` and `arena bench import` merge task by task): value, standard error, n, date and the bench run.
  Demo-backend figures (placeholder text or log-probabilities) stay empty in the CSV, marked `demo` in the
  JSON.

CSV: the rating columns come first, unchanged, then `serving:<figure>` and `bench:<task>:<metric>` (value),
`bench:<task>:<metric>:se` and `bench:<task>:<metric>:n`; one row per rated model. JSON: the rating sections are
unchanged; `serving` and `objective` sections carry the same numbers with their metadata (dates, runs, notes),
and models that have objective scores but no rating are listed there (`"rated": false`).
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from arena.bench.lmeval import column_metric
from arena.bench.results import now, read_result, score_rows, valid_score
from arena.records import write_text_atomic

BENCH = "bench:"
SERVING = "serving:"
SERVING_FIGURES = ("concurrency", "requests", "latency_p50_s", "latency_p95_s", "ttft_p50_s", "ttft_p95_s",
                   "output_tok_s_p50", "error_rate")
COUNTS = ("tokens", "words", "bytes", "windows", "documents")  # perplexity sizes, not metrics


def workspace_of(run_path: Path) -> Path | None:
    """The workspace a run folder belongs to (WORKSPACE/runs/<id>), None for a folder elsewhere."""
    run_path = Path(run_path)
    if run_path.parent.name == "runs" and (run_path / "run.json").is_file():
        return run_path.parent.parent
    return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _number(value: Any) -> float | int | None:
    return value if valid_score(value) else None


def serving_section(run_path: Path) -> dict[str, Any] | None:
    """The run's serving figures per model (None when the run has no serving.json)."""
    doc = _read_json(Path(run_path) / "serving.json")
    if not doc or not isinstance(doc.get("models"), list):
        return None
    models: dict[str, Any] = {}
    levels: set[int] = set()
    for row in doc["models"]:
        if not isinstance(row, dict) or not row.get("model"):
            continue
        note = str(row.get("note") or "")
        demo = "DEMO" in note or "demo" in str(row.get("backend") or "").split("/")
        figures = {k: (None if demo else _number(row.get(k))) for k in SERVING_FIGURES}
        if isinstance(row.get("concurrency"), int):
            levels.add(row["concurrency"])
        models[str(row["model"])] = {**figures, "backend": row.get("backend"), "runs": row.get("runs") or [],
                                     "note": note, **({"demo": True} if demo else {})}
    shown = "/".join(map(str, sorted(levels))) or "C (see each model's note)"
    return {"source": f"runs/{doc.get('run_id', Path(run_path).name)}/serving.json (answer records)",
            "note": f"measured during answer generation at concurrency {shown}; demo-backend rows are empty "
                    "(no model ran)",
            "models": models}


def _task_entry(row: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """One task of one model: the headline metric with its standard error, n, date and origin, and the task's
    other metrics (e.g. BLEU and chrF beside the headline ROUGE-L)."""
    task = row["task"]
    src = (data.get("sources") or {}).get(task)
    src = src if isinstance(src, dict) else {}
    # lm-eval files imported before metric names lost the filter's comma ('acc,none') get the same column
    metric = column_metric(row["metric"]) if src.get("source") == "lm-eval" else row["metric"]
    entry: dict[str, Any] = {"metric": metric, "higher_is_better": row["higher_is_better"],
                             "value": row["value"], "stderr": row["stderr"], "n": row["n"], "date": row["updated"],
                             "run_id": src.get("run_id"), "source": src.get("source"), "missing": row["missing"]}
    for key in ("unscored", "demo", "limit", "kept"):
        if src.get(key):
            entry[key] = src[key]
    metrics = (data.get("metrics") or {}).get(task)
    if isinstance(metrics, dict):
        other = {m: v for m, v in metrics.items() if m != row["metric"] and not m.endswith("_stderr")
                 and m not in COUNTS and valid_score(v)}
        if other:
            entry["metrics"] = other
            errors = {m: metrics[f"{m}_stderr"] for m in other if valid_score(metrics.get(f"{m}_stderr"))}
            if errors:
                entry["metrics_stderr"] = errors
    return entry


def objective_section(workspace: Path, rated: list[str]) -> dict[str, Any] | None:
    """Every model's latest objective scores in the workspace (None when it has none)."""
    folder = Path(workspace) / "bench"
    if not folder.is_dir():
        return None
    models: dict[str, Any] = {}
    for path in sorted(folder.glob("*.json")):
        data = read_result(path) if not path.name.startswith(".") else {}
        if not isinstance(data.get("scores"), dict):
            continue
        data = {**data, "model": str(data.get("model") or path.stem)}
        tasks = {row["task"]: _task_entry(row, data) for row in score_rows(data, breakdown=False)}
        if tasks:
            models[data["model"]] = {"rated": data["model"] in rated, "file": f"bench/{path.name}", "tasks": tasks}
    if not models:
        return None
    return {"source": "WORKSPACE/bench/<model>.json: the latest result of each task (arena bench, bench import)",
            "filled": now(), "models": models,
            "benchmark_only": sorted(m for m, v in models.items() if not v["rated"]),
            "columns": objective_columns(models, rated)}


def objective_columns(models: dict[str, Any], rated: list[str]) -> dict[str, dict[str, str]]:
    """The CSV columns of the rated models' objective scores: name -> {task, metric, field}, task by task."""
    cols: dict[str, dict[str, str]] = {}
    tasks = sorted({t for m in rated if m in models for t in models[m]["tasks"]})
    for task in tasks:
        entries = [models[m]["tasks"][task] for m in rated if m in models and task in models[m]["tasks"]]
        for metric in sorted({e["metric"] for e in entries}):
            for field, suffix in (("value", ""), ("stderr", ":se"), ("n", ":n")):
                cols[f"{BENCH}{task}:{metric}{suffix}"] = {"task": task, "metric": metric, "field": field}
        for metric in sorted({m for e in entries for m in e.get("metrics", {})}):
            cols[f"{BENCH}{task}:{metric}"] = {"task": task, "metric": metric, "field": "value"}
            if any(metric in e.get("metrics_stderr", {}) for e in entries):
                cols[f"{BENCH}{task}:{metric}:se"] = {"task": task, "metric": metric, "field": "stderr"}
    return cols


def _objective_cell(entry: dict[str, Any] | None, spec: dict[str, str]) -> Any:
    """One CSV cell; empty for a demo-backend figure (placeholder text or log-probabilities: no model ran),
    whose value stays in leaderboard.json marked `demo`, as the serving columns leave demo rows empty."""
    if entry is None or entry.get("demo"):
        return None
    if entry["metric"] == spec["metric"]:
        return entry.get(spec["field"])
    key = "metrics" if spec["field"] == "value" else "metrics_stderr"
    return (entry.get(key) or {}).get(spec["metric"])


def extra_columns(extras: dict[str, Any], models: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The serving and objective CSV columns and each rated model's cells (None: empty)."""
    serving, objective = extras.get("serving"), extras.get("objective")
    names: list[str] = []
    cells: dict[str, dict[str, Any]] = {m: {} for m in models}
    if serving:
        names += [SERVING + f for f in SERVING_FIGURES]
        for m in models:
            row = serving["models"].get(m) or {}
            cells[m].update({SERVING + f: row.get(f) for f in SERVING_FIGURES})
    if objective:
        cols = objective["columns"]
        names += list(cols)
        for m in models:
            tasks = (objective["models"].get(m) or {}).get("tasks") or {}
            cells[m].update({c: _objective_cell(tasks.get(spec["task"]), spec) for c, spec in cols.items()})
    return names, cells


def board_extras(run_path: Path | None, workspace: Path | None, rated: list[str]) -> dict[str, Any]:
    """The `serving` and `objective` sections for a leaderboard of `rated` models (absent ones left out)."""
    out: dict[str, Any] = {}
    if run_path is not None and (serving := serving_section(run_path)):
        out["serving"] = serving
    if workspace is not None and (objective := objective_section(workspace, rated)):
        out["objective"] = objective
    return out


def run_extras(path: Path, rated: list[str]) -> dict[str, Any]:
    """The extra sections for `arena rate PATH`: when PATH is a run folder, its serving figures and its
    workspace's objective scores; nothing for a battles file."""
    path = Path(path)
    if not (path.is_dir() and (path / "run.json").is_file()):
        return {}
    return board_extras(path, workspace_of(path), rated)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def with_extra_columns(base_csv: str, extras: dict[str, Any]) -> str:
    """The leaderboard CSV with its extra columns replaced: the rating columns as they were (text untouched),
    then the serving and objective columns of each row's model."""
    rows = list(csv.reader(io.StringIO(base_csv)))
    if not rows:
        return base_csv
    keep = [i for i, name in enumerate(rows[0]) if not name.startswith((BENCH, SERVING))]
    at = rows[0].index("model") if "model" in rows[0] else 0
    names, cells = extra_columns(extras, [r[at] for r in rows[1:] if len(r) > at])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([rows[0][i] for i in keep] + names)
    for r in rows[1:]:
        mine = cells.get(r[at], {}) if len(r) > at else {}
        writer.writerow([r[i] if i < len(r) else "" for i in keep] + [_cell(mine.get(n)) for n in names])
    return buf.getvalue()


def rated_models(report: dict[str, Any]) -> list[str]:
    """The models of a leaderboard report's overall table, best first."""
    table = (report.get("overall") or report).get("table") or []
    return [str(r["model"]) for r in table if isinstance(r, dict) and "model" in r]


def attach(report: dict[str, Any], run_path: Path | None, workspace: Path | None) -> dict[str, Any]:
    """The report with fresh `serving` and `objective` sections (stale ones dropped)."""
    out = {k: v for k, v in report.items() if k not in ("serving", "objective")}
    out.update(board_extras(run_path, workspace, rated_models(report)))
    return out


def refresh_board(run_path: Path, workspace: Path | None = None) -> bool:
    """Rewrite a run's leaderboard.{json,csv} with the current serving and objective columns; False when the
    run has no readable leaderboard.json. The rating numbers are not refitted."""
    run_path = Path(run_path)
    report = _read_json(run_path / "leaderboard.json")
    if report is None:
        return False
    report = attach(report, run_path, workspace if workspace is not None else workspace_of(run_path))
    write_text_atomic(run_path / "leaderboard.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    if (run_path / "leaderboard.csv").is_file():
        base = (run_path / "leaderboard.csv").read_text(encoding="utf-8")
        write_text_atomic(run_path / "leaderboard.csv", with_extra_columns(base, report))
    return True


def latest_board(workspace: Path) -> Path | None:
    """The newest run folder of a workspace with a leaderboard.json."""
    from arena.store import Workspace

    boards = [r.path for r in Workspace(workspace).runs() if (r.path / "leaderboard.json").is_file()]
    return boards[-1] if boards else None


def _short(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"


def extras_table(report: dict[str, Any], top: int = 20) -> str:
    """A compact terminal view of a leaderboard's extra columns, models in board order: median latency, TTFT,
    output tokens/s and error rate; each task's headline metric (standard errors, n, dates: in the files)."""
    serving, objective = report.get("serving"), report.get("objective")
    models = rated_models(report)[:top]
    if not models or not (serving or objective):
        return ""
    head, rows = ["model"], [[m] for m in models]
    notes = []
    if serving:
        head += ["lat p50 s", "TTFT p50 s", "out tok/s", "err %"]
        for row, m in zip(rows, models):
            s = serving["models"].get(m) or {}
            rate = s.get("error_rate")
            row += [_short(s.get("latency_p50_s")), _short(s.get("ttft_p50_s")), _short(s.get("output_tok_s_p50"), 1),
                    "-" if rate is None else f"{100 * rate:.1f}"]
        notes.append(f"serving: {serving['note']}")
    if objective:
        tasks = sorted({c["task"]: c for c in objective["columns"].values()})
        for task in tasks:
            entries = {m: ((objective["models"].get(m) or {}).get("tasks") or {}).get(task) for m in models}
            known = [e for e in entries.values() if e]
            lower = bool(known) and not known[0]["higher_is_better"]
            head.append(f"{task} [{known[0]['metric'] if known else ''}]" + ("*" if lower else ""))
            for row, m in zip(rows, models):
                e = entries[m]
                row.append("unscored" if e and e.get("unscored") else "demo" if e and e.get("demo") else
                           _short(e["value"] if e else None, 4) + ("~" if e and e.get("limit") else "")
                           + ("^" if e and e.get("kept") else ""))
        dates = sorted({e["date"] for v in objective["models"].values() for e in v["tasks"].values() if e["date"]})
        span = f"{dates[0]} .. {dates[-1]}" if len(dates) > 1 else (dates[0] if dates else "undated")
        notes.append(f"objective: latest arena bench results in this workspace, scored {span}; "
                     "standard errors, n, dates and bench runs in leaderboard.json / .csv")
        if any(not c.get("higher_is_better", True) for v in objective["models"].values()
               for c in v["tasks"].values()):
            notes.append("*: lower is better")
        if any(c.get("limit") for v in objective["models"].values() for c in v["tasks"].values()):
            notes.append("~: scored on the first items of the task only (--limit or the task's limit)")
        if any(c.get("kept") for v in objective["models"].values() for c in v["tasks"].values()):
            notes.append("^: kept from an earlier run; the latest run scored no item (why: `kept` in "
                         "leaderboard.json)")
        shown = [(objective["models"].get(m) or {}).get("tasks") or {} for m in models]
        if any(c.get("demo") for tasks in shown for c in tasks.values()):
            notes.append("demo: placeholder figures of the offline demo backend (no model ran): empty in "
                         "leaderboard.csv, in leaderboard.json marked demo")
        if objective["benchmark_only"]:
            notes.append(f"benchmark only (no rating): {', '.join(objective['benchmark_only'])}")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["", "leaderboard extras (same order as the leaderboard):",
             "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
              for r in rows]
    return "\n".join(lines + [f"  {n}" for n in notes])


def board_report(run_path: Path, top: int = 20) -> str:
    """extras_table of a run's leaderboard.json ('' when it has none or no extra columns)."""
    report = _read_json(Path(run_path) / "leaderboard.json")
    return extras_table(report, top) if report else ""
