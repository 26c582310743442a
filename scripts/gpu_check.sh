#!/usr/bin/env bash
# The GPU check (lab/bench/gpu_check.py) with whatever python and torch the machine has,
# offline: the repo on PYTHONPATH instead of an install. Arguments go through, e.g.
#   scripts/gpu_check.sh                      every part on cuda -> results/gpu/
#   scripts/gpu_check.sh --only crf           one part
#   scripts/gpu_check.sh --device cpu --tiny --out /tmp/gpu   the dry run
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY'
import sys
try:
    import torch
except ImportError:
    sys.exit("gpu_check: torch is not installed here")
major, minor = (int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
if (major, minor) < (2, 1):
    sys.exit(f"gpu_check: needs torch >= 2.1, found {torch.__version__}")
PY
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m lab.bench.gpu_check "$@"
