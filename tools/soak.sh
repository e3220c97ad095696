#!/usr/bin/env bash
# Builds the GPU soak (CUDA, Release, all cores; tools/build_cuda.sh) and runs it on this host's
# Hopper GPU: random valid decode problems on two streams from two host threads at once, each
# checked against the CPU backend (tests/gpu/soak_main.cpp).
#
#   tools/soak.sh [MINUTES] [LOGDIR] [flashmla_gpu_soak options, e.g. --seed 7 --streams 4]
#
# MINUTES defaults to 10. The soak's output goes to the terminal and to LOGDIR/soak.log (default
# build/soak.log), the build's to soak-build.log beside it. The build tree is $FLASHMLA_BUILD_DIR,
# else build/gpu (the one tools/gpu_session.sh uses).
# Exit status: the soak's (0 every case matched, 1 a mismatch or failed call, 2 no usable GPU or
# bad arguments), or 3 when the build failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
minutes="${1:-10}"
logdir="${2:-${root}/build}"
shift 2 || shift $#
mkdir -p "${logdir}"
logdir="$(cd "${logdir}" && pwd)"
build="${FLASHMLA_BUILD_DIR:-${root}/build/gpu}"

echo "== building flashmla_gpu_soak in ${build}; log: ${logdir}/soak-build.log"
if ! "${root}/tools/build_cuda.sh" "${build}" flashmla_gpu_soak >"${logdir}/soak-build.log" 2>&1; then
  tail -30 "${logdir}/soak-build.log" >&2
  echo "tools/soak.sh: build failed; see ${logdir}/soak-build.log" >&2
  exit 3
fi

echo "== soak for ${minutes} minutes; log: ${logdir}/soak.log"
set +e
"${build}/tests/flashmla_gpu_soak" --minutes "${minutes}" "$@" 2>&1 | tee "${logdir}/soak.log"
rc=${PIPESTATUS[0]}
set -e
exit "${rc}"
