#!/usr/bin/env bash
# Builds the flash_mla Python package into a private directory and runs its pytest suite.
#
#   tools/test_python.sh [pytest arguments...]
#
# Without PyTorch there is nothing to test: the script says so and exits 0. With PyTorch, a run
# that collects no test (pytest exit code 5) is a failure.
#
# Environment:
#   PYTHON          interpreter (default python3)
#   FLASHMLA_CUDA   AUTO/ON/OFF for the C library build. Default: AUTO where torch sees a CUDA
#                   device, OFF otherwise (so a CPU machine with nvcc does not compile the kernels).
#   FLASHMLA_PY_DIR where the package is installed (default build-python/<mode>/site); the
#                   CMake build tree lives beside it and is reused between runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
cd "$ROOT"

if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
  echo "SKIP: PyTorch is not installed for $PYTHON; the flash_mla Python tests need it" \
       "(pip install torch). Nothing was run."
  exit 0
fi

HAS_GPU="$("$PYTHON" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null)"
if [[ -z "${FLASHMLA_CUDA:-}" ]]; then
  if [[ "$HAS_GPU" == "1" ]]; then FLASHMLA_CUDA=AUTO; else FLASHMLA_CUDA=OFF; fi
fi
export FLASHMLA_CUDA

# The build runs without isolation (GPU hosts have no network), so its backend must be present.
for module in scikit_build_core pytest; do
  if ! "$PYTHON" -c "import $module" >/dev/null 2>&1; then
    package="${module//_/-}"
    [[ "$module" == scikit_build_core ]] && package="scikit-build-core==1.1.2"
    echo "installing missing $package"
    "$PYTHON" -m pip install -q "$package"
  fi
done

MODE_DIR="$ROOT/build-python/cuda-${FLASHMLA_CUDA,,}"
SITE="${FLASHMLA_PY_DIR:-$MODE_DIR/site}"
rm -rf "$SITE"
echo "building flash_mla (FLASHMLA_CUDA=$FLASHMLA_CUDA) into $SITE"
start=$(date +%s)
"$PYTHON" -m pip install --no-build-isolation --no-deps --no-compile -q \
  --target "$SITE" -C "build-dir=$MODE_DIR/cmake" "$ROOT"
echo "built in $(( $(date +%s) - start )) s"

set +e
PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m pytest "$ROOT/tests/python" "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "FAIL: pytest collected no test although PyTorch is installed"
  exit 1
fi
exit $rc
