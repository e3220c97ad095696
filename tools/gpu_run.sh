#!/usr/bin/env bash
# For a Hopper GPU host: build with CUDA on all cores, run the GPU tests, then the benchmark grid.
# Logs and the result CSV go to the directory given as $1 (or $OUT):
#   build.log, env.txt, gpu_tests.log, demo.log, grid.log, <gpu>.csv, summary.txt
# Copy <gpu>.csv to bench/results/ to commit it. Extra arguments after $1 go to
# `flashmla-bench --grid` (e.g. --rows 0,1 --iters 10). Exits non-zero when anything failed, after
# running every step it can.
#
# This is tools/gpu_session.sh with STEPS=build,tests,bench; that script runs the whole session
# (sanitizers, Python package, soak, input-checking cost as well) and documents the knobs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
logdir="${1:-${OUT:-}}"
if [[ -z "${logdir}" ]]; then
  echo "usage: tools/gpu_run.sh LOGDIR [flashmla-bench --grid options]  (or set \$OUT)" >&2
  exit 2
fi
shift || true
STEPS="${STEPS:-build,tests,bench}" exec "${root}/tools/gpu_session.sh" "${logdir}" "$@"
