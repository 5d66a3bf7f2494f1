#!/usr/bin/env bash
# Every GPU check and benchmark in one command that fits 10 minutes on one H100 or H200:
#   bash benchmarks/gpu_session.sh                 # on the GPU machine, from the repo root
#   bash benchmarks/gpu_session.sh --device cpu    # the same steps, tiny, on a CPU (tests/ runs this)
#
# Steps (each under its own time limit, so that one that hangs leaves the others their minutes; a
# failing step is reported and the next one still runs; the exit status says whether all passed):
#   gpu-tests    the tests marked `gpu` (no host sync per step, non-finite checks on CUDA)
#   throughput   benchmarks/throughput.py: parity with the hand-written loop on the DataLoader and
#                device-resident paths (SmallCNN and ResNet-18, fp32 and bf16), the bare Lightning
#                loop, the fast path against the classic recipe and an airbench-style eager loop
#                ("best eager": uint8 data on the device, batched crop and flip, bf16, channels_last,
#                fused SGD), peak memory of each
#   augment      `lit-classifier fit` on device-resident data through every augmentation that has a
#                batched device path (flip, crop with padding); augment-test: `test` of its checkpoint
#   fast-config  `lit-classifier fit --config configs/cifar10_fast.yaml` on synthetic CIFAR-shaped
#                data: the whole command, with torch.compile and bf16, as a user runs it
# Logs and tables land in $OUT (or benchmarks/results/gpu-session/ when unset); commit the tables
# and quote them, with the card's name (in each log's first lines), in docs/performance.md.
#
# The machine's python3 has torch, lightning, torchmetrics and torchvision but not jsonargparse:
# its pure-Python wheels travel with the tree, in .whl/ (ignored by git). Once, on a machine with
# internet, in the repo root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#       jsonargparse==4.53.* docstring-parser typeshed-client
set -uo pipefail
export PYTHONUNBUFFERED=1

device=cuda
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --device=*) device="${1#--device=}"; shift ;;
        *) echo "gpu_session.sh: unknown argument $1 (only --device cuda|cpu)" >&2; exit 2 ;;
    esac
done
case "$device" in
    cuda | cpu) ;;
    *) echo "gpu_session.sh: --device must be cuda or cpu, got $device" >&2; exit 2 ;;
esac

out="${OUT:-benchmarks/results/gpu-session}"
mkdir -p "$out"
python=python3
if ! $python -c "import jsonargparse" 2>/dev/null; then
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "gpu_session.sh: jsonargparse is not installed and there are no wheels in .whl/ (see the top of this file)" >&2
        exit 2
    fi
    site="$(mktemp -d)"
    $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl || exit 2
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"  # the tree itself: no build step
work="$(mktemp -d)"  # the runs of the command steps: none is left in the tree
trap 'rm -rf "$work"' EXIT

if [ "$device" = cuda ]; then
    throughput=(--device cuda --rounds 5 --train-size 25000 --bare --noise-floor --save)
    data=(--data lit_classifier.data.SyntheticDataModule --data.train_size 25000 --data.val_size 5000)
    epochs=3
    trainer=(--trainer.accelerator gpu --trainer.devices 1)
    fast=()
else
    throughput=(--device cpu --dataset synthetic --image-size 8 --train-size 128 --batch-size 64 --rounds 1
        --data-paths loader resident --precisions fp32 --fast-path --compile-modes none --bare --noise-floor)
    data=(--data lit_classifier.data.SyntheticDataModule --data.train_size 256 --data.val_size 64
        --data.image_size 8 --data.batch_size 32)
    epochs=1
    trainer=(--trainer.accelerator cpu)
    fast=(--trainer.precision 32-true --speed.compile_mode null --model.optimizer.init_args.fused false)
fi
common=(--trainer.max_epochs "$epochs" --trainer.enable_progress_bar false "${trainer[@]}")
lit=("$python" -m lit_classifier)

machine="$("$python" -c "import torch; print('device:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU', '| torch', torch.__version__)")"
echo "$machine"
declare -a names codes seconds
step() {  # step NAME LIMIT_S FOLDER COMMAND...: run it there, its output in $out/NAME.log, and record how it ended
    local name="$1" limit="$2" folder="$3" start=$SECONDS code
    shift 3
    echo "== $name (at most ${limit} s): $*"
    mkdir -p "$folder"
    {
        echo "# $*"
        echo "$machine"
        timeout --kill-after=10 "$limit" env -C "$folder" "$@"
    } >"$out/$name.log" 2>&1
    code=$?
    tail -n 25 "$out/$name.log"
    names+=("$name")
    codes+=("$code")
    seconds+=("$((SECONDS - start))")
}

step gpu-tests 90 . "$python" -m pytest -q -m gpu -p no:cacheprovider tests/test_speed.py tests/test_nonfinite.py
step throughput 260 . "$python" benchmarks/throughput.py "${throughput[@]}"
saved="$(sed -n 's/^saved //p' "$out/throughput.log")"
[ -n "$saved" ] && cp "$saved" "$out/"
step augment 60 "$work/augment" "${lit[@]}" fit "${data[@]}" --data.gpu_resident true \
    --data.augment.flip true --data.augment.crop_padding 4 "${common[@]}"
step augment-test 60 "$work/augment" "${lit[@]}" test --ckpt_path last
step fast-config 90 "$work/fast" "${lit[@]}" fit --config "$PWD/configs/cifar10_fast.yaml" \
    "${data[@]}" "${common[@]}" "${fast[@]}"

echo
echo "| step | exit | seconds |"
echo "|---|---|---|"
failed=0
for i in "${!names[@]}"; do
    echo "| ${names[$i]} | ${codes[$i]} | ${seconds[$i]} |"
    [ "${codes[$i]}" = 0 ] || failed=1
done
exit $failed
