"""arena-hard-auto files (v0.1 and 2025 layouts): questions, answers, 5-way judgments, battles files.

Judgments hold two games per question: game 1 shows the baseline as A, game 2 the model as A. v0.1
accepts the five canonical labels per game and drops a game with a null or other label (arena-hard's
show_result); the 2025 layout also reads `A<B`-style labels and drops both games when either is null.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.interop.chatbot_arena import read_battles
from arena.interop.common import (
    Bundle,
    FileReport,
    classify_files,
    judgment,
    need,
    question_id,
    select_judge,
    source_info,
    where,
)
from arena.interop.mtbench import read_answers
from arena.questions import load_questions
from arena.records import read_records
from judges.verdicts import FIVE_WAY_LABELS, Verdict, parse_verdict

TOOL = "arena-hard"
DEFAULT_BASELINE = "gpt-4-0314"
STRONG_WEIGHT = 3
ROLE_ORDER = ("questions", "answers", "judgments", "battles")


def file_role(path: Path, first: dict[str, Any]) -> str:
    """Role of an arena-hard file from its first record."""
    if "games" in first:
        return "judgments"
    if "winner" in first and "model_a" in first:
        return "battles"
    if "choices" in first or ("messages" in first and "uid" in first):
        return "answers"
    if "turns" in first or ("uid" in first and "prompt" in first):
        return "questions"
    raise DataError(f"{path}:1: not an arena-hard file (fields {sorted(first)})",
                    hint="expected questions (turns / uid+prompt), answers (choices / messages), "
                         "judgments (games) or battles (model_a, model_b, winner)")


def read_answers_2025(path: Path, bundle: Bundle, report: FileReport, tool: str = TOOL) -> None:
    """2025 answers: uid, model, messages [{role, content}] with assistant content {"answer": ...}, metadata.
    An exact repeat is dropped; another answer to the same uid replaces the earlier one (arena-hard keeps
    the last), with a note."""
    dups = bundle.dup_log("answers", "the later one kept (FastChat's and arena-hard's answer loaders keep the "
                                     "last answer of a question)")
    for line, rec in read_records(path):
        report.read += 1
        qid = question_id(rec, path, line, "uid")
        model = need(rec, "model", path, line, str)
        if dups.check((model, str(qid)), rec, path, line) == "exact":
            report.failed["exact duplicate"] += 1
            continue
        turns = []
        for i, m in enumerate(need(rec, "messages", path, line, list)):
            if not isinstance(m, dict) or m.get("role") != "assistant":
                continue
            content = m.get("content")
            content = content.get("answer") if isinstance(content, dict) else content
            if not isinstance(content, str):
                raise DataError(f"{where(path, line, f'messages[{i}].content')} must be text or {{'answer': text}}")
            turns.append(content)
        meta = source_info(tool, path, line, rec, {"uid", "model", "messages"})
        meta["messages"] = rec["messages"]
        bundle.add_answer(model, qid, turns, meta)
        report.ok += 1


def _verdict(score: Any, layout: str) -> Verdict | None:
    """A game's 5-way label as a Verdict (position terms), or None when null/malformed for this layout."""
    if not isinstance(score, str):
        return None
    if layout == "v0.1" and score not in FIVE_WAY_LABELS:
        return None
    return parse_verdict(f"[[{score}]]", "5way")


def _answer_metadata(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """An answer's arena-hard metadata: `conv_metadata` (v0.1) or `metadata` (2025), if recorded."""
    extra = (meta or {}).get("extra") or {}
    m = extra.get("conv_metadata") or extra.get("metadata")
    return m if isinstance(m, dict) else None


def answer_token_len(meta: dict[str, Any] | None) -> float | None:
    """An answer's length in tokens as arena-hard counts it (its avg_tokens): the first turn's `token_len`,
    else the `conv_metadata` / `metadata` token_len; None when the file recorded neither."""
    turns = (meta or {}).get("turn_meta") or [{}]
    value = turns[0].get("token_len") if isinstance(turns[0], dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        value = (_answer_metadata(meta) or {}).get("token_len")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _style(meta: dict[str, Any] | None) -> dict[str, float] | None:
    """token_len and markdown counts from an answer's conv_metadata / metadata."""
    m = _answer_metadata(meta)
    if not isinstance(m, dict) or not isinstance(m.get("token_len"), (int, float)):
        return None
    def total(d: Any) -> float | None:
        return sum(v for v in d.values() if isinstance(v, (int, float))) if isinstance(d, dict) else None

    return {"len": m["token_len"], "header": total(m.get("header_count")), "list": total(m.get("list_count")),
            "bold": total(m.get("bold_count"))}


def _add_metadata_style(bundle: Bundle, battle: dict[str, Any]) -> bool:
    """Battle style features from the answers' own metadata (arena-hard counts tokens with tiktoken and
    markdown outside code blocks); True when both answers had it. Arena's text counts fill the rest later."""
    if "question_id" not in battle:
        return False
    metas = [bundle.answers.get(battle[m], {}).get(str(battle["question_id"]), {}).get("meta")
             for m in ("model_a", "model_b")]
    sa, sb = _style(metas[0]), _style(metas[1])
    if not (sa and sb):
        return False
    for k in ("len", "header", "list", "bold"):
        if sa[k] is not None and sb[k] is not None:
            battle[f"{k}_a"], battle[f"{k}_b"] = sa[k], sb[k]
    return True


def read_judgments(path: Path, bundle: Bundle, report: FileReport, baseline: str,
                   baselines: Counter | None = None) -> None:
    """Judgment rows -> two judgment records each, and weighted battles against the row's baseline (2025 rows
    name theirs, per category; v0.1 rows use `baseline`). An exact repeat of a row is dropped; two different
    rows for one judge, model, question and baseline are both kept, as arena-hard's show_result counts every
    row, with a note. `baselines` counts the rows per (category, baseline)."""
    dups = bundle.dup_log("judgment rows", "both kept, as arena-hard's show_result counts every row")
    for line, rec in read_records(path):
        report.read += 1
        layout = "2025" if "uid" in rec else "v0.1"
        qid = question_id(rec, path, line, "uid" if layout == "2025" else "question_id")
        model = need(rec, "model", path, line, str)
        judge = need(rec, "judge", path, line, str)
        base = need(rec, "baseline", path, line, str) if "baseline" in rec else baseline
        games = need(rec, "games", path, line, list)
        if not 1 <= len(games) <= 2:
            raise DataError(f"{where(path, line, 'games')} must hold one or two games, got {len(games)}")
        if dups.check((judge, model, str(qid), base), rec, path, line) == "exact":
            report.failed["exact duplicate"] += 1
            continue
        category = rec.get("category") if isinstance(rec.get("category"), str) else bundle.category(qid)
        if baselines is not None:
            baselines[(category or "", base)] += 1
        pending = []
        for g, game in enumerate(games):
            if game is not None and not isinstance(game, dict):
                raise DataError(f"{where(path, line, f'games[{g}]')} must be an object or null")
            score = game.get("score") if game else None
            v = _verdict(score, layout)
            # game 1: baseline shown as A (= model_a); game 2: model shown as A (= model_b)
            a_side, b_side = ("model_a", "model_b") if g == 0 else ("model_b", "model_a")
            winner = None if v is None else {"A": a_side, "B": b_side, "tie": "tie"}[v.winner]
            text = game.get("judgment") if game else None
            src = source_info(TOOL, path, line, rec, {"question_id", "uid", "model", "judge", "games", "baseline"})
            src.update({"game": g, "game_fields": {k: val for k, val in (game or {}).items() if k not in
                                                   ("judgment", "score")}, "layout": layout})
            j = judgment(judge=judge, mode="baseline", kind="5way", question_id=qid, turn=1, model_a=base,
                         model_b=model, order="AB" if g == 0 else "BA", status="ok" if v else "unparsed",
                         label=score if isinstance(score, str) else None, winner=winner,
                         raw=text.get("answer") if isinstance(text, dict) else text, category=category,
                         strength=v.strength if v else 1, error=None if v else f"verdict {score!r} not usable",
                         source=src)
            bundle.judgments.append(j)
            if v is None:
                report.failed["null verdict" if score is None else f"malformed verdict {score!r}"] += 1
                continue
            pending.append({"question_id": qid, "model_a": base, "model_b": model, "winner": winner,
                            "judge": judge, "category": category, "turn": 1,
                            "weight": STRONG_WEIGHT if v.is_strong else 1, "games": [j["key"]], "mode": "baseline"})
        if layout == "2025" and len(pending) < len(games):
            report.failed["pair dropped (other game unusable)"] += len(pending)
            continue
        report.ok += len(pending)
        for b in pending:
            _add_metadata_style(bundle, b)
        bundle.battles.extend(pending)


def read_files(paths: list[Path | str], bundle: Bundle, baseline: str | None = None, judge: str | None = None,
               **_: Any) -> Bundle:
    """Import arena-hard files of any role; questions and answers first, then judgments and battles.

    v2.0 (2025) judgments name a baseline per category (hard_prompt against o3-mini, creative_writing against
    gemini-2.0-flash): the baselines are kept per category in `bundle.baselines`, and the leaderboard shows
    one board per category against its own baseline."""
    files = classify_files(paths, file_role, ROLE_ORDER, notes=bundle.notes)
    judged_baselines = {f[2].get("baseline") for f in files if f[0] == "judgments"} - {None}
    bundle.baseline = baseline or (judged_baselines.pop() if len(judged_baselines) == 1 else DEFAULT_BASELINE)
    if baseline is None and not any(f[0] == "judgments" and "baseline" in f[2] for f in files):
        bundle.notes.append(f"baseline not recorded in v0.1 judgments; assumed {bundle.baseline!r} "
                            "(pass --baseline to change)")
    baselines: Counter = Counter()
    for role, path, first in files:
        report = bundle.file_report(path, role)
        if role == "questions":
            bundle.add_questions(load_questions(path, "arena-hard"), report)
        elif role == "answers":
            (read_answers_2025 if "messages" in first else read_answers)(path, bundle, report, TOOL)
        elif role == "judgments":
            read_judgments(path, bundle, report, bundle.baseline, baselines)
        else:
            start = len(bundle.battles)
            read_battles(path, bundle, report, TOOL)
            _style_battles_file(bundle, bundle.battles[start:], path)
    bundle.note_duplicates()
    select_judge(bundle, judge, "arena-hard's show_result (--judge-names)")
    _category_baselines(bundle, baselines, baseline)
    return bundle


def _category_baselines(bundle: Bundle, rows: Counter, asked: str | None) -> None:
    """Settle the run's baseline(s) from the judgment rows: one baseline for all, or one per category."""
    used: Counter = Counter()
    for (_cat, base), n in rows.items():
        used[base] += n
    if asked is not None and used and asked not in used:
        bundle.notes.append(f"--baseline {asked} not used: the judgments name their baseline(s): "
                            f"{', '.join(sorted(used))}")
    if len(used) <= 1:
        if used:
            bundle.baseline = next(iter(used))
        return
    per_cat: dict[str, Counter] = {}
    for (cat, base), n in rows.items():
        per_cat.setdefault(cat, Counter())[base] += n
    mixed = {c: sorted(b) for c, b in per_cat.items() if len(b) > 1}
    if mixed:
        cat, names = next(iter(sorted(mixed.items())))
        raise DataError(f"judgments of category {cat or '(none)'!r} name several baselines: {', '.join(names)}",
                        hint="import each baseline's judgments into its own run")
    bundle.baselines = {cat: next(iter(b)) for cat, b in sorted(per_cat.items())}
    bundle.baseline = used.most_common(1)[0][0]
    listing = "; ".join(f"{cat or '(none)'} vs {base} ({per_cat[cat][base]} judgment rows)"
                        for cat, base in bundle.baselines.items())
    bundle.notes.append(f"per-category baselines (arena-hard v2.0): {listing}; `arena leaderboard` shows one "
                        "board per category against its baseline (--category C for one); the run's Bradley-Terry "
                        f"leaderboard.json fits all battles together, scored against {bundle.baseline}")


def _style_battles_file(bundle: Bundle, battles: list[dict[str, Any]], path: Path) -> None:
    """Style features of a battles file's rows from the imported answers' conv_metadata, where the row
    carries none of its own (arena-hard computes style control with those counts, not the text's)."""
    bare = [b for b in battles if b.get("len_a") is None]
    used = sum(_add_metadata_style(bundle, b) for b in bare)
    if used:
        bundle.notes.append(f"{path}: style features of {used} battles from the answers' conv_metadata "
                            "(arena-hard's token and markdown counts)")
