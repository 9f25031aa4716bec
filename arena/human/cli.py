"""`arena human battles|import-mtbench` and `arena agreement` (register() plugs them into the arena CLI)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, DataError
from arena.human.agreement import LABELS, agreement, agreement_rows
from arena.human.battles import human_battles, pooled_battles, run_battles
from arena.human.grade_agreement import grade_agreement, grade_rows
from arena.human.mtbench import import_mtbench
from arena.human.items import battle_key, grade_key
from arena.human.votes import VOTES_FILE, VoteLog, check_voter, load_log_file, votes_path
from arena.records import iter_jsonl


def resolve_run(path: Path) -> tuple[Path, str, Path]:
    """(workspace, run id, run folder) from a run folder, or a workspace (its latest run with battles)."""
    path = Path(path)
    if (path / "run.json").is_file():
        return path.resolve().parent.parent, path.name, path
    judged = ("battles.jsonl", "scores.jsonl")
    runs = sorted(p for p in (path / "runs").glob("*") if any((p / f).is_file() for f in judged)) if path.is_dir() else []
    if runs:
        return path.resolve(), runs[-1].name, runs[-1]
    raise DataError(f"{path}: not a run folder (no run.json) nor a workspace with judged runs",
                    hint="pass WORKSPACE/runs/<run>")


def _votes(args: argparse.Namespace, workspace: Path, run_id: str) -> VoteLog:
    """The vote log named by --votes, else WORKSPACE/human/<run>/votes.jsonl; bad records are skipped with a
    warning on stderr naming file:line and field (the rest is used)."""
    path = args.votes or votes_path(workspace, run_id)
    if not Path(path).is_file():
        raise DataError(f"{path}: nobody has voted on run {run_id} yet",
                        hint="vote on the app's Vote page (arena viz), or import with arena human import-mtbench")
    log = load_log_file(path)
    for problem in log.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if log.problems:
        print(f"warning: {len(log.problems)} bad record(s) skipped in {path}; the other "
              f"{len(log.records)} are used", file=sys.stderr)
    return log


# A workspace's data folders (what runs, the app, arena bench and arena perf write) and its lock files: -o may
# write into none of them, whichever run or workspace they belong to.
DATA_DIRS = {"runs": "the runs' files", "answers": "the answer cache shared by all runs",
             "judgments": "the judgment cache shared by all runs", "human": "the vote logs",
             "bench": "the benchmark results", "perf": "the perf results",
             "logprobs": "the log-probability cache"}
WORKSPACE_FILES = (".arena.lock", ".arena.lock.json")
_OUTPUT_HINT = ("write to a new file outside the workspace's data folders (runs/, answers/, judgments/, "
                "human/, bench/, perf/, logprobs/), e.g. -o human.jsonl")


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or below it (both resolved)."""
    return path == folder or folder in path.parents


def _data_folder(target: Path, workspace: Path) -> tuple[Path, Path, str] | None:
    """(workspace, folder, name) of the data folder holding `target` (resolved): the run's workspace, or any
    folder that is a workspace (it has the workspace lock file)."""
    roots = [workspace, *(a for a in target.parents if (a / WORKSPACE_FILES[0]).is_file())]
    for root in roots:
        for name in DATA_DIRS:
            if _inside(target, root / name):
                return root, root / name, name
    return None


def _same_file_in(target: Path, folders: list[Path], files: list[Path]) -> Path | None:
    """A protected file that `target` (an existing file with more than one hard link) is the same file as."""
    key = (target.stat().st_dev, target.stat().st_ino)
    candidates = [*files, *(Path(d) / f for folder in folders if folder.is_dir()
                            for d, _, names in os.walk(folder) for f in names)]
    for path in candidates:
        try:
            st = path.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == key:
            return path
    return None


def _what(path: Path, workspace: Path, run_dir: Path, logs: set[Path]) -> str:
    """What writing `path` (resolved) would do, in words: `overwrite <what it would destroy>`, or for a file
    directly in a runs folder (which holds run folders only) `write <name> into the runs folder`."""
    if path in logs or path.name == VOTES_FILE:
        return "overwrite the vote log (append-only)"
    if path.name in WORKSPACE_FILES:
        return f"overwrite the workspace lock ({path.name})"
    if path == run_dir or run_dir in path.parents:
        return f"overwrite the run's {path.name}"
    found = _data_folder(path, workspace)
    if found is None:
        return f"overwrite {path.name} beside the vote log"
    root, folder, name = found
    where = "" if root == workspace else f" of workspace {root}"
    if name == "runs" and path != folder:
        parts = path.relative_to(folder).parts
        if len(parts) > 1 or path.is_dir():
            return f"overwrite a file of run {parts[0]}"
        verb = f"overwrite {path.name} in" if path.exists() else f"write {path.name} into"
        return f"{verb} the runs folder{where} (runs/ holds run folders only)"
    return f"overwrite {DATA_DIRS[name]}{where} ({name}/)" if name != "runs" else \
        f"overwrite the runs folder{where}"


def _guard_output(output: Path | None, workspace: Path, run_id: str, run_dir: Path, votes: Path | None) -> None:
    """Refuse an -o that would write into a workspace data folder (any run's files, the answer and judgment
    caches, vote logs, bench and perf results), the workspace lock, the vote log or its folder; real paths are
    compared, so a symlink or a hard link to such a file is refused too (exit 2, nothing written)."""
    if output is None:
        return
    workspace, run_dir = Path(workspace).resolve(), Path(run_dir).resolve()
    logs = {Path(votes_path(workspace, run_id)).resolve(), *([Path(votes).resolve()] if votes else [])}
    folders = [*(workspace / name for name in DATA_DIRS), run_dir]
    beside_logs = [f.resolve() for folder in {p.parent for p in logs} if folder.is_dir()
                   for f in folder.iterdir() if f.is_file()]  # e.g. the log's lock file
    kept = [*logs, *(workspace / name for name in WORKSPACE_FILES), *beside_logs]
    target = output.resolve()
    hit: Path | None = next((p for p in kept if p == target), None)
    if hit is None and (_data_folder(target, workspace) or any(_inside(target, f) for f in folders)):
        hit = target
    if hit is None and target.is_file() and target.stat().st_nlink > 1:
        hit = _same_file_in(target, folders, kept)
    if hit is not None:
        what = _what(hit, workspace, run_dir, logs)
        raise DataError(f"{output}: -o would {what}", hint=_OUTPUT_HINT)


def _check_matches(log: VoteLog, run_dir: Path, run_id: str, path: Path, kind: str) -> None:
    """A vote log given with --votes must hold this run's kind of record (votes or grades) on its items."""
    records = log.active(kind)
    other = log.active("grade" if kind == "vote" else "vote")
    noun = {"vote": "pairwise votes", "grade": "1-10 grades"}
    if not records and other:
        raise DataError(f"{path}: holds {noun['grade' if kind == 'vote' else 'vote']}, not {noun[kind]}, "
                        f"so it does not match run {run_id}", hint="pass this run's vote log with --votes")
    if kind == "vote":
        keys = {battle_key(b.get("question_id"), b.get("turn"), b.get("model_a"), b.get("model_b"))
                for b in run_battles(run_dir)}
    else:
        keys = {grade_key(r.get("question_id"), r.get("turn"), r.get("model"))
                for _, r in iter_jsonl(run_dir / "scores.jsonl")}
    matched = sum(str(r.get("battle")) in keys for r in records)
    if records and not matched:
        raise DataError(f"{path}: none of its {len(records)} {noun[kind]} is on an item of run {run_id}, so it "
                        "does not match the run",
                        hint="pass the vote log of this run (WORKSPACE/human/<run>/votes.jsonl)")
    if matched < len(records):
        print(f"warning: {len(records) - matched} of {len(records)} {noun[kind]} in {path} are not on items of "
              f"run {run_id}", file=sys.stderr)


def _write(text: str, output: Path | None) -> None:
    """Text to -o FILE or stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ArenaError(f"{output}: cannot write ({exc.strerror})", hint="-o takes a file path") from None


def cmd_battles(args: argparse.Namespace) -> int:
    """`arena human battles RUN`: the human votes as battles (judge 'human'), optionally pooled."""
    workspace, run_id, run_dir = resolve_run(args.run)
    _guard_output(args.output, workspace, run_id, run_dir, args.votes)
    log = _votes(args, workspace, run_id)
    if args.votes and (args.pool or (run_dir / "battles.jsonl").is_file()):
        _check_matches(log, run_dir, run_id, args.votes, "vote")
    voter = check_voter(args.voter) if args.voter is not None else None
    human = human_battles(log, voter)
    if not human and (voter or not args.pool):
        raise DataError(f"run {run_id}: no active pairwise votes" + (f" by {voter}" if voter else ""),
                        hint="vote first, or check withdrawn votes" + ("; check the --voter name" if voter else ""))
    rows = pooled_battles(run_dir, log, voter) if args.pool else human
    _write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), args.output)
    print(f"{len(rows)} battles ({'LLM judge and human pooled' if args.pool else 'human'}) from run {run_id}; "
          f"rate them with: arena rate {args.output or 'FILE'}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """`arena human import-mtbench FILE RUN`: published MT-bench human judgments become the run's votes."""
    workspace, run_id, _ = resolve_run(args.run)
    added, present, llm = import_mtbench(args.file, workspace, run_id, args.include_llm)
    skipped = (f"; {llm} LLM-judge row(s) skipped (judge not named like author_N or expert_N; "
               "--include-llm imports them)") if llm else ""
    what = "judgment(s), human and LLM judges (--include-llm)," if args.include_llm else "human judgment(s)"
    print(f"{added} {what} added to {votes_path(workspace, run_id)}"
          + (f"; {present} already there" if present else "") + skipped)
    return 0


def _fmt(value: Any) -> str:
    """A table cell: 3 decimals for floats, n/a for None."""
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    """Rows as aligned text lines, header first."""
    head = list(rows[0])
    widths = [max(len(h), *(len(_fmt(r[h])) for r in rows)) for h in head]
    return ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
            *("  ".join(_fmt(r[h]).ljust(w) for h, w in zip(head, widths)) for r in rows)]


def format_agreement(result: dict[str, Any]) -> str:
    """Readable agreement tables: per judge (and human-human), confusion matrices, categories."""
    lines = [f"{result['n_votes']} human vote(s) by {result['n_voters']} voter(s) on {result['n_items_voted']} item(s)",
             *_table(agreement_rows(result))]
    for judge, rep in result["judges"].items():
        lines.append(f"\nconfusion {judge} (rows) vs human (columns); first/second = the model first/second by name")
        lines.append("        " + "".join(label.rjust(8) for label in LABELS))
        for label, counts in zip(LABELS, rep["confusion"]["matrix"]):
            lines.append(label.ljust(8) + "".join(str(c).rjust(8) for c in counts))
        for cat, stats in rep["categories"].items():
            w, wo = stats["with_ties"], stats["without_ties"]
            lines.append(f"  {cat}: {_fmt(w['agreement'])} (n={w['n']}) with ties, "
                         f"{_fmt(wo['agreement'])} (n={wo['n']}) without")
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def format_grades(result: dict[str, Any]) -> str:
    """Readable single-mode agreement: judge score vs human grade per judge, and human vs human."""
    intro = (f"{result['n_grades']} human grade(s) by {result['n_voters']} voter(s) on "
             f"{result['n_items_graded']} answer(s)")
    return "\n".join([intro, *_table(grade_rows(result))]) + "\n"


def cmd_agreement(args: argparse.Namespace) -> int:
    """`arena agreement RUN`: each LLM judge against the human votes (or grades), and humans against each other."""
    workspace, run_id, run_dir = resolve_run(args.run)
    _guard_output(args.output, workspace, run_id, run_dir, args.votes)
    log = _votes(args, workspace, run_id)
    single = not (run_dir / "battles.jsonl").is_file() and (run_dir / "scores.jsonl").is_file()
    if args.votes:
        _check_matches(log, run_dir, run_id, args.votes, "grade" if single else "vote")
    if single:
        scores = [rec for _, rec in iter_jsonl(run_dir / "scores.jsonl")]
        result = grade_agreement(scores, log.active("grade"))
        rows, table = grade_rows(result), format_grades
    else:
        result = agreement(run_battles(run_dir), log.active("vote"))
        rows, table = agreement_rows(result), format_agreement
    if args.format == "json":
        text = json.dumps({"run": run_id, **result}, indent=2) + "\n"
    else:
        text = _csv(rows) if args.format == "csv" else table(result)
    _write(text, args.output)
    return 0


def register(subparsers: Any) -> None:
    """Add `human` (battles, import-mtbench) and `agreement` to an argparse subparsers object."""
    human = subparsers.add_parser("human", help="human votes of a run: as battles, or import MT-bench's")
    sub = human.add_subparsers(dest="human_command", metavar="ACTION", required=True)
    battles = sub.add_parser("battles", help="human votes as battles (judge 'human') for arena rate")
    battles.add_argument("run", type=Path, metavar="RUN", help="run folder (WORKSPACE/runs/<run>)")
    battles.add_argument("--pool", action="store_true", help="also include the run's LLM-judge battles")
    battles.add_argument("--voter", help="only this voter's votes (with --pool: the LLM judge's and this voter's)")
    battles.add_argument("--votes", type=Path, help="vote log (default WORKSPACE/human/<run>/votes.jsonl)")
    battles.add_argument("-o", "--output", type=Path, metavar="FILE", help="write JSONL to FILE instead of stdout")
    battles.set_defaults(func=cmd_battles)
    imp = sub.add_parser("import-mtbench", help="add MT-bench's published human judgments to a run's votes")
    imp.add_argument("file", type=Path, metavar="FILE", help="mt_bench_human_judgments as JSONL or JSON")
    imp.add_argument("run", type=Path, metavar="RUN", help="run folder whose battles they judge")
    imp.add_argument("--include-llm", action="store_true",
                     help="also import LLM-judge rows (judge not named author_N or expert_N)")
    imp.set_defaults(func=cmd_import)
    agree = subparsers.add_parser("agreement", help="judge-human agreement of a run (MT-bench style)")
    agree.add_argument("run", type=Path, metavar="RUN", help="run folder (WORKSPACE/runs/<run>)")
    agree.add_argument("--votes", type=Path, help="vote log (default WORKSPACE/human/<run>/votes.jsonl)")
    agree.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")
    agree.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    agree.set_defaults(func=cmd_agreement)
