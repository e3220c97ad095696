#!/usr/bin/env bash
# For a Hopper GPU host: build with CUDA on all cores, run the GPU tests, then the benchmark grid.
# Logs and the result CSV go to the directory given as $1 (or $OUT):
#   build.log, nvidia-smi.txt, gpu_tests.log, demo.log, grid.log, <gpu>.csv
# Copy <gpu>.csv to bench/results/ to commit it. Extra arguments after $1 go to
# `flashmla-bench --grid` (e.g. --rows 0,1 --iters 10). Exits non-zero when anything failed, after
# running every step it can.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
logdir="${1:-${OUT:-}}"
if [[ -z "${logdir}" ]]; then
  echo "usage: tools/gpu_run.sh LOGDIR [flashmla-bench --grid options]  (or set \$OUT)" >&2
  exit 2
fi
shift || true
mkdir -p "${logdir}"
logdir="$(cd "${logdir}" && pwd)"
build="${root}/build/gpu"
failed=()

nvcc_path="$(command -v nvcc || true)"
if [[ -z "${nvcc_path}" && -x /usr/local/cuda/bin/nvcc ]]; then nvcc_path=/usr/local/cuda/bin/nvcc; fi
if [[ -z "${nvcc_path}" ]]; then
  echo "tools/gpu_run.sh: nvcc not found (install CUDA 13 or put it on PATH)" | tee "${logdir}/build.log" >&2
  exit 1
fi
(nvidia-smi || true) >"${logdir}/nvidia-smi.txt" 2>&1

# GoogleTest may be missing on a bare GPU host: then build without tests and say so.
tests=ON
configure() {
  cmake -S "${root}" -B "${build}" -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="${nvcc_path}" -DFLASHMLA_BUILD_TESTS="${tests}" \
    -DFLASHMLA_BUILD_C_API=OFF
}
echo "== configure and build (${build}); log: ${logdir}/build.log"
{
  if ! configure; then
    echo "tools/gpu_run.sh: configure with tests failed (GoogleTest missing?); building without tests"
    tests=OFF
    rm -rf "${build}"
    configure
  fi
  cmake --build "${build}" -j"$(nproc)"
} >"${logdir}/build.log" 2>&1 || {
  tail -40 "${logdir}/build.log" >&2
  echo "tools/gpu_run.sh: build failed; see ${logdir}/build.log" >&2
  exit 1
}

if [[ "${tests}" == ON ]]; then
  echo "== GPU tests; log: ${logdir}/gpu_tests.log"
  if ! (cd "${build}" && ctest -L gpu --output-on-failure) >"${logdir}/gpu_tests.log" 2>&1; then
    failed+=("gpu tests")
  fi
  tail -5 "${logdir}/gpu_tests.log"
else
  echo "== GPU tests skipped: built without GoogleTest" | tee "${logdir}/gpu_tests.log"
fi

export FLASHMLA_COMMIT="${FLASHMLA_COMMIT:-$(git -C "${root}" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
bench="${build}/bench/flashmla-bench"
echo "== default shape; log: ${logdir}/demo.log"
"${bench}" >"${logdir}/demo.log" 2>&1 || failed+=("default shape")
cat "${logdir}/demo.log"

echo "== grid (commit ${FLASHMLA_COMMIT}); log: ${logdir}/grid.log"
"${bench}" --grid --out "${logdir}/" "$@" 2>&1 | tee "${logdir}/grid.log" || failed+=("grid")

if ((${#failed[@]})); then
  echo "tools/gpu_run.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "tools/gpu_run.sh: all steps passed; results in ${logdir}"
