"""Few-shot prompt building on the real MMLU, ARC and GSM8K files (not a test): items/s and a sample prompt.

    python benchmarks/bench_fewshot_prompts.py [DATA_DIR]     # default /work/shared/data/objective

MMLU test with 5 examples from the dev folder (same subject), ARC-Challenge test with 25 from ARC Dev, GSM8K
test with 8 from its own file (the item left out). Prints items, seconds and prompts/s per task, checks that no
item is among its own examples, and shows the first MMLU prompt's length."""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

from arena.bench.config import BenchTask
from arena.bench.tasks import load_task

DEFAULT = Path("/work/shared/data/objective")


def main(root: Path) -> None:
    """Build every prompt of three few-shot tasks and print the rates."""
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    specs = [
        BenchTask(name="mmlu", path=root / "mmlu" / "test", num_fewshot=5, fewshot_path=root / "mmlu" / "dev"),
        BenchTask(name="arc", path=root / "arc" / "ARC-Challenge-Test.jsonl", num_fewshot=25,
                  fewshot_path=root / "arc" / "ARC-Challenge-Dev.jsonl"),
        BenchTask(name="gsm8k", path=root / "gsm8k" / "test.jsonl", num_fewshot=8, cot=True),
    ]
    for spec in specs:
        start = time.perf_counter()
        task = load_task(spec)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        prompts = [task.prompt(item) for item in task.data.items]
        built = time.perf_counter() - start
        selfish = sum(item.id in {ex.id for ex in task.shots.examples(item)} for item in task.data.items
                      if task.shots and task.shots.own_file)
        print(f"{spec.name:<6} k={spec.num_fewshot:<3} items {len(prompts):>6}  load {loaded:5.2f}s  "
              f"prompts {built:5.2f}s  ({len(prompts) / built:,.0f}/s)  mean chars {sum(map(len, prompts)) / len(prompts):,.0f}"
              f"  items among their own examples: {selfish}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
