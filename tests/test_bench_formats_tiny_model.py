"""HellaSwag-style endings scored in-process by a tiny random GPT-2 built in the test: each ending's
log-likelihood equals a direct torch computation on the cleaned context, and acc / acc_norm follow from those
numbers by hand (extra `rm`: torch + transformers)."""
from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from tiny_lm import make_tiny_lm
from transformers import AutoModelForCausalLM, AutoTokenizer

from arena.bench.configfile import load_bench_config
from arena.bench.runner import run_bench

ITEMS = [
    {"ind": 1, "activity_label": "Making tea", "ctx_a": "A woman fills a kettle.", "ctx_b": "she",
     "endings": ["waits for it to boil.", "paints it green.", "throws it away."], "label": 0},
    {"ind": 2, "ctx": "[header] How to sow seeds [title] Fill a tray with soil.  [step] Then",
     "endings": ["press the seeds in gently.", "eat the tray."], "label": "0"},
]
CONTEXTS = {"1": "Making tea: A woman fills a kettle. She", "2": "How to sow seeds. Fill a tray with soil. Then"}


def test_hellaswag_endings_in_process_equal_direct_torch_and_hand_acc(tmp_path):
    model_dir = make_tiny_lm(tmp_path / "lm", seed=3, add_bos=True)
    data = tmp_path / "hs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ITEMS))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({
        "workspace": str(tmp_path / "ws"),
        "candidates": [{"name": "local", "backend": "transformers", "path": str(model_dir)}],
        "bench": {"tasks": [{"name": "hs", "path": str(data), "method": "loglikelihood"}]}}))
    c, bench = load_bench_config(cfg)
    out = run_bench(c, bench, show_progress=False, log=lambda s: None)
    res = out.results["local"]
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    accs, norms = [], []
    for item, detail in zip(ITEMS, res["details"]["hs"]):
        context = CONTEXTS[detail["id"]]
        ctx_ids = tok(context)["input_ids"]
        direct = []
        for ending in item["endings"]:
            full = tok(context + " " + ending)["input_ids"]
            assert full[: len(ctx_ids)] == ctx_ids
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([full])).logits[0].float(), dim=-1)
            direct.append(sum(float(lp[i - 1, full[i]]) for i in range(len(ctx_ids), len(full))))
        assert detail["loglikelihoods"] == pytest.approx(direct, abs=1e-4)
        gold = int(item["label"])
        accs.append(float(max(range(len(direct)), key=lambda i: (direct[i], -i)) == gold))
        norm = [v / len(e) for v, e in zip(direct, item["endings"])]
        norms.append(float(max(range(len(norm)), key=lambda i: (norm[i], -i)) == gold))
    assert res["metrics"]["hs"]["acc"] == pytest.approx(sum(accs) / 2)
    assert res["metrics"]["hs"]["acc_norm"] == pytest.approx(sum(norms) / 2)
