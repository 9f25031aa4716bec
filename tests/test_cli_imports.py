"""`import arena` and `arena --help` stay light: no vllm, torch or streamlit."""
from __future__ import annotations

import subprocess
import sys

HEAVY = ("vllm", "torch", "streamlit", "transformers")


def test_import_and_help_do_not_import_heavy_packages():
    code = ("import sys, arena, arena.cli, judges.stage\n"
            "try:\n    arena.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert "run" in out and "rate" in out


def test_console_script_help_lists_subcommands():
    res = subprocess.run([sys.executable, "-m", "arena.cli", "run", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "--dry-run" in res.stdout and "--limit" in res.stdout
