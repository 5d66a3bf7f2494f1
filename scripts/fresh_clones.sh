#!/usr/bin/env bash
# Before an issue is called done: the README's two commands, word for word, on fresh clones of main,
# each in a new virtual environment, three runs in a row; the second while another process keeps one
# core busy, the third as CI runs it (`CI=true bash .ci/run`, the same test command). Each run's
# times, exit statuses and the processes it left behind land in WORK/runN.log, its output beside.
#   bash scripts/fresh_clones.sh [WORK]      # WORK: a scratch folder, /tmp/fresh-clones by default
set -u
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/fresh-clones}"
mkdir -p "$work"
for i in 1 2 3; do
    clone="$work/clone$i" log="$work/run$i.log"
    rm -rf "$clone" && git clone -q "$repo" "$clone" && cd "$clone" || exit 1
    python -m venv .venv && . .venv/bin/activate
    busy=""
    [ "$i" = 2 ] && { (while :; do :; done) & busy=$!; }
    echo "run $i of $(git rev-parse --short HEAD), start $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)" >"$log"
    { time (pip install -q -e . && lit-classifier fit); } >"$work/run$i.fit.out" 2>&1
    echo "fit: exit $? at $(date +%T)" >>"$log"
    if [ "$i" = 3 ]; then
        { time (CI=true bash .ci/run); } >"$work/run$i.test.out" 2>&1
    else
        { time (pip install -e ".[dev]" && ruff check . && mypy && python -m pytest -n 2); } >"$work/run$i.test.out" 2>&1
    fi
    echo "tests: exit $? at $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)" >>"$log"
    [ -n "$busy" ] && kill "$busy"
    grep -E "^(real|=+ .* in )" "$work/run$i.fit.out" "$work/run$i.test.out" >>"$log"
    echo "processes left behind: $(pgrep -f "$clone" | wc -l)" >>"$log"
    deactivate
    cd "$work" || exit 1
done
cat "$work"/run?.log
