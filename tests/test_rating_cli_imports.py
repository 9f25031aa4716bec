"""`arena rate` imports only what rating needs: not the other stages, pydantic or the app's libraries."""
from __future__ import annotations

import json
import subprocess
import sys

UNNEEDED = ("arena.config", "pydantic", "scipy.stats", "plotly", "streamlit", "openai", "httpx", "arena.interop",
            "arena.quality", "arena.human", "arena.compare", "viz", "asyncio")

CODE = """
import sys
from arena.cli import main
code = main(sys.argv[1:])
print({unneeded!r} and [m for m in {unneeded!r} if m in sys.modules], code)
"""


def run_cli(*argv: str) -> tuple[list[str], str]:
    res = subprocess.run([sys.executable, "-c", CODE.format(unneeded=UNNEEDED), *argv],
                         capture_output=True, text=True, check=True)
    *out, last = res.stdout.strip().splitlines()
    loaded, code = last.rsplit(" ", 1)
    assert code == "0", res.stderr
    return eval(loaded), "\n".join(out)  # noqa: S307 - our own printed list


def test_rate_loads_no_other_stage(tmp_path):
    battles = tmp_path / "b.jsonl"
    rows = [{"model_a": "x", "model_b": "y", "winner": w} for w in ("model_a", "model_b", "tie", "model_a")]
    rows += [{"model_a": "y", "model_b": "z", "winner": w} for w in ("model_a", "model_b", "model_b")]
    battles.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded, out = run_cli("rate", str(battles), "--bootstrap", "20", "--format", "csv")
    assert loaded == []
    assert out.splitlines()[0].startswith("model,rating,ci_low,ci_high")
    assert {line.split(",")[0] for line in out.splitlines()[1:]} == {"x", "y", "z"}


def test_other_commands_still_registered():
    res = subprocess.run([sys.executable, "-m", "arena.cli", "--help"], capture_output=True, text=True, check=True)
    assert "rate" in res.stdout and "compare" in res.stdout and "run" in res.stdout
    res = subprocess.run([sys.executable, "-m", "arena.cli", "--debug", "rate", "--help"], capture_output=True,
                         text=True, check=True)
    assert "--bootstrap" in res.stdout


def test_rate_bound_is_the_config_bound():
    from arena.config import MAX_BOOTSTRAP
    from arena.limits import MAX_BOOTSTRAP as LIMIT

    assert MAX_BOOTSTRAP == LIMIT == 100_000
