#!/usr/bin/env bash
# Configures and builds flashmla with the Hopper backend on a GPU host: Release, FLASHMLA_CUDA=ON,
# all cores, tests on (off, with a notice, where GoogleTest is missing), no C API (the Python
# package builds its own). tools/gpu_session.sh and tools/soak.sh share its build tree, so a second
# call with the same options only rebuilds what changed.
#
#   tools/build_cuda.sh [BUILD_DIR] [TARGET...]
#
# BUILD_DIR defaults to $FLASHMLA_BUILD_DIR, else build/gpu. TARGETs limit the build (default all).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-${FLASHMLA_BUILD_DIR:-${root}/build/gpu}}"
shift || true

nvcc_path="$(command -v nvcc || true)"
if [[ -z "${nvcc_path}" && -x /usr/local/cuda/bin/nvcc ]]; then nvcc_path=/usr/local/cuda/bin/nvcc; fi
if [[ -z "${nvcc_path}" ]]; then
  echo "tools/build_cuda.sh: nvcc not found (install CUDA 13 or put it on PATH)" >&2
  exit 1
fi

configure() {
  cmake -S "${root}" -B "${build}" -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="${nvcc_path}" -DFLASHMLA_BUILD_TESTS="$1" -DFLASHMLA_BUILD_BENCH=ON \
    -DFLASHMLA_BUILD_C_API=OFF
}
echo "== configure ${build} (nvcc: ${nvcc_path})"
if ! configure ON; then
  # A bare GPU host may lack GoogleTest: the library and the benchmark still build.
  echo "tools/build_cuda.sh: NOTICE: configure with tests failed (GoogleTest missing?);" \
    "building without tests, so flashmla_gpu_tests and flashmla_gpu_soak will be missing"
  configure OFF
fi

targets=()
for t in "$@"; do targets+=(--target "${t}"); done
echo "== build (-j$(nproc)${targets[*]:+ ${targets[*]}})"
cmake --build "${build}" -j"$(nproc)" ${targets[@]+"${targets[@]}"}
