"""The README's user path in an environment made with a plain `pip install -e .` (no extras).

Run with that environment's python, from the repository root, by .ci/run:
    PLAIN/bin/python .ci/plain_install_check.py WORKSPACE
Checks, in order: the extras really are absent; every module of arena, judges and viz imports; the quick
start (`arena run -c configs/cfg_pairwise.yaml --dry-run`) succeeds into WORKSPACE; the app's leaderboard
page renders that workspace (streamlit.testing's AppTest) and names a demo model; a reward-model judge
(the `rm` extra) stops with one line that names the extra. Prints one line per check; exits 1 on the first
failure. Not a pytest file: it needs an environment without the test extras.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("arena", "judges", "viz")
OPTIONAL = ("torch", "transformers", "vllm", "pytest", "hypothesis", "playwright")  # extras, not installed here
SCRIPTS = {"viz.app"}  # a Streamlit script, not a library module: rendered by AppTest below instead
QUICK_START = ["run", "-c", "configs/cfg_pairwise.yaml", "--dry-run", "--no-progress"]
DEMO_MODELS = ("demo-alpha", "demo-bravo", "demo-charlie", "demo-delta")


def fail(message: str) -> None:
    """Print the failure and stop with exit code 1."""
    print(f"plain install check FAILED: {message}", flush=True)
    raise SystemExit(1)


def ok(message: str, started: float) -> None:
    """One line for a passed check, with its time."""
    print(f"plain install check: {message} ({time.monotonic() - started:.1f} s)", flush=True)


def check_no_extras() -> None:
    """This environment must be the plain install: no package of an extra (else the check proves nothing)."""
    present = [name for name in OPTIONAL if importlib.util.find_spec(name) is not None]
    if present:
        fail(f"{', '.join(present)} installed: run this in a venv made with a plain `pip install -e .`")


def module_names() -> list[str]:
    """Every module and subpackage of arena, judges and viz, found on disk."""
    names = []
    for package in PACKAGES:
        names.append(package)
        path = [str(ROOT / package)]
        names += [m.name for m in pkgutil.walk_packages(path, prefix=package + ".")]
    return sorted(n for n in names if n not in SCRIPTS)


def check_imports() -> None:
    """Import every module; any failure (a missing dependency above all) fails the check."""
    import streamlit.logger

    streamlit.logger.set_log_level("error")  # no "No runtime found" warnings: the modules run outside the app
    started = time.monotonic()
    names = module_names()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure is the finding
            fail(f"import {name}: {type(exc).__name__}: {exc}")
    leaked = [name for name in OPTIONAL if name in sys.modules]
    if leaked:
        fail(f"importing the modules imported {', '.join(leaked)}")
    ok(f"all {len(names)} modules of {', '.join(PACKAGES)} import", started)


def arena(*args: str) -> subprocess.CompletedProcess[str]:
    """The `arena` console script of this environment, run from the repository root."""
    exe = Path(sys.executable).with_name("arena")
    if not exe.exists():
        fail(f"no console script {exe}: the install did not create `arena`")
    return subprocess.run([str(exe), *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=900)


def check_quick_start(workspace: Path) -> None:
    """The README's quick start succeeds and writes a leaderboard."""
    started = time.monotonic()
    shutil.rmtree(workspace, ignore_errors=True)
    res = arena(*QUICK_START, "--out", str(workspace))
    if res.returncode != 0:
        fail(f"arena {' '.join(QUICK_START)} exited {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    boards = list(workspace.glob("runs/*/leaderboard.json"))
    if len(boards) != 1 or not all(m in res.stdout for m in DEMO_MODELS):
        fail(f"the quick start wrote {len(boards)} leaderboards; output:\n{res.stdout[-2000:]}")
    ok("quick start ran (arena run -c configs/cfg_pairwise.yaml --dry-run)", started)


def check_leaderboard_page(workspace: Path) -> None:
    """The app's leaderboard page renders the quick start's workspace without an error."""
    from streamlit.testing.v1 import AppTest

    started = time.monotonic()
    os.environ["ARENA_WORKSPACE"] = str(workspace)
    at = AppTest.from_file(str(ROOT / "viz" / "app.py"), default_timeout=120)
    at.query_params["page"] = "leaderboard"
    at.run()
    if at.exception or at.error:
        fail(f"the leaderboard page shows {[e.value for e in (*at.exception, *at.error)]}")
    if not at.dataframe:
        fail("the leaderboard page shows no table: " + " | ".join(m.value for m in at.markdown)[:2000])
    shown = at.dataframe[0].value["model"].tolist()
    if sorted(shown) != sorted(DEMO_MODELS):
        fail(f"the leaderboard table lists {shown}, expected {list(DEMO_MODELS)}")
    ok(f"the app's leaderboard page renders {shown}", started)


def check_reward_extra_named(workspace: Path) -> None:
    """A local reward-model judge without the `rm` extra stops with exit 2 and one line naming the extra."""
    started = time.monotonic()
    model = workspace / "no-such-extra-rm"
    model.mkdir(parents=True, exist_ok=True)
    config = workspace / "cfg_reward.yaml"
    cfg = yaml.safe_load((ROOT / "configs" / "cfg_pairwise.yaml").read_text())
    cfg["judge"] = {"mode": "pairwise", "kind": "reward-model", "reward": {"source": "local", "path": str(model)}}
    config.write_text(yaml.safe_dump(cfg))
    res = arena("run", "-c", str(config), "--out", str(workspace / "rm-ws"), "--limit", "2", "--no-progress")
    errors = [line for line in res.stderr.splitlines() if line.strip()]
    if res.returncode != 2 or ".[rm]" not in res.stderr or "Traceback" in res.stderr:
        fail(f"reward-model judge without the extra: exit {res.returncode}, stderr:\n{res.stderr[-3000:]}")
    ok(f"the rm extra is named when missing: {errors[0][:160]}", started)


def main() -> None:
    """Run every check on the workspace given as the only argument."""
    if len(sys.argv) != 2:
        fail("usage: plain_install_check.py WORKSPACE")
    workspace = Path(sys.argv[1]).resolve()
    check_no_extras()
    check_imports()
    check_quick_start(workspace)
    check_leaderboard_page(workspace)
    check_reward_extra_named(workspace)
    print("plain install check: all passed", flush=True)


if __name__ == "__main__":
    main()
