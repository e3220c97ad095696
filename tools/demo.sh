#!/usr/bin/env bash
# The main job: build only what flashmla-bench needs (Release; no tests, no C API) and run it.
# With nvcc present the Hopper backend is built too and used when an sm_90 GPU is there; otherwise
# the CPU backend runs a small default shape in a few seconds. Arguments go to flashmla-bench
# (e.g. tools/demo.sh --b 8 --s_k 4096). Set FLASHMLA_CUDA=ON|OFF to override the detection.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${root}/build/release"

nvcc_path="$(command -v nvcc || true)"
if [[ -z "${nvcc_path}" && -x /usr/local/cuda/bin/nvcc ]]; then
  nvcc_path=/usr/local/cuda/bin/nvcc
fi
cuda="${FLASHMLA_CUDA:-}"
if [[ -z "${cuda}" ]]; then
  if [[ -n "${nvcc_path}" ]]; then cuda=ON; else cuda=OFF; fi
fi
cuda_args=()
if [[ "${cuda}" != OFF && -n "${nvcc_path}" ]]; then
  cuda_args=(-DCMAKE_CUDA_COMPILER="${nvcc_path}")
fi

echo "== configure (${build}, FLASHMLA_CUDA=${cuda})"
cmake -S "${root}" -B "${build}" -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_CUDA="${cuda}" \
  -DFLASHMLA_BUILD_TESTS=OFF -DFLASHMLA_BUILD_BENCH=ON -DFLASHMLA_BUILD_C_API=OFF \
  ${cuda_args[@]+"${cuda_args[@]}"} >/dev/null
echo "== build flashmla-bench"
cmake --build "${build}" -j"$(nproc)" --target flashmla-bench
echo "== run"
exec "${build}/bench/flashmla-bench" "$@"
