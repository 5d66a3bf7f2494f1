#!/usr/bin/env bash
# The GPU checks of issue #5 in one command, for a session lent a GPU machine (see
# /work/.library/device/README.md). That machine has torch, lightning and torchmetrics but not
# jsonargparse, so its wheels travel with the tree. Once, here, in the repo root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#       jsonargparse==4.53.* docstring-parser typeshed-client
# (pure-Python wheels; `unzip -p .whl/NAME-*.whl '*/METADATA' | grep ^Requires-Dist` lists any
# other need). Then run this script with `.whl` carried:
#   run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=600)
# It runs the GPU tests, then the benchmark, whose table lands in benchmarks/results/ (and in
# $OUT when set); commit that file and copy its table into README "Performance".
set -euo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD/src"  # the package from the tree itself: no build step there
# A failing GPU test is reported, and the benchmark still runs.
python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_speed.py tests/test_nonfinite.py 2>&1 \
    | tee "${OUT:-/tmp}/gpu_tests.log" || true
python3 benchmarks/throughput.py --device cuda --rounds 5 --save 2>&1 | tee "${OUT:-/tmp}/throughput.log"
cp benchmarks/results/*.md "${OUT:-/tmp}/" 2>/dev/null || true
