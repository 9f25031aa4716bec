"""`arena leaderboard RUN_DIR`: a run's leaderboard in the convention of the tool it came from.

mt-bench: mean single score per model (and per turn), FastChat pairwise win rates; arena-hard: win rate
against the baseline x100 (strong verdicts weighted 3) with a bootstrap 95% interval; alpaca-eval: win
rate, discrete win rate, standard error, counts and the length-controlled win rate; chatbot-arena and
native pairwise runs: Bradley-Terry ratings (arena.rating); evalscope: win/loss/tie rates and mean scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from arena.errors import ArenaError
from arena.interop.arenahard import answer_token_len
from arena.interop.arenahard_style import style_table
from arena.interop.chatbot_arena import board_scale
from arena.interop.lc_board import LCOptions, add_lc
from arena.interop.runfiles import RunFiles
from arena.rating import RatingOptions, load_battles, rate_battles
from arena.rating.io import validate_battles
from arena.rating.report import DRY_RUN_NOTE

CONVENTIONS = ("auto", "mt-bench", "arena-hard", "alpaca-eval", "bt", "evalscope", "chatbot-arena")


@dataclass
class Board:
    """One leaderboard table with its title, convention and notes."""

    title: str
    convention: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def single_boards(scores: list[dict[str, Any]], title: str = "MT-bench single-answer grading") -> list[Board]:
    """One single-grading board per judge (FastChat's show_result ranks one judge's grades at a time)."""
    judges = sorted({str(s.get("judge")) for s in scores})
    if len(judges) < 2:
        return [single_board(scores, title)]
    boards = []
    for judge in judges:
        board = single_board([s for s in scores if str(s.get("judge")) == judge], f"{title} - judge {judge}")
        board.notes.append(f"grades of judge {judge} only: the run holds grades of {len(judges)} judges "
                           f"({', '.join(judges)}), never averaged together")
        boards.append(board)
    return boards


def single_board(scores: list[dict[str, Any]], title: str = "MT-bench single-answer grading") -> Board:
    """Mean score per model over all graded turns, plus per-turn means (failed grades are not in scores)."""
    df = pd.DataFrame(scores)
    table = df.groupby("model")["score"].agg(score="mean", n="size")
    for turn, sub in sorted(df.groupby("turn"), key=lambda t: t[0]):
        table[f"turn_{int(turn)}"] = sub.groupby("model")["score"].mean()
    table = table.reset_index().sort_values(["score", "model"], ascending=[False, True], kind="stable")
    return Board(title, "mt-bench", table.reset_index(drop=True))


def winrate_board(battles: pd.DataFrame, title: str, convention: str, baseline: str | None = None) -> Board:
    """Wins, losses, ties and rates per model (FastChat / evalscope pairwise tables; ties count half in
    win_rate_adjusted)."""
    if baseline is not None:
        battles = battles[(battles["model_a"] == baseline) | (battles["model_b"] == baseline)]
    s = battles["score"].to_numpy(float)
    long = pd.DataFrame({"model": np.r_[battles["model_a"], battles["model_b"]], "s": np.r_[s, 1 - s]})
    g = long.groupby("model")["s"]
    table = pd.DataFrame({"win": g.apply(lambda x: int((x > 0.5).sum())),
                          "loss": g.apply(lambda x: int((x < 0.5).sum())),
                          "tie": g.apply(lambda x: int((x == 0.5).sum()))})
    total = table.sum(axis=1)
    table["win_rate"], table["loss_rate"] = table["win"] / total, table["loss"] / total
    table["win_rate_adjusted"] = (table["win"] + 0.5 * table["tie"]) / total
    if baseline is not None:
        table = table.drop(index=baseline, errors="ignore")
    table = table.reset_index().sort_values(["win_rate_adjusted", "model"], ascending=[False, True])
    return Board(title, convention, table.reset_index(drop=True))


def _versus_baseline(battles: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Battles against the baseline from the candidate's side: model, qid, turn, p (candidate score), w."""
    a_is_base = (battles["model_a"] == baseline).to_numpy()
    b_is_base = (battles["model_b"] == baseline).to_numpy()
    keep = a_is_base | b_is_base
    cand_is_b = a_is_base  # a self-battle of the baseline keeps the baseline as candidate
    sub = battles[keep]
    flip = cand_is_b[keep]
    s = sub["score"].to_numpy(float)
    return pd.DataFrame({
        "model": np.where(flip, sub["model_b"], sub["model_a"]),
        "question_id": sub["question_id"].to_numpy(object), "turn": sub["turn"].to_numpy(float),
        "p": np.where(flip, 1 - s, s), "w": sub["weight"].to_numpy(float),
        "len_model": np.where(flip, sub["len_b"], sub["len_a"]).astype(float),
    })


ARENA_HARD_VERSIONS = ("v0.1", "v2.0")


def _interval(boots: np.ndarray, version: str) -> tuple[float, float]:
    """arena-hard's interval of the bootstrap rounds: 2.5/97.5% in v0.1, 5/95% (90%) in v2.0."""
    q = (5.0, 95.0) if version == "v2.0" else (2.5, 97.5)
    lo, hi = np.nanpercentile(boots, q)  # linear interpolation, as pandas' quantile in arena-hard
    return float(lo), float(hi)


def _score_rows(sub: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A model's score rows and weights against the baseline; integer weights become repeated rows (a
    strong verdict = 3 rows, each drawn on its own in the bootstrap, as in arena-hard)."""
    p, w = sub["p"].to_numpy(float), sub["w"].to_numpy(float)
    if np.allclose(w, np.round(w)):
        p, w = np.repeat(p, np.round(w).astype(int)), np.ones(int(np.round(w).sum()))
    return p, w


def _per_model_bootstrap(games: list[tuple[np.ndarray, np.ndarray]], rounds: int, seed: int) -> list[np.ndarray]:
    """v2.0: each round resamples each model's rows on their own; the win rates x100 (rounds,) per model."""
    rng = np.random.default_rng(seed)
    out = []
    for p, w in games:
        idx = rng.integers(0, len(p), size=(rounds, len(p)))
        out.append(100 * (p[idx] * w[idx]).sum(axis=1) / w[idx].sum(axis=1))
    return out


def _joint_bootstrap(games: list[tuple[np.ndarray, np.ndarray]], rounds: int, seed: int) -> list[np.ndarray]:
    """v0.1: each round resamples all models' rows together (arena-hard's battles.sample), so a model's
    number of rows varies between rounds; a model with no row in a round gets NaN there."""
    rng = np.random.default_rng(seed)
    p = np.concatenate([g[0] for g in games])
    w = np.concatenate([g[1] for g in games])
    code = np.repeat(np.arange(len(games)), [len(g[0]) for g in games])
    boots = np.empty((len(games), rounds))
    for r in range(rounds):
        idx = rng.integers(0, len(p), len(p))
        num = np.bincount(code[idx], p[idx] * w[idx], len(games))
        den = np.bincount(code[idx], w[idx], len(games))
        boots[:, r] = 100 * np.divide(num, den, out=np.full(len(games), np.nan), where=den > 0)
    return list(boots)


def arenahard_board(battles: pd.DataFrame, baseline: str, rounds: int = 100, seed: int = 0,
                    version: str = "v0.1", avg_tokens: dict[str, float] | None = None) -> Board:
    """Win rate against the baseline x100 with the weights as repeated games, and a bootstrap interval.

    version "v0.1": score = the win rate on all games, 95% percentile interval (arena-hard-auto v0.1);
    "v2.0": score = mean of the bootstrap win rates, 90% interval (v2.0's show_result). Rounds resample
    the games (strong verdicts as 3 rows) with replacement: all models' together in v0.1, each model's
    alone in v2.0, as each version does. `avg_tokens` (model -> mean
    token_len over all its answers) replaces the per-battle mean answer length where given."""
    if version not in ARENA_HARD_VERSIONS:
        raise ArenaError(f"unknown arena-hard version {version!r}", hint=f"use one of {', '.join(ARENA_HARD_VERSIONS)}")
    if version == "v2.0" and rounds < 1:
        raise ArenaError("arena-hard v2.0 scores are bootstrap means: they need --bootstrap 1 or more")
    vs = _versus_baseline(battles, baseline)
    if vs.empty:
        raise ArenaError(f"no battles against the baseline {baseline!r}")
    left_out = len(battles) - len(vs)
    groups = list(vs.groupby("model", sort=True))
    games = [_score_rows(sub) for _, sub in groups]
    draws = (_joint_bootstrap if version == "v0.1" else _per_model_bootstrap)(games, rounds, seed)
    rows = []
    for (model, sub), (p, w), boots in zip(groups, games, draws):
        score = 100 * np.average(p, weights=w)
        lo, hi = _interval(boots, version) if rounds else (np.nan, np.nan)  # no rounds: no interval
        if version == "v2.0":
            score = float(boots.mean())
        raw = sub["p"].to_numpy(float)
        rows.append({"model": model, "score": score, "ci_low": lo, "ci_high": hi, "games": len(sub),
                     "wins": int((raw > 0.5).sum()), "ties": int((raw == 0.5).sum()),
                     "losses": int((raw < 0.5).sum()), "avg_tokens": sub["len_model"].mean()})
    table = pd.DataFrame(rows)
    if baseline not in set(table["model"]):
        table = pd.concat([table, pd.DataFrame([{"model": baseline, "score": 50.0, "ci_low": 50.0,
                                                 "ci_high": 50.0, "games": 0, "wins": 0, "ties": 0,
                                                 "losses": 0}])], ignore_index=True)
    table = table.sort_values(["score", "model"], ascending=[False, True]).reset_index(drop=True)
    what = ("mean of the bootstrap win rates (arena-hard-auto v2.0); 90% interval (5th-95th percentile) "
            f"from {rounds} bootstrap rounds resampling each model's games" if version == "v2.0" else
            "win rate on all games (arena-hard-auto v0.1); 95% interval from "
            f"{rounds} bootstrap rounds resampling all games together" if rounds else
            "win rate on all games (arena-hard-auto v0.1); no interval (--bootstrap 0)")
    notes = [(f"score = win rate against {baseline} x100 (ties half, strong verdicts weighted as 3 games), "
              f"{what}" + (f" (seed {seed})" if rounds else ""))]
    notes.append(_avg_tokens_note(table, avg_tokens))
    if left_out:
        notes.append(_left_out_note(left_out, len(battles), baseline))
    return Board("arena-hard-auto score", "arena-hard", table, notes)


def _left_out_note(left_out: int, total: int, baseline: str) -> str:
    """Say how many battles a baseline board could not use."""
    return f"{left_out} of {total} battles are not against the baseline {baseline} and are not in this table"


def _avg_tokens_note(table: pd.DataFrame, avg_tokens: dict[str, float] | None) -> str:
    """Fill avg_tokens from all of each model's answers where known, and say which definition each row uses."""
    if not avg_tokens:
        if table["avg_tokens"].isna().all():
            return "avg_tokens: no answer lengths (import the answers with the judgments to fill it)"
        return ("avg_tokens: mean length (tokens) of the model's answers over its judged games against the "
                "baseline, one value per game (Arena's definition)")
    table["avg_tokens"] = table["model"].map(avg_tokens).fillna(table["avg_tokens"])
    rest = sorted(set(table["model"]) - set(avg_tokens))
    return ("avg_tokens: mean token_len over every answer of the model in the imported files, judged or not "
            "(arena-hard's definition; it prints the integer part)"
            + (f"; per judged game for {', '.join(rest)} (no token_len on all answers)" if rest else ""))


def imported_avg_tokens(run: RunFiles) -> dict[str, float]:
    """arena-hard's avg_tokens per model: mean token_len over all of its imported answers (models whose
    every answer recorded one)."""
    out = {}
    for model, by_q in run.answers().items():
        lens = [answer_token_len(rec.get("source")) for rec in by_q.values()]
        if lens and all(x is not None for x in lens):
            out[model] = float(np.mean(lens))
    return out


def alpaca_board(battles: pd.DataFrame, baseline: str) -> Board:
    """AlpacaEval's columns: win_rate, standard_error, n_wins, n_wins_base, n_draws, n_total, discrete_win_rate."""
    vs = _versus_baseline(battles, baseline)
    left_out = len(battles) - len(vs)
    vs = vs[vs["model"] != baseline]
    rows = []
    for model, sub in vs.groupby("model", sort=True):
        pref = 1 + sub["p"].to_numpy(float)
        n_wins, n_base, n_draws = int((pref > 1.5).sum()), int((pref < 1.5).sum()), int((pref == 1.5).sum())
        se = float(np.std(pref - 1, ddof=1) / np.sqrt(len(pref)) * 100) if len(pref) > 1 else float("nan")
        rows.append({"model": model, "win_rate": float(np.mean(pref - 1) * 100), "standard_error": se,
                     "n_wins": n_wins, "n_wins_base": n_base, "n_draws": n_draws, "n_total": len(pref),
                     "discrete_win_rate": (n_wins + n_draws / 2) / len(pref) * 100})
    table = pd.DataFrame(rows).sort_values(["win_rate", "model"], ascending=[False, True]).reset_index(drop=True)
    notes = [_left_out_note(left_out, len(battles), baseline)] if left_out else []
    return Board(f"AlpacaEval (reference: {baseline})", "alpaca-eval", table, notes)


def bt_board(battles: pd.DataFrame, title: str, bootstrap: int, seed: int, baseline: str | None = None,
             chatbot_arena: bool = False) -> Board:
    """Bradley-Terry ratings with bootstrap intervals through arena.rating; chatbot_arena: on Chatbot Arena's
    scale (its anchor model at 1114 when present), with a note saying which scale."""
    models = set(battles["model_a"]) | set(battles["model_b"])
    anchor, scale_note = board_scale(models) if chatbot_arena else (None, None)
    options = RatingOptions(bootstrap=bootstrap, seed=seed, anchor=anchor,
                            baseline=baseline if baseline in models and anchor is None else None)
    result = rate_battles(battles, options)
    notes = [scale_note] if scale_note else []
    return Board(title, "bt", result.table.drop(columns="ci_note"), notes + list(result.warnings))  # notes say why


def _by_category(battles: pd.DataFrame, scores: list[dict[str, Any]], category: str | None, where: Any
                 ) -> tuple[pd.DataFrame | None, list[dict[str, Any]]]:
    """Battles and scores of one category (all when category is None); an unknown category is an error."""
    if category is None:
        return battles, scores
    cats = set(battles["category"].dropna().astype(str)) if battles is not None else set()
    cats |= {str(s["category"]) for s in scores if s.get("category") is not None}
    if category not in cats:
        raise ArenaError(f"{where}: no battles or grades in category {category!r}",
                         hint=f"categories: {', '.join(sorted(cats)) or 'none recorded'}")
    if battles is not None:
        battles = battles[battles["category"].astype(str) == category].reset_index(drop=True)
    return battles, [s for s in scores if str(s.get("category")) == category]


def _category_boards(run: RunFiles, battles: pd.DataFrame, baselines: dict[str, str], category: str | None,
                     bootstrap: int, seed: int, version: str, style_control: bool) -> list[Board]:
    """arena-hard v2.0 runs whose categories have their own baselines: one board per category, each against its
    baseline (arena-hard-auto v2.0 shows one category at a time); battles of other categories are counted."""
    boards = []
    avg_tokens = imported_avg_tokens(run) if run.tool == "arena-hard" else None
    cats = battles["category"].fillna("").astype(str)
    covered = "; ".join(f"{c or '(no category)'}: {b}" for c, b in sorted(baselines.items()))
    for cat, base in sorted(baselines.items()):
        if category is not None and cat != category:
            continue
        sub = battles[cats == cat].reset_index(drop=True)
        label = cat or "(no category)"
        if sub.empty:
            continue
        board = arenahard_board(sub, base, bootstrap, seed, version, avg_tokens)
        board.title = f"arena-hard-auto score - {label} (baseline {base})"
        board.notes.append(f"category {label}: {len(sub)} of {len(battles)} battles; each category is scored "
                           f"against its own baseline ({covered}); no length-controlled columns per category")
        boards.append(board)
        if style_control:
            table, notes = style_table(sub, base, bootstrap, seed, version)
            boards.append(Board(f"arena-hard-auto score (style-controlled) - {label} (baseline {base})",
                                "arena-hard", table, notes))
    other = int((~cats.isin(list(baselines))).sum())
    if other and boards:
        boards[0].notes.append(f"{other} battles in categories without a recorded baseline are in no table")
    return boards


def per_game_battles(run: RunFiles, battles: pd.DataFrame) -> pd.DataFrame | None:
    """A native run's battles one row per judged game, as arena-hard counts them (a strong verdict weighs
    `strong_weight`), when the run combined a pair's two games into one battle (`inconsistent` other than
    `separate`): arena-hard scores every game, so a position-biased judge's A>>B and its tie in the swapped
    order are 3 wins and a tie there, where the combined battle is one tie. None when the battles already
    are per game, the run is imported, or it has no single judge's judgments."""
    judge = (run.info.get("config") or {}).get("judge") or {}
    if run.tool is not None or judge.get("panel") or judge.get("inconsistent", "tie") == "separate" \
            or not run.has("judgments.jsonl") or battles.empty:
        return None
    strong = float(judge.get("strong_weight") or 3.0)
    games = {r.get("key"): r for r in run.records("judgments.jsonl") if r.get("status") == "ok"}
    rows = []
    for b in run.records("battles.jsonl"):
        for key in b.get("games") or []:
            g = games.get(key)
            if g is None or g.get("winner") is None:
                continue
            winner = g["winner"]
            if g.get("model_a") == b.get("model_b") and winner in ("model_a", "model_b"):
                winner = "model_b" if winner == "model_a" else "model_a"  # the game names the pair the other way
            decided = winner in ("model_a", "model_b")
            rows.append({**{k: v for k, v in b.items() if k not in ("games", "weight", "consistent", "prob_a")},
                         "winner": winner, "weight": strong if decided and int(g.get("strength") or 1) == 2 else 1.0,
                         "games": [key]})
    if not rows:
        return None
    return validate_battles(pd.DataFrame(rows, dtype=object), run.path / "judgments.jsonl", kind="json")


def run_boards(path: Any, convention: str = "auto", bootstrap: int | None = None, seed: int = 0,
               arena_hard_version: str = "v0.1", lc: LCOptions | None = None,
               style_control: bool = False, category: str | None = None) -> list[Board]:
    """Every leaderboard that applies to the run, in its source tool's convention unless one is forced.

    `bootstrap` None means each convention's default: 100 rounds for arena-hard scores, 1000 for BT.
    `category` keeps one category's battles and grades. A run whose categories have their own baselines
    (arena-hard v2.0) gets one arena-hard board per category."""
    run = RunFiles.open(path)
    boards = _run_boards(run, convention, bootstrap, seed, arena_hard_version, lc, style_control, category)
    if ((run.info.get("config") or {}).get("dry_run")):  # random verdicts: never to be read as a judge's
        for board in boards:
            board.notes.insert(0, DRY_RUN_NOTE)
    return boards


def _run_boards(run: RunFiles, convention: str, bootstrap: int | None, seed: int, arena_hard_version: str,
                lc: LCOptions | None, style_control: bool, category: str | None) -> list[Board]:
    """run_boards on an opened run."""
    bt_rounds = 1000 if bootstrap is None else bootstrap
    bootstrap = 100 if bootstrap is None else bootstrap
    tool = run.tool if convention == "auto" else convention
    boards: list[Board] = []
    scores = run.records("scores.jsonl")
    battles = load_battles(run.path / "battles.jsonl") if run.has("battles.jsonl") else None
    if category is not None:
        if lc is not None and (lc.difficulty or lc.gamed):
            raise ArenaError("--category and the length-controlled win rate (--lc-difficulty / --lc-gamed) "
                             "cannot be combined", hint="the LC GLM is fitted on all of the run's battles")
        battles, scores = _by_category(battles, scores, category, run.path)
    if scores and tool in (None, "mt-bench", "evalscope", "arena-hard", "alpaca-eval", "bt"):
        boards.extend(single_boards(scores, "evalscope single-mode mean score" if tool == "evalscope"
                                    else "MT-bench single-answer grading (mean score, failed grades left out)"))
    if battles is None or (category is not None and battles.empty):
        if not boards:
            raise ArenaError(f"{run.path}: nothing to rank (no scores.jsonl or battles.jsonl)")
        return boards
    baseline = run.baseline
    if tool == "chatbot-arena" and battles.shape[0]:
        raw = run.records("battles.jsonl")
        anony = np.array([r.get("anony", True) is True for r in raw])
        if category is not None:
            anony = anony[np.array([str(r.get("category")) == category for r in raw])]
        if anony.any() and not anony.all():
            battles = battles[anony]
        which = "anonymous battles" if anony.any() else "all battles: none is anonymous"
        boards.append(bt_board(battles, f"Chatbot Arena (Bradley-Terry, {which})", bt_rounds, seed,
                               chatbot_arena=True))
        return boards
    if tool in ("mt-bench", "evalscope"):
        boards.append(winrate_board(battles, f"{tool} pairwise win rates", tool, baseline if tool == "evalscope" else None))
    baselines = run.baselines
    if len(set(baselines.values())) > 1 and tool == "arena-hard":
        boards.extend(_category_boards(run, battles, baselines, category, bootstrap, seed, arena_hard_version,
                                       style_control))
    elif baseline and (baseline in set(battles["model_a"]) | set(battles["model_b"])):
        games = per_game_battles(run, battles) if tool != "alpaca-eval" else None
        scored = battles if games is None else games
        if tool == "alpaca-eval":
            board = alpaca_board(battles, baseline)
        else:
            board = arenahard_board(scored, baseline, bootstrap, seed, arena_hard_version,
                                    imported_avg_tokens(run) if run.tool == "arena-hard" else None)
            if games is not None:
                board.notes.append("scored per judged game from judgments.jsonl, as arena-hard counts them; the "
                                   "run's ratings use its combined battles (judge.inconsistent)")
        if category is None:
            add_lc(board, run, battles, baseline, lc)
        else:
            board.title += f" - category {category}"
        boards.append(board)
        if style_control and tool != "alpaca-eval":
            table, notes = style_table(scored, baseline, bootstrap, seed, arena_hard_version)
            boards.append(Board("arena-hard-auto score (style-controlled)", "arena-hard", table, notes))
    elif tool in ("arena-hard", "alpaca-eval"):
        raise ArenaError(f"{run.path}: the {tool} leaderboard needs a baseline, and none is in the battles")
    if style_control and not any("(style-controlled)" in b.title for b in boards):
        raise ArenaError(f"{run.path}: --style-control applies to arena-hard scores against a baseline",
                         hint="for Bradley-Terry ratings use `arena rate BATTLES --style-control`")
    if tool in (None, "bt", "mt-bench", "evalscope") or not boards:
        boards.append(bt_board(battles, "Bradley-Terry ratings", bt_rounds, seed, baseline))
    return boards
