"""arena-hard's own style-controlled score (v0.1 and v2.0 features and fits) against a textbook version.

The textbook side builds arena-hard's rows one by one in plain Python (v0.1: every battle twice, a tie as
one win and one loss, +-ln 10 model columns, L2 weight 1 as scikit-learn's default; v2.0: soft scores,
+1/-1 one-hot with the baseline column) and minimises the loss with scipy's BFGS on a numeric gradient.
"""
from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest
from interop_fixtures import run_main, write_jsonl
from scipy.optimize import minimize

from arena.errors import ArenaError
from arena.interop.arenahard_style import (
    FEATURES,
    _design,
    fit,
    logits,
    style_features,
    style_rows,
    style_table,
)
from arena.interop.leaderboard import run_boards

BASE = "base"


def _battles(seed: int = 3, n: int = 24) -> pd.DataFrame:
    """Battles of m1, m2 against the base with varied style counts and 5-way-like outcomes."""
    rng = np.random.default_rng(seed)
    recs = []
    def counts() -> dict[str, int]:
        return {"len": int(rng.integers(50, 900)), "header": int(rng.integers(0, 5)),
                "list": int(rng.integers(0, 8)), "bold": int(rng.integers(0, 6))}

    for i in range(n):
        b = counts()  # the base's answer to question i, the same in both of its battles
        for model, skill in (("m1", 0.8), ("m2", -0.4)):
            c = counts()
            u = skill + 0.002 * (c["len"] - b["len"]) + rng.normal()
            s, w = (1.0, 3) if u > 1.5 else (1.0, 1) if u > 0.3 else (0.5, 1) if u > -0.3 else (0.0, 1)
            swap = i % 2 == 1  # the baseline sits on either side
            a_side, b_side = (c, b) if swap else (b, c)
            recs.append({"model_a": model if swap else BASE, "model_b": BASE if swap else model,
                         "score": s if swap else 1 - s, "weight": w, "question_id": f"q{i}",
                         **{f"{k}_a": a_side[k] for k in FEATURES}, **{f"{k}_b": b_side[k] for k in FEATURES}})
    return pd.DataFrame(recs)


def _textbook(battles: pd.DataFrame, version: str) -> dict[str, float]:
    """Win rates x100 against the base, from rows built one by one and a numeric-gradient BFGS."""
    rows = []
    for r in battles.itertuples():
        cand_is_a = r.model_b == BASE
        model = r.model_a if cand_is_a else r.model_b
        p = r.score if cand_is_a else 1 - r.score
        c = [getattr(r, f"{k}_{'a' if cand_is_a else 'b'}") for k in FEATURES]
        b = [getattr(r, f"{k}_{'b' if cand_is_a else 'a'}") for k in FEATURES]
        if version == "v0.1":
            feats = [(bb - cc) / (bb + cc + 1) for bb, cc in zip(b, c)]
        else:
            feats = [(c[0] - b[0]) / (c[0] + b[0])]
            feats += [(c[k] / c[0] - b[k] / b[0]) / (c[k] / c[0] + b[k] / b[0] + 1) for k in (1, 2, 3)]
        rows += [(model, p, feats)] * int(r.weight)
    sd = statistics.pstdev if version == "v0.1" else statistics.stdev
    cols = list(zip(*[f for _, _, f in rows]))
    mean, dev = [statistics.fmean(col) for col in cols], [sd(col) for col in cols]
    models = ["m1", "m2", BASE]
    xs, ys = [], []
    for model, p, feats in rows:
        z = [(f - m) / d for f, m, d in zip(feats, mean, dev)]
        if version == "v0.1":  # model_a = base; duplicated rows, a tie = one base win + one base loss
            one = [math.log(10) if m == BASE else -math.log(10) if m == model else 0.0 for m in models]
            xs += [one + z, one + z]
            ys += [1.0 if p <= 0.5 else 0.0, 1.0 if p == 0.0 else 0.0]
        else:
            xs.append([1.0 if m == model else -1.0 if m == BASE else 0.0 for m in models] + z)
            ys.append(p)
    x, y = np.array(xs), np.array(ys)

    def loss(w):
        zz = x @ w
        ll = -np.sum(y * -np.logaddexp(0, -zz) + (1 - y) * -np.logaddexp(0, zz))
        return ll + (0.5 * w @ w if version == "v0.1" else 0.0)

    w = minimize(loss, np.zeros(x.shape[1]), method="BFGS", options={"gtol": 1e-8}).x
    scale = math.log(10) if version == "v0.1" else 1.0
    return {m: 100 / (1 + math.exp(-scale * (w[k] - w[2]))) for k, m in enumerate(models[:2])}


@pytest.mark.parametrize("version", ["v0.1", "v2.0"])
def test_point_fit_matches_textbook(version):
    battles = _battles()
    rows = style_rows(battles, BASE)
    models, codes = np.unique(rows["model"].to_numpy(str), return_inverse=True)
    y = rows["p"].to_numpy(float)
    params = fit(_design(codes, 2, style_features(rows, version), version), 1 - y if version == "v0.1" else y,
                 version)
    ours = dict(zip(models, 100 / (1 + np.exp(-logits(params, 2, version)))))
    ref = _textbook(battles, version)
    assert ours["m1"] == pytest.approx(ref["m1"], abs=2e-3) and ours["m2"] == pytest.approx(ref["m2"], abs=2e-3)
    assert abs(ours["m1"] - ours["m2"]) > 5  # the case separates the models


def test_features_by_hand():
    """Three rows; v0.1 raw length feature for row 1: (300 - 100) / 401; v2.0: (100 - 300) / 400."""
    rows = pd.DataFrame({"model": ["m"] * 3, "p": [1.0, 0.0, 0.5],
                         "len_cand": [100, 200, 400], "len_base": [300, 200, 100],
                         "header_cand": [2, 0, 1], "header_base": [0, 1, 1], "list_cand": [0, 1, 2],
                         "list_base": [3, 0, 2], "bold_cand": [1, 2, 0], "bold_base": [3, 0, 1]})
    raw01 = np.array([200 / 401, 0 / 401, -300 / 501])
    raw20 = np.array([-0.5, 0.0, 0.6])
    assert style_features(rows, "v0.1")[:, 0] == pytest.approx((raw01 - raw01.mean()) / raw01.std())
    assert style_features(rows, "v2.0")[:, 0] == pytest.approx((raw20 - raw20.mean()) / raw20.std(ddof=1))
    d_c, d_b = 2 / 100, 0 / 300  # row 1 header densities; v2.0 compares them with a +1
    h = np.array([(d_c - d_b) / (d_c + d_b + 1), (0 - 1 / 200) / (1 / 200 + 1),
                  (1 / 400 - 1 / 100) / (1 / 400 + 1 / 100 + 1)])
    assert style_features(rows, "v2.0")[:, 1] == pytest.approx((h - h.mean()) / h.std(ddof=1))


def test_leaderboard_style_control_board(tmp_path, capsys):
    battles = _battles(n=12)
    answers, judged = {}, []
    for r in battles.itertuples():
        for side in ("a", "b"):
            model = getattr(r, f"model_{side}")
            answers.setdefault(model, {})[r.question_id] = {k: getattr(r, f"{k}_{side}") for k in FEATURES}
        winner = "tie" if r.score == 0.5 else "model_a" if r.score == 1 else "model_b"
        judged.append({"question_id": r.question_id, "model_a": r.model_a, "model_b": r.model_b,
                       "winner": winner, "weight": r.weight})
    for model, by_q in answers.items():
        write_jsonl(tmp_path / "answers" / f"{model}.jsonl", [
            {"question_id": q, "model_id": model, "choices": [{"index": 0, "turns": [{"content": f"{model} {q}"}]}],
             "conv_metadata": {"token_len": f["len"], "header_count": {"h1": f["header"]},
                               "list_count": {"ordered": f["list"]}, "bold_count": {"**": f["bold"]}}}
            for q, f in by_q.items()])
    write_jsonl(tmp_path / "arena_hard_battles.jsonl", judged)
    assert run_main("import", "arena-hard", tmp_path / "answers", tmp_path / "arena_hard_battles.jsonl",
                    "--baseline", BASE, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    boards = run_boards(tmp_path / "run", bootstrap=10, arena_hard_version="v0.1", style_control=True)
    styled = next(b for b in boards if b.title.endswith("(style-controlled)")).table.set_index("model")
    ref = _textbook(battles, "v0.1")
    assert styled.loc["m1", "score"] == pytest.approx(ref["m1"], abs=2e-3)
    assert styled.loc["m1", "ci_low"] <= styled.loc["m1", "score"] <= styled.loc["m1", "ci_high"]
    capsys.readouterr()
    assert run_main("leaderboard", tmp_path / "run", "--style-control", "--arena-hard-version", "v2.0",
                    "--bootstrap", "10") == 0
    assert "(style-controlled)" in capsys.readouterr().out
    with pytest.raises(ArenaError, match="model_answer files"):
        style_table(battles.drop(columns=["bold_a"]), BASE, 20, 0, "v0.1")
