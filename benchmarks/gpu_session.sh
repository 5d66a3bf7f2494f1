#!/usr/bin/env bash
# Every GPU check and benchmark in one command, for a machine with one CUDA GPU whose python3 has
# torch, lightning, torchmetrics and torchvision but not jsonargparse: its pure-Python wheels
# travel with the tree, in .whl/ (ignored by git). Once, on a machine with internet, in the repo root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#       jsonargparse==4.53.* docstring-parser typeshed-client
# (`unzip -p .whl/NAME-*.whl '*/METADATA' | grep ^Requires-Dist` lists any other need). Then, on the
# GPU machine, from the repo root: bash benchmarks/gpu_session.sh
# It runs the GPU tests, then the throughput benchmark, whose table lands in benchmarks/results/
# (and in $OUT when set); commit that file and quote its ratios in docs/performance.md.
set -euo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD/src"  # the package from the tree itself: no build step there
# A failing GPU test is reported, and the benchmark still runs.
python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_speed.py tests/test_nonfinite.py 2>&1 \
    | tee "${OUT:-/tmp}/gpu_tests.log" || true
python3 benchmarks/throughput.py --device cuda --rounds 5 --save 2>&1 | tee "${OUT:-/tmp}/throughput.log"
cp benchmarks/results/*.md "${OUT:-/tmp}/" 2>/dev/null || true
