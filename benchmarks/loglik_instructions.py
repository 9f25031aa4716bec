"""Client CPU work per log-likelihood request as instructions counted by valgrind: a figure a loaded machine
does not move (CPU seconds on a shared 2-core machine swing by 20% between runs).

    python benchmarks/loglik_instructions.py [--small 50] [--large 250] [--arc]

For the bare aiohttp client and Arena's path (loglik_throughput.py's clients, server and requests; --arc: the
ARC-Challenge test items of ../shared/data/objective instead of the synthetic ones), this process starts one
valgrind (cachegrind, no cache simulation) child per client and size, all at once; each child starts the echo
server (not traced), runs an untimed round of 20 items, then one round of `size` items. The instructions per
request are the slope between the two sizes ((I(large) - I(small)) / extra requests): start-up and imports
cancel out. Timing still shapes the event loop's batches a little, so repeated runs differ by a few percent.
Needs valgrind on PATH.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "benchmarks"):
    sys.path.insert(0, str(extra))

REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def pool(arc: bool) -> list:
    """The items requests are drawn from."""
    import loglik_throughput as lt

    if not arc:
        return lt.make_items(1000, 4)
    from arena.bench.loaders import load_items

    _, loaded = load_items(ROOT.parent / "shared" / "data" / "objective" / "arc" / "ARC-Challenge-Test.jsonl", "arc")
    return loaded.items


def child(client: str, n: int, arc: bool) -> None:
    """One measured run (inside valgrind): a warm-up round, then `n` items; prints the request count."""
    import loglik_throughput as lt

    items = pool(arc)
    with lt.echo_server(0.005) as url:
        asyncio.run(lt.CLIENTS[client][1](url, items[:20], 32))
        asyncio.run(lt.CLIENTS[client][1](url, items[:n], 32))
    print("requests", len(lt.request_bodies(items[:n])))


def main() -> None:
    """Count, then print instructions per request of each client and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=50)
    ap.add_argument("--large", type=int, default=250)
    ap.add_argument("--arc", action="store_true")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("error: valgrind is not on PATH")
    runs = {(c, n): subprocess.Popen(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", sys.executable,
         __file__, "child", c, str(n), "arc" if args.arc else "synthetic"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for c in ("aiohttp", "arena") for n in (args.small, args.large)}
    refs, requests = {}, {}
    for key, proc in runs.items():
        out, err = proc.communicate()
        found = REFS.search(err)
        if proc.returncode or not found:
            sys.exit(f"error: the {key[0]} run of {key[1]} items failed:\n{err[-2000:]}")
        refs[key] = int(found.group(1).replace(",", ""))
        requests[key[1]] = int(out.split()[-1])
    extra = requests[args.large] - requests[args.small]
    per = {c: (refs[(c, args.large)] - refs[(c, args.small)]) / extra for c in ("aiohttp", "arena")}
    print(f"{'ARC-Challenge' if args.arc else 'synthetic'} items; slope over {extra} requests "
          f"({requests[args.small]} -> {requests[args.large]}), instructions per request (client process only):")
    print(f"  bare aiohttp client       {per['aiohttp'] / 1000:8.1f} k")
    print(f"  arena loglikelihood path  {per['arena'] / 1000:8.1f} k   (+{(per['arena'] - per['aiohttp']) / 1000:.1f} k; "
          f"aiohttp / arena = {per['aiohttp'] / per['arena']:.1%})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "arc")
    else:
        main()
