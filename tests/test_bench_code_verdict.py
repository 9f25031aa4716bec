"""Code-task verdicts need positive evidence: a sample passes only when its tests ran to their end (early
exits, forged exit codes and fake markers fail); the sandbox cleans up whatever a sample leaves (deep folders,
background processes); disk and memory are capped per sample; the failure reason survives long output."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from test_bench_sandbox import _procs_mentioning

from arena.bench.genopts import CodeOptions
from arena.bench.loaders import BenchItem
from arena.bench.passk import build_program, score_code_task
from arena.bench.sandbox import SandboxLimits, namespaces_available, run_python

needs_ns = pytest.mark.skipif(not namespaces_available(), reason="no unprivileged user namespaces here")
MODES = [pytest.param("namespaces", marks=needs_ns), "rlimits"]
FAST = SandboxLimits(timeout=3.0, memory_mb=256, max_processes=16)
ITEM = BenchItem("t/0", 'def add(a, b):\n    """Return a + b."""\n', "", meta={
    "style": "humaneval", "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n"})
WRONG = "def add(a, b):\n    return 0\n"

# each ends the program with status 0 before the (failing) tests run
EARLY_EXITS = {
    "sys_exit_0": "import sys\n" + WRONG + "sys.exit(0)\n",
    "os_exit_0": "import os\n" + WRONG + "os._exit(0)\n",
    "atexit_os_exit_0": "import atexit, os\natexit.register(lambda: os._exit(0))\n" + WRONG,
    "excepthook_os_exit_0": "import sys, os\nsys.excepthook = lambda *a: os._exit(0)\n" + WRONG,
    "main_guard": "import sys\n" + WRONG + "def main():\n    return 0\n\n"
                  "if __name__ == '__main__':\n    sys.exit(main())\n",
    "raise_systemexit_none": WRONG + "raise SystemExit\n",
    "sigint_handler_os_exit_0": ("import os, signal, time\n"
                                 "signal.signal(signal.SIGINT, lambda *a: os._exit(0))\n" + WRONG
                                 + "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(1)\n"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(EARLY_EXITS))
def test_an_early_exit_with_status_0_is_a_failure(tmp_path, mode, name):
    program = build_program(ITEM, f"```python\n{EARLY_EXITS[name]}```")
    res = run_python(program, tmp_path, FAST, isolation=mode)
    assert res.status == "failed" and not res.passed, (name, res)


@pytest.mark.parametrize("mode", MODES)
def test_a_correct_solution_passes_even_with_a_main_guard_that_would_fail(tmp_path, mode):
    plain = run_python(build_program(ITEM, "    return a + b\n"), tmp_path, FAST, isolation=mode)
    assert plain.status == "passed", plain.output
    # main() reads stdin (empty: EOFError); the tests never run as __main__, as in OpenAI's human-eval
    guarded = ("import sys\ndef add(a, b):\n    return a + b\n\n"
               "def main():\n    print(add(*map(int, input().split())))\n"
               "\nif __name__ == '__main__':\n    sys.exit(main())\n")
    res = run_python(build_program(ITEM, guarded), tmp_path, FAST, isolation=mode)
    assert res.status == "passed", res.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", MODES)
def test_printed_or_written_fake_markers_do_not_pass(tmp_path, mode):
    fake = ("import os, sys\n" + WRONG +
            "for fd in range(3, 64):\n"
            "    for junk in (b'1', b'0' * 32, b'ok', b'passed\\n'):\n"
            "        try:\n"
            "            os.write(fd, junk)\n"
            "        except OSError:\n"
            "            pass\n"
            "print('1' + '0' * 32)\nprint('passed')\nsys.stdout.flush()\nos._exit(0)\n")
    res = run_python(build_program(ITEM, fake), tmp_path, FAST, isolation=mode)
    assert res.status == "failed" and res.returncode == 0, res  # exit status 0 forged, still a failure


@pytest.mark.parametrize("mode", MODES)
def test_a_plain_program_passes_only_when_it_runs_to_its_end(tmp_path, mode):
    assert run_python("x = 1\nassert x == 1\n", tmp_path, FAST, isolation=mode).passed
    res = run_python("import sys\nsys.exit(0)\nassert False\n", tmp_path, FAST, isolation=mode)
    assert res.status == "failed" and "before its tests finished" in res.output, res.output


def _deep_dirs(depth: int) -> str:
    return ("import os\nstart = os.getcwd()\n"
            f"for _ in range({depth}):\n    os.mkdir('d')\n    os.chdir('d')\nos.chdir(start)\n")


@pytest.mark.parametrize("mode", MODES)
def test_a_sample_nesting_thousands_of_folders_is_cleaned_up_and_scored(tmp_path, mode):
    reply = "```python\n" + _deep_dirs(3000) + "def add(a, b):\n    return a + b\n```"
    opts = CodeOptions(n=2, k=[1], timeout=10, isolation=mode)
    got = score_code_task([(ITEM, [reply, "    return a - b\n"])], opts, tmp_path / "sandbox")
    assert got.details[0]["status"] == ["passed", "failed"] and got.score == pytest.approx(0.5)
    assert not (tmp_path / "sandbox").exists()  # every run's folder removed, then the empty scratch folder


@needs_ns
def test_a_sample_has_a_total_disk_cap_and_writes_nothing_to_the_host(tmp_path):
    src = ("import os\n"
           "st = os.statvfs('/work')\n"
           "print('size MB', st.f_blocks * st.f_frsize // 2**20)\n"
           "assert st.f_blocks * st.f_frsize <= 24 * 2**20\n"
           "for i in range(6):\n"
           "    with open(f'f{i}', 'wb') as fh:\n"
           "        fh.write(b'x' * (5 * 2**20))\n")
    res = run_python(src, tmp_path, SandboxLimits(timeout=5, file_mb=8, disk_mb=24))
    assert res.status == "failed" and "No space left on device" in res.output, res.output
    small = run_python("open('a', 'wb').write(b'x' * 2**20)\n", tmp_path,
                       SandboxLimits(timeout=5, disk_mb=24))
    assert small.passed, small.output


@needs_ns
def test_processes_of_a_sample_together_stay_under_the_memory_limit(tmp_path):
    src = ("import os, time\nkids = []\n"
           "for _ in range(4):\n"
           "    pid = os.fork()\n"
           "    if pid == 0:\n"
           "        b = bytearray(100 * 2**20)\n"
           "        for j in range(0, len(b), 4096):\n"
           "            b[j] = 1\n"
           "        time.sleep(1.0)\n"
           "        os._exit(0)\n"
           "    kids.append(pid)\n"
           "for pid in kids:\n"
           "    os.waitpid(pid, 0)\n")
    res = run_python(src, tmp_path, SandboxLimits(timeout=8, memory_mb=256, max_processes=16))
    assert res.status == "failed" and "more than 256 MB" in res.output, res
    one = run_python("b = bytearray(100 * 2**20)\nb[::4096] = b'1' * len(b[::4096])\n", tmp_path,
                     SandboxLimits(timeout=8, memory_mb=256))
    assert one.passed, one.output


@pytest.mark.parametrize("timeout", [False, True])
def test_rlimits_mode_leaves_no_background_process_even_after_setsid(tmp_path, timeout):
    src = ("import os, time\n"
           "if os.fork() == 0:\n"
           "    os.setsid()\n"
           "    if os.fork() == 0:\n"
           "        os.setsid()\n"
           "        time.sleep(30)\n"
           "    os._exit(0)\n"
           "time.sleep(0.3)\n"  # the daemon is running by now
           + ("time.sleep(30)\n" if timeout else "print('parent done')\n"))
    res = run_python(src, tmp_path, SandboxLimits(timeout=1.5), isolation="rlimits")
    assert res.status == ("timeout" if timeout else "passed"), res
    deadline = time.monotonic() + 3
    while _procs_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _procs_mentioning(str(tmp_path))
    for pid in left:  # do not leave the test's own leftovers behind when it fails
        os.kill(pid, signal.SIGKILL)
    assert left == []


@pytest.mark.parametrize("mode", MODES)
def test_the_failure_reason_survives_a_lot_of_output(tmp_path, mode):
    src = "for i in range(20000):\n    print('noise line', i)\nassert 1 + 1 == 3, 'the real reason'\n"
    res = run_python(src, tmp_path, FAST, isolation=mode)
    assert res.status == "failed" and "the real reason" in res.output and "noise line 0\n" in res.output
    assert len(res.output) < 5000
