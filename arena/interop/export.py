"""`arena export RUN_DIR --format chatbot-arena|mt-bench|alpaca-eval`: a run's battles and answers in other tools' files.

Fields Arena kept from an imported source (`source.extra`) are written back, so importing an export
gives the same questions, answers, judgments and battles. Battle weights (strong verdicts) are written in
a `weight` field that `arena import` reads back (the tools themselves ignore it). What a format cannot hold
is left out with a note: Chatbot Arena battle logs carry no answers; FastChat pair files need both orders
of a pair and hold one battle per pair; AlpacaEval needs single-turn instructions against the baseline.
"""
from __future__ import annotations

import contextlib
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from arena.errors import ArenaError
from arena.interop.alpacaeval import dumps
from arena.interop.common import write_jsonl
from arena.interop.runfiles import RunFiles
from arena.records import safe_filename


def _extra(rec: dict[str, Any]) -> dict[str, Any]:
    """The source fields Arena kept for a record."""
    src = rec.get("source")
    return dict(src.get("extra") or {}) if isinstance(src, dict) else {}


def _ordered(rec: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Put keys in the source file's order when known (others after)."""
    if not fields:
        return rec
    head = {k: rec[k] for k in fields if k in rec}
    return {**head, **{k: v for k, v in rec.items() if k not in head}}


STYLE_METADATA = {"len": "sum_assistant_{}_tokens", "header": "header_count_{}", "list": "list_count_{}",
                  "bold": "bold_count_{}"}


def _clean_battle_row(b: dict[str, Any]) -> dict[str, Any]:
    """One battle as a Chatbot Arena row; Arena's weight, soft outcome and style ride in extra fields."""
    row = {k: b[k] for k in ("model_a", "model_b", "winner", "judge", "turn", "question_id", "category")
           if b.get(k) is not None}
    row["anony"] = True
    if b.get("weight", 1) != 1:
        row["weight"] = b["weight"]
    if b.get("prob_a") is not None:
        row["prob_a"] = b["prob_a"]
    meta = {key.format(side): b[f"{name}_{side}"] for name, key in STYLE_METADATA.items() for side in "ab"
            if b.get(f"{name}_{side}") is not None}
    if meta:
        row["conv_metadata"] = meta
    return row


def _number(value: Any) -> float | None:
    """A finite number as float, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _tstamps(battles: list[dict[str, Any]]) -> tuple[list[float], str | None]:
    """Each battle's `tstamp` (FastChat sorts battles by it before its online Elo, and `arena rate --method
    elo` plays them in its order when every battle has one) and a note on what the values are (None when
    every battle recorded its own, which are written as they are). Otherwise every row's tstamp is its
    position, 0, 1, 2, ...: the time order is then the battle order the run is rated in (judgment or vote
    times are out of that order, so they would change the online Elo ratings of the exported file)."""
    own = [_number(b.get("tstamp")) for b in battles]
    lacking = sum(t is None for t in own)
    if not lacking:
        return own, None  # type: ignore[return-value]
    timed = len(battles) - lacking
    return [float(i) for i in range(len(battles))], (
        f"{lacking} of {len(battles)} battles have no tstamp of their own: every row's tstamp is its "
        "position in battles.jsonl (0, 1, 2, ...), so FastChat's time order is the run's battle order "
        "(the order `arena rate --method elo` plays it in)"
        + (f"; the {timed} recorded tstamps are not written (some battles only: they cannot order the rest)"
           if timed else ""))


def chatbot_arena(run: RunFiles, out: Path) -> dict[str, int]:
    """clean_battle.json: one row per battle in the Chatbot Arena convention, weights in a `weight` field, and a
    `tstamp` on every row (FastChat's elo_analysis sorts by it)."""
    rows = []
    battles = run.records("battles.jsonl")
    stamps, stamp_note = _tstamps(battles)
    for b, stamp in zip(battles, stamps):
        src = b.get("source") if isinstance(b.get("source"), dict) else {}
        row = {k: b[k] for k in src["fields"] if k in b} if src.get("fields") else _clean_battle_row(b)
        if stamp_note is None:
            row.setdefault("tstamp", stamp)  # every battle has its own: an imported row keeps it as written
        else:
            row["tstamp"] = stamp
        rows.append(row)
    if not rows:
        raise ArenaError(f"{run.path}: no battles to export (battles.jsonl is missing or empty)",
                         hint="Chatbot Arena files hold battles; a run of single grades has none: export it with "
                              "--format mt-bench")
    weighted = sum(1 for r in rows if r.get("weight", 1) != 1)
    if weighted:
        print(f"note: {weighted} battles carry a `weight` field (strong verdicts): `arena import` reads it back; "
              "Chatbot Arena's own tools ignore it and count each battle once")
    if stamp_note:
        print(f"note: {stamp_note}")
    path = out / "clean_battle.json"
    path.write_text(dumps(rows), encoding="utf-8")
    return {str(path): len(rows)}


def _judge_field(j: dict[str, Any], default_template: str) -> list[str]:
    """FastChat's [judge model, prompt name] (the original list when kept)."""
    return _extra(j).get("judge") or [j["judge"], j.get("template") or default_template]


def _single_row(j: dict[str, Any]) -> dict[str, Any]:
    """A FastChat single-judgment line."""
    ex = _extra(j)
    row = {"question_id": j["question_id"], "model": j["model_a"], "judge": _judge_field(j, "single-v1"),
           "user_prompt": ex.get("user_prompt", ""), "judgment": j["raw"],
           "score": j["score"] if j["status"] == "ok" else -1, "turn": j["turn"], "tstamp": ex.get("tstamp")}
    fields = j["source"]["fields"] if isinstance(j.get("source"), dict) and j["source"].get("tool") == "mt-bench" else None
    return _ordered({**ex, **row}, fields)


def _game_winner(j: dict[str, Any]) -> str:
    """A game's winner in FastChat's terms."""
    if j["status"] != "ok" or j["winner"] is None:
        return "error"
    if j.get("label") == "inconsistent":
        return "inconsistent"
    return {"model_a": "model_1", "model_b": "model_2"}.get(j["winner"], "tie")


FASTCHAT_VERDICTS = ("model_1", "model_2", "tie")  # a game verdict that makes a battle when imported


def _pair_rows(judgments: list[dict[str, Any]], weights: dict[frozenset[str], Any],
               covered: set[frozenset[str]], rebuilt: Counter | None = None) -> tuple[list[dict[str, Any]], int]:
    """FastChat pair lines from judgments with both orders; returns rows and the number of unpaired games.

    `weights` maps a battle's two game keys to its weight (other than 1 it is written as `weight`); the game
    keys of every pair written are added to `covered`. `rebuilt` counts the rows that are not one of the run's
    battles ("rows": its battles are one per game, or none) and the strong verdicts in them ("strong"), which
    a pair row holds as plain wins.
    """
    games: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for j in judgments:
        if j["mode"] in ("pairwise", "baseline") and j["model_b"] is not None:
            games[(j["judge"], str(j["question_id"]), j["turn"], j["model_a"], j["model_b"])][j["order"]] = j
    rows, unpaired = [], 0
    for both in games.values():
        if set(both) != {"AB", "BA"}:
            unpaired += len(both)
            continue
        g1, g2 = both["AB"], both["BA"]
        e1, e2 = _extra(g1), _extra(g2)
        row = {**e1, **e2, "question_id": g1["question_id"], "model_1": g1["model_a"], "model_2": g1["model_b"],
               "g1_winner": _game_winner(g1), "g2_winner": _game_winner(g2), "judge": _judge_field(g1, "pair-v2"),
               "g1_user_prompt": e1.get("g1_user_prompt", ""), "g1_judgment": g1["raw"],
               "g2_user_prompt": e2.get("g2_user_prompt", ""), "g2_judgment": g2["raw"], "turn": g1["turn"],
               "tstamp": e1.get("tstamp")}
        covered.add(frozenset((g1["key"], g2["key"])))
        if rebuilt is not None and frozenset((g1["key"], g2["key"])) not in weights:
            rebuilt["rows"] += 1
            rebuilt["usable"] += row["g1_winner"] in FASTCHAT_VERDICTS and row["g2_winner"] in FASTCHAT_VERDICTS
            rebuilt["strong"] += sum(1 for g in (g1, g2) if g["status"] == "ok" and g.get("strength") == 2
                                     and g["winner"] in ("model_a", "model_b"))
        weight = weights.get(frozenset((g1["key"], g2["key"])), 1)
        if weight != 1:
            row["weight"] = weight
        src = g1.get("source") if isinstance(g1.get("source"), dict) else {}
        rows.append(_ordered(row, src.get("fields") if src.get("tool") == "mt-bench" else None))
    return rows, unpaired


def _source_question(q: dict[str, Any], ref_ids: set[str]) -> dict[str, Any]:
    """An imported question as its file held it: its own `reference` field (kept as `question_reference` when a
    reference answer was attached) and not the attached reference answer."""
    if "question_reference" in q:
        own = q["question_reference"]
    else:
        own = None if str(q["question_id"]) in ref_ids else q.get("reference")
    row: dict[str, Any] = {}
    for k, v in q.items():
        if k in ("reference", "question_reference"):
            continue
        row[k] = v
        if k == "turns" and own is not None:
            row["reference"] = own
    return row


def _reference_row(r: dict[str, Any]) -> dict[str, Any]:
    """A reference answer as FastChat's reference_answer/<model>.jsonl holds it (model_id and fields kept)."""
    src = r.get("source") if isinstance(r.get("source"), dict) else {}
    index = src.get("choice_index")
    row = {**(src.get("extra") or {}), "question_id": r["question_id"], "model_id": r["model_id"],
           "choices": [{"index": 0 if index is None else index, "turns": r["turns"]}]}
    return _ordered(row, src.get("fields"))


def mt_bench(run: RunFiles, out: Path) -> dict[str, int]:
    """question.jsonl, reference_answer/, model_answer/<model>.jsonl and model_judgment/<judge>_{single,pair}.jsonl."""
    written: dict[str, int] = {}
    questions = run.records("questions.jsonl")
    refs = run.records("reference_answers.jsonl")
    if questions and (refs or run.tool == "mt-bench"):  # imported: questions and references as they were read
        ref_ids = {str(r["question_id"]) for r in refs}
        p = out / "question.jsonl"
        written[str(p)] = write_jsonl(p, (_source_question(q, ref_ids) for q in questions))
    elif questions:  # a native run holds one reference per question, of unknown origin
        p = out / "question.jsonl"
        written[str(p)] = write_jsonl(p, ({k: v for k, v in q.items() if k != "reference"} for q in questions))
        refs_native = [q for q in questions if q.get("reference")]
        if refs_native:
            p = out / "reference_answer" / "reference.jsonl"
            written[str(p)] = write_jsonl(p, ({"question_id": q["question_id"], "model_id": "reference",
                                               "choices": [{"index": 0, "turns": q["reference"]}]}
                                              for q in refs_native))
    by_ref_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in refs:
        by_ref_model[r["model_id"]].append(_reference_row(r))
    for model, rows in by_ref_model.items():  # FastChat looks references up by file name: <model_id>.jsonl
        p = out / "reference_answer" / f"{safe_filename(model)}.jsonl"
        written[str(p)] = write_jsonl(p, rows)
    for model, by_q in sorted(run.answers().items()):
        rows = []
        for rec in by_q.values():
            ex = (rec.get("source") or {}).get("extra") or {}
            turns, thoughts = _judged(run, model, rec)
            row = {"question_id": rec["question_id"], "answer_id": ex.get("answer_id", rec["key"]),
                   "model_id": model, "choices": [{"index": 0, "turns": turns}], "tstamp": ex.get("tstamp")}
            if thoughts:
                row["reasoning"] = thoughts
            rows.append({**ex, **row})
        p = out / "model_answer" / f"{safe_filename(model)}.jsonl"
        written[str(p)] = write_jsonl(p, rows)
    judgments = run.records("judgments.jsonl")
    battles = run.records("battles.jsonl")
    weights = {frozenset(b["games"]): b.get("weight", 1) for b in battles if len(b.get("games") or ()) == 2}
    covered: set[frozenset[str]] = set()
    rebuilt: Counter = Counter()
    by_judge: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for j in judgments:
        by_judge[j["judge"]].append(j)
    for judge, js in sorted(by_judge.items()):
        single = [_single_row(j) for j in js if j["mode"] == "single"]
        if single:
            p = out / "model_judgment" / f"{safe_filename(judge)}_single.jsonl"
            written[str(p)] = write_jsonl(p, single)
        pairs, unpaired = _pair_rows(js, weights, covered, rebuilt)
        if pairs:
            p = out / "model_judgment" / f"{safe_filename(judge)}_pair.jsonl"
            written[str(p)] = write_jsonl(p, pairs)
        if unpaired:
            print(f"note: {unpaired} {judge} games judged in one order only were left out of the pair file")
    _note_lost_battles(battles, weights, covered, rebuilt)
    return written


def _note_lost_battles(battles: list[dict[str, Any]], weights: dict[frozenset[str], Any],
                       covered: set[frozenset[str]], rebuilt: Counter) -> None:
    """Say exactly what a FastChat pair file holds of the battles (one verdict per pair of games in both orders,
    no verdict strength) and what it lost, and that weights ride along."""
    lost = sum(1 for b in battles if frozenset(b.get("games") or ()) not in covered)
    if lost and rebuilt["rows"]:
        print(f"note: {lost} of {len(battles)} battles are not a pair of judgments in both orders (the run rated "
              f"each game, or one order only): the pair file holds instead {rebuilt['rows']} pair rows rebuilt from "
              f"the judgments in both orders, with their {rebuilt['strong']} strong verdicts (A>>B, B>>A) written as "
              f"plain wins (FastChat's pair format has no strength); importing this export gives "
              f"{rebuilt['usable'] + len(battles) - lost} battles, not these {len(battles)} (two games that "
              "disagree become one tie; a row with a failed game makes none); export --format chatbot-arena keeps "
              "every battle and its weight")
    elif lost:
        print(f"note: {lost} of {len(battles)} battles do not come from one pair of judgments in both orders "
              "(one order, orders rated separately, or no judgments): a FastChat pair file cannot hold them, "
              "so importing this export gives fewer battles")
    if any(w != 1 for w in weights.values() if w is not None):
        print("note: battle weights (strong verdicts) are written in a `weight` field: `arena import` reads it "
              "back; FastChat's own tools ignore it")


def _judged(run: RunFiles, model: str, rec: dict[str, Any]) -> tuple[list[str], list[str | None] | None]:
    """An answer record's turns as the run's judges read them, and the thoughts they did not read (one per
    turn, None where there was none; None when no turn had one): exported answers are the texts the exported
    judgments are about, and the thought rides along in a `reasoning` field that other tools ignore."""
    parts = run.split_answer(model, rec)
    thoughts = [p.thought for p in parts]
    return [p.answer for p in parts], thoughts if any(t is not None for t in thoughts) else None


def _output_row(run: RunFiles, q: dict[str, Any], rec: dict[str, Any], model: str) -> dict[str, Any]:
    """One model output in AlpacaEval's shape, with the source fields Arena kept (dataset, price, time ...)."""
    src = rec.get("source") if isinstance(rec.get("source"), dict) else {}
    turns, thoughts = _judged(run, model, rec)
    row = {"dataset": q.get("category"), **(src.get("extra") or {}), "instruction": q["turns"][0],
           "output": turns[0], "generator": model}
    if thoughts and thoughts[0] is not None:
        row["reasoning"] = thoughts[0]
    return _ordered(row, src.get("fields") if src.get("tool") == "alpaca-eval" else None)


def alpaca_eval(run: RunFiles, out: Path) -> dict[str, int]:
    """<model>/model_outputs.json, reference_outputs.json and <model>/annotations.json against the baseline."""
    baseline = run.baseline
    if not baseline:
        raise ArenaError(f"{run.path}: AlpacaEval export needs a run with a baseline (reference) model")
    questions = run.questions()
    written: dict[str, int] = {}
    annotations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    judgments = {j["key"]: j for j in run.records("judgments.jsonl")}
    skipped = 0
    for b in run.records("battles.jsonl"):
        if baseline not in (b["model_a"], b["model_b"]) or int(b.get("turn") or 1) != 1:
            skipped += 1
            continue
        q = questions.get(str(b.get("question_id")))
        cand = b["model_b"] if b["model_a"] == baseline else b["model_a"]
        texts = run.judged_text(baseline, b.get("question_id")), run.judged_text(cand, b.get("question_id"))
        if q is None or None in texts:
            skipped += 1
            continue
        s = b["prob_a"] if b.get("prob_a") is not None else {"model_a": 1.0, "model_b": 0.0}.get(b["winner"], 0.5)
        pref = 2.0 - s if b["model_a"] == baseline else 1.0 + s
        if b["model_a"] == baseline and isinstance(b.get("preference"), (int, float)):
            pref = b["preference"]  # the imported value exactly
        game = judgments.get((b.get("games") or [None])[0]) or {}
        src = game.get("source") if isinstance(game.get("source"), dict) else {}
        row = {**_extra(game), "instruction": q["turns"][0], "output_1": texts[0], "generator_1": baseline,
               "output_2": texts[1], "generator_2": cand, "annotator": b.get("judge"), "preference": pref}
        annotations[cand].append(_ordered(row, src.get("fields") if src.get("tool") == "alpaca-eval" else None))
    outputs: dict[str, list[dict[str, Any]]] = {}
    for model, by_q in run.answers().items():
        outputs[model] = [_output_row(run, questions[qid], rec, model)
                          for qid, rec in by_q.items() if qid in questions and rec.get("turns")]
    for model, rows in sorted(outputs.items()):
        p = out / "reference_outputs.json" if model == baseline else out / safe_filename(model) / "model_outputs.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(dumps(rows), encoding="utf-8")
        written[str(p)] = len(rows)
    for model, rows in sorted(annotations.items()):
        p = out / safe_filename(model) / "annotations.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(dumps(rows), encoding="utf-8")
        written[str(p)] = len(rows)
    if skipped:
        print(f"note: {skipped} battles not against the baseline, not turn 1, or without texts were left out")
    return written


EXPORTERS = {"chatbot-arena": chatbot_arena, "mt-bench": mt_bench, "alpaca-eval": alpaca_eval}


def export_run(run_path: Path | str, fmt: str, out: Path | str) -> dict[str, int]:
    """Write the run in `fmt` under `out`; returns {file: records written}."""
    if fmt not in EXPORTERS:
        raise ArenaError(f"unknown export format {fmt!r}", hint=f"use one of {', '.join(EXPORTERS)}")
    run = RunFiles.open(run_path)
    if fmt == "chatbot-arena" and not run.has("battles.jsonl"):
        raise ArenaError(f"{run.path}: no battles to export (no battles.jsonl: a run of single grades has none)",
                         hint="Chatbot Arena files hold battles; export single grades with --format mt-bench")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ArenaError(f"{out}: -o names an existing file, not a folder", hint="pass a folder to -o")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArenaError(f"{out}: cannot create the export folder ({exc.strerror})", hint="pass a folder to -o") from None
    written = EXPORTERS[fmt](run, out)
    if not any(written.values()):  # as a Chatbot Arena export of a run without battles: an error, not a silent 0
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only when empty
        others = [f for f in holding_formats(run) if f != fmt]
        raise ArenaError(f"{run.path}: the {fmt} format can hold none of this run's data; nothing was written",
                         hint=(f"export it with --format {' or --format '.join(others)}" if others
                               else "the run has no battles, grades or answers to export"))
    return written


def holding_formats(run: RunFiles) -> list[str]:
    """The export formats that can hold some of the run: chatbot-arena its battles; mt-bench its questions,
    answers, single grades or games judged in both orders; alpaca-eval turn-1 battles against its baseline
    with both answers' texts."""
    formats = ["chatbot-arena"] if run.has("battles.jsonl") else []
    judgments = run.records("judgments.jsonl")
    orders: dict[tuple, set[str]] = defaultdict(set)
    for j in judgments:
        if j.get("mode") in ("pairwise", "baseline") and j.get("model_b") is not None:
            orders[(j.get("judge"), str(j.get("question_id")), j.get("turn"), j.get("model_a"), j.get("model_b"))].add(
                j.get("order"))
    if run.has("questions.jsonl") or run.answers() or any(j.get("mode") == "single" for j in judgments) \
            or any(o == {"AB", "BA"} for o in orders.values()):
        formats.append("mt-bench")
    base = run.baseline
    if base and base in run.answers() and any(
            base in (b.get("model_a"), b.get("model_b")) and int(b.get("turn") or 1) == 1
            and run.answer_text(b["model_b"] if b.get("model_a") == base else b["model_a"], b.get("question_id"))
            is not None for b in run.records("battles.jsonl")):
        formats.append("alpaca-eval")
    return formats
