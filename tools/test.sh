#!/usr/bin/env bash
# Builds the library with its tests and runs them with CTest. The CPU tests always run; the GPU
# test binary is built when CUDA is found and skips its tests when no Hopper GPU is present.
#   tools/test.sh             FLASHMLA_CUDA=AUTO (CUDA when nvcc is found), build dir build/test
#   tools/test.sh --cpu-only  FLASHMLA_CUDA=OFF: a faster build, build dir build/test-cpu
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cuda=AUTO
build="${root}/build/test"
for arg in "$@"; do
  case "${arg}" in
    --cpu-only) cuda=OFF; build="${root}/build/test-cpu" ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "tools/test.sh: unknown argument '${arg}' (expected --cpu-only)" >&2; exit 2 ;;
  esac
done

cuda_args=()
if [[ "${cuda}" == AUTO && -z "$(command -v nvcc || true)" && -x /usr/local/cuda/bin/nvcc ]]; then
  cuda_args=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi

echo "== configure (${build}, FLASHMLA_CUDA=${cuda})"
cmake -S "${root}" -B "${build}" -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_CUDA="${cuda}" \
  -DFLASHMLA_BUILD_TESTS=ON ${cuda_args[@]+"${cuda_args[@]}"} >/dev/null
echo "== build"
cmake --build "${build}" -j"$(nproc)"
echo "== test"
cd "${build}"
ctest --output-on-failure -j2
