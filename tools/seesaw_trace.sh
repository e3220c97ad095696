#!/usr/bin/env bash
# Builds flashmla-bench with the seesaw kernel's timeline compiled in (src/sm90/seesaw_trace.cuh),
# in its own build tree, for performance work; the normal builds never contain it.
#
#   tools/seesaw_trace.sh [BUILD_DIR]        (default build/trace)
#
# Then, on a GPU host (plain launches: the trace cannot be read back under graph capture):
#   FLASHMLA_SEESAW_TRACE_FILE=/tmp/t.bin BUILD_DIR/bench/flashmla-bench --b 128 --s_k 8192 --h_q 128 --iters 3
#   python3 tools/seesaw_trace.py /tmp/t.bin
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-${root}/build/trace}"
nvcc_path="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
cmake -S "${root}" -B "${build}" -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="${nvcc_path}" -DCMAKE_CUDA_FLAGS="-DFLASHMLA_SEESAW_TRACE" \
  -DFLASHMLA_BUILD_TESTS=OFF -DFLASHMLA_BUILD_BENCH=ON -DFLASHMLA_BUILD_C_API=OFF >/dev/null
cmake --build "${build}" -j"$(nproc)" --target flashmla-bench
