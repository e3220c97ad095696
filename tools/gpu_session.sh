#!/usr/bin/env bash
# shellcheck disable=SC2317  # the step_* functions are called through `bash -c`
# Everything a session on a Hopper GPU host needs, in one call: build, tests, sanitizers, the
# benchmark grid, the Python package, the input-checking cost and the soak. Each step runs under a
# timeout with its log in OUTDIR; a failed step does not stop the later ones. At the end a summary
# table is printed; OUTDIR/summary.txt holds it too and is rewritten after every step, so a run
# cut short still leaves one.
#
#   tools/gpu_session.sh OUTDIR [flashmla-bench --grid options, e.g. --rows 0,1 --iters 10]
#
# Steps, always in this order (choose with STEPS):
#   build      tools/build_cuda.sh: Release, CUDA, all cores, in $FLASHMLA_BUILD_DIR
#              (default build/gpu)                                       build.log
#   tests      flashmla_gpu_tests, all tests                             gpu_tests.log, gpu_tests.xml
#   variant    another kernel choice (FLASHMLA_DECODE_KERNEL=$VARIANT, default seesaw: the seesaw
#              kernel on every shape): the GPU tests (edge cases, runtime, grid) and racecheck on
#              $SANITIZE_FILTER, then, only if both pass, the benchmark grid with it
#                                      variant_tests.log, variant_racecheck.log, variant_grid.log,
#                                      variant/<gpu>.csv
#   checkcost  flashmla_gpu_soak --check-cost (~1 min; before the long steps because
#              docs/errors.md waits for its figures)                      checkcost.log
#   sanitize   compute-sanitizer memcheck and racecheck on $SANITIZE_FILTER, with row-tile pairs
#              forced (FLASHMLA_SEESAW_CLUSTER=2) so that small-batch tests run them too
#                                                                        memcheck.log, racecheck.log
#   bench      flashmla-bench: the default shape, then --grid            demo.log, grid.log, <gpu>.csv
#   python     tools/test_python.sh: builds the flash_mla package, pytest   python.log
#   pybench    bench/bench_python.py on the grid against naive PyTorch
#                                                              pybench.log, python-bench-<gpu>.csv
#   soak       flashmla_gpu_soak --minutes $SOAK_MINUTES (last: it takes the time that is left)
#                                                                        soak.log
# Also written: env.txt (GPU, toolkit, versions, knobs), summary.txt.
#
# Environment knobs:
#   STEPS            comma-separated subset of the steps above (default: all)
#   VARIANT          FLASHMLA_DECODE_KERNEL value of the variant step (default seesaw)
#   SOAK_MINUTES     soak length (default 10)
#   BUDGET_S         wall-clock budget of the whole run in seconds (default 0: none). Each step's
#                    timeout is cut to what is left, a step with less than 60 s left is skipped and
#                    the soak shrinks to fit. Set it below the limit of whatever runs this script
#                    (e.g. BUDGET_S=570 under a 600 s limit) so that the summary is always written.
#   TIMEOUT_<NAME>   one step's timeout in seconds, NAME as in the summary table: BUILD, TESTS,
#                    CHECKCOST, MEMCHECK, RACECHECK, DEMO, GRID, PYTHON, PYBENCH, SOAK (e.g.
#                    TIMEOUT_TESTS=2400; VARIANT_TESTS, VARIANT_RACECHECK, VARIANT_GRID likewise;
#                    defaults in the run_step calls at the end)
#   FLASHMLA_COMMIT  commit id for the CSVs (default: git rev-parse; 'unknown' without .git)
#   SANITIZE_FILTER  gtest filter of the sanitizer runs
#   PYBENCH_ARGS     extra arguments of bench/bench_python.py
#   FLASHMLA_BUILD_DIR  the CMake build tree (default build/gpu)
#   ARCHIVE          also pack OUTDIR into this .tgz at the end (the device tool returns a
#                    limited number of files per call: one archive carries every log)
# Exit status: 0 when every selected step passed, 1 otherwise.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  [[ $# -lt 1 ]] && exit 2 || exit 0
fi
mkdir -p "$1" || exit 2
OUTDIR="$(cd "$1" && pwd)"
shift
GRID_ARGS_STR="$*"  # plain tokens (row lists, counts): word-split again in step_bench

ALL_STEPS="build,tests,variant,checkcost,sanitize,bench,python,pybench,soak"
VARIANT="${VARIANT:-seesaw}"
STEPS="${STEPS:-${ALL_STEPS}}"
SOAK_MINUTES="${SOAK_MINUTES:-10}"
BUDGET_S="${BUDGET_S:-0}"
BUILD_DIR="${FLASHMLA_BUILD_DIR:-${ROOT}/build/gpu}"
SANITIZE_FILTER="${SANITIZE_FILTER:-GpuEdgeCases.SingleSequenceLengths:GpuEdgeCases.MixedLengths*:GpuEdgeCases.TwoKv*:GpuRuntime.Graph*}"
PYBENCH_ARGS="${PYBENCH_ARGS:-}"
PY_SITE="${ROOT}/build-python/session/site"
FLASHMLA_COMMIT="${FLASHMLA_COMMIT:-$(git -C "${ROOT}" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
export VARIANT ROOT OUTDIR GRID_ARGS_STR BUILD_DIR SANITIZE_FILTER PYBENCH_ARGS PY_SITE FLASHMLA_COMMIT
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"  # the Python package's CMake build, too
export CMAKE_BUILD_PARALLEL_LEVEL

for s in ${STEPS//,/ }; do
  if [[ ",${ALL_STEPS}," != *",${s},"* ]]; then
    echo "tools/gpu_session.sh: unknown step '${s}' in STEPS (known: ${ALL_STEPS})" >&2
    exit 2
  fi
done

# "h100" from "NVIDIA H100 80GB HBM3": the name the benchmark CSVs are committed under.
GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 |
  tr '[:upper:]' '[:lower:]' | grep -o 'h[0-9]\{2,3\}' | head -1 || true)"
# compute-sanitizer: on PATH, beside nvcc, or in the toolkit's compute-sanitizer/ folder.
SANITIZER="$(command -v compute-sanitizer || true)"
nvcc_dir="$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")"
for dir in "${nvcc_dir}" "${nvcc_dir}/../compute-sanitizer" "${CUDA_HOME:-/usr/local/cuda}/bin" \
  "${CUDA_HOME:-/usr/local/cuda}/compute-sanitizer" /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer; do
  [[ -z "${SANITIZER}" && -x "${dir}/compute-sanitizer" ]] && SANITIZER="$(cd "${dir}" && pwd)/compute-sanitizer"
done
export GPU_NAME SANITIZER

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host: $(hostname)  cores: $(nproc)"
  echo "commit: ${FLASHMLA_COMMIT}  gpu name: ${GPU_NAME:-?}"
  echo "STEPS=${STEPS} SOAK_MINUTES=${SOAK_MINUTES} BUDGET_S=${BUDGET_S} grid args: ${GRID_ARGS_STR}"
  echo "build dir: ${BUILD_DIR}  compute-sanitizer: ${SANITIZER:-not found}"
  echo; nvidia-smi 2>&1 || echo "nvidia-smi failed"
  echo; if command -v nvcc >/dev/null; then nvcc --version; else /usr/local/cuda/bin/nvcc --version; fi 2>&1
  echo; cmake --version 2>&1 | head -1
  python3 -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
    "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())' 2>&1 | tail -1
} >"${OUTDIR}/env.txt" 2>&1

# --- Steps: each runs in a child bash under `timeout`, with the exported variables above. ---------

step_build() { "${ROOT}/tools/build_cuda.sh" "${BUILD_DIR}"; }

step_tests() {
  "${BUILD_DIR}/tests/flashmla_gpu_tests" --gtest_output="xml:${OUTDIR}/gpu_tests.xml"
}

step_checkcost() { "${BUILD_DIR}/tests/flashmla_gpu_soak" --check-cost; }

sanitize() {  # TOOL
  if [[ -z "${SANITIZER}" ]]; then
    echo "compute-sanitizer not found (PATH, beside nvcc, \$CUDA_HOME/{bin,compute-sanitizer})"
    return 1
  fi
  FLASHMLA_SEESAW_CLUSTER=2 "${SANITIZER}" --tool "$1" --error-exitcode 3 --print-limit 50 \
    "${BUILD_DIR}/tests/flashmla_gpu_tests" --gtest_filter="${SANITIZE_FILTER}"
}
step_memcheck() { sanitize memcheck; }
step_racecheck() { sanitize racecheck; }

step_demo() { "${BUILD_DIR}/bench/flashmla-bench"; }

step_grid() {
  local gpu_name_arg=()
  [[ -n "${GPU_NAME}" ]] && gpu_name_arg=(--gpu-name "${GPU_NAME}")
  # shellcheck disable=SC2086  # GRID_ARGS_STR holds plain tokens
  "${BUILD_DIR}/bench/flashmla-bench" --grid "${gpu_name_arg[@]}" --out "${OUTDIR}/" \
    --commit "${FLASHMLA_COMMIT}" ${GRID_ARGS_STR}
}

step_python() { FLASHMLA_PY_DIR="${PY_SITE}" "${ROOT}/tools/test_python.sh"; }

step_pybench() {
  if [[ ! -d "${PY_SITE}/flash_mla" ]]; then
    echo "no flash_mla package in ${PY_SITE}: the python step builds it"
    return 1
  fi
  # shellcheck disable=SC2086  # PYBENCH_ARGS holds plain tokens
  PYTHONPATH="${PY_SITE}${PYTHONPATH:+:${PYTHONPATH}}" python3 "${ROOT}/bench/bench_python.py" \
    --commit "${FLASHMLA_COMMIT}" --csv "${OUTDIR}/python-bench-${GPU_NAME:-gpu}.csv" ${PYBENCH_ARGS}
}

# Another kernel choice, selected by the environment (read once per process; src/sm90/decode.cu).
step_variant_tests() {
  FLASHMLA_DECODE_KERNEL="${VARIANT}" "${BUILD_DIR}/tests/flashmla_gpu_tests" \
    --gtest_filter='GpuEdgeCases.*:GpuRuntime.*:*GpuGrid*'
}
step_variant_racecheck() { FLASHMLA_DECODE_KERNEL="${VARIANT}" sanitize racecheck; }
step_variant_grid() {
  mkdir -p "${OUTDIR}/variant"
  local gpu_name_arg=()
  [[ -n "${GPU_NAME}" ]] && gpu_name_arg=(--gpu-name "${GPU_NAME}")
  # shellcheck disable=SC2086  # GRID_ARGS_STR holds plain tokens
  FLASHMLA_DECODE_KERNEL="${VARIANT}" "${BUILD_DIR}/bench/flashmla-bench" --grid "${gpu_name_arg[@]}" \
    --out "${OUTDIR}/variant/" --commit "${FLASHMLA_COMMIT}+${VARIANT}" ${GRID_ARGS_STR}
}

step_soak() { "${BUILD_DIR}/tests/flashmla_gpu_soak" --minutes "${SOAK_EFFECTIVE_MINUTES}"; }

export -f step_build step_tests step_checkcost sanitize step_memcheck step_racecheck step_demo \
  step_grid step_python step_pybench step_soak step_variant_tests step_variant_racecheck step_variant_grid

# One line of a log that says how a step went.
result_of() {  # NAME LOG
  local log="$2"
  [[ -f "${log}" ]] || return 0
  case "$1" in
    build) grep -m1 -E 'error|NOTICE' "${log}" | cut -c1-100 ;;
    tests|variant_tests) grep -E '^\[  (PASSED  |FAILED  |SKIPPED )\] [0-9]+ test' "${log}" |
      sed 's/, listed below://' | tr -s ' ' | paste -sd' ' ;;
    memcheck) grep -m1 -E 'ERROR SUMMARY' "${log}" ;;
    racecheck|variant_racecheck) grep -m1 -E 'RACECHECK SUMMARY|ERROR SUMMARY' "${log}" ;;
    demo) grep -E '^(rate|check):' "${log}" | cut -c1-60 | paste -sd' ' ;;
    variant_grid) local csv="${OUTDIR}/variant/${GPU_NAME:-gpu}.csv"
      if [[ -f "${csv}" ]]; then echo "$(($(wc -l <"${csv}") - 1)) rows in variant/$(basename "${csv}")"; fi ;;
    grid) local csv="${OUTDIR}/${GPU_NAME:-gpu}.csv"
      if [[ -f "${csv}" ]]; then echo "$(($(wc -l <"${csv}") - 1)) rows in $(basename "${csv}")"; fi ;;
    python) grep -E '(passed|failed|error|SKIP)' "${log}" | tail -1 | cut -c1-100 ;;
    pybench) local csv="${OUTDIR}/python-bench-${GPU_NAME:-gpu}.csv"
      if [[ -f "${csv}" ]]; then echo "$(($(wc -l <"${csv}") - 1)) rows in $(basename "${csv}")"; fi ;;
    checkcost) grep -m1 'input checking adds' "${log}" | sed 's/^check-cost: //' ;;
    soak) grep -E '^soak: [0-9]+ cases' "${log}" | tail -1 ;;
  esac
}

START=${SECONDS}
SUMMARY=()
FAILED=0

write_summary() {
  {
    echo "== gpu_session summary: commit ${FLASHMLA_COMMIT}, gpu ${GPU_NAME:-?}, $((SECONDS - START)) s, logs in ${OUTDIR}"
    printf '%-10s %-14s %6s  %-15s %s\n' step status time log result
    for line in "${SUMMARY[@]+"${SUMMARY[@]}"}"; do echo "${line}"; done
  } >"${OUTDIR}/summary.txt"
}

selected() { [[ ",${STEPS}," == *",$1,"* ]]; }

# run_step NAME LOG DEFAULT_TIMEOUT: runs step_NAME under timeout, records its outcome.
run_step() {
  local name="$1" log="$2" limit="$3"
  local var="TIMEOUT_${name^^}"
  limit="${!var:-${limit}}"
  if ((BUDGET_S > 0)); then
    local left=$((BUDGET_S - (SECONDS - START)))
    if ((left < 60)); then
      SUMMARY+=("$(printf '%-10s %-14s %6s  %-15s %s' "${name}" "skipped" "-" "-" "budget spent (${left} s left)")")
      echo "== ${name}: skipped, ${left} s of the budget left"
      FAILED=1
      write_summary
      return
    fi
    ((limit > left - 10)) && limit=$((left - 10))
  fi
  echo "== ${name} (timeout ${limit} s); log: ${OUTDIR}/${log}"
  local t0=${SECONDS} rc=0
  timeout --kill-after=20 "${limit}" bash -c "set -o pipefail; step_${name}" >"${OUTDIR}/${log}" 2>&1 || rc=$?
  local status=ok
  if ((rc == 124 || rc == 137)); then status="TIMEOUT"; elif ((rc != 0)); then status="FAILED (${rc})"; fi
  ((rc != 0)) && FAILED=1
  local result
  result="$(result_of "${name}" "${OUTDIR}/${log}")"
  # A step that failed without its usual result line: its last words say why.
  if [[ -z "${result}" && "${status}" != ok ]]; then
    result="$(grep -v '^[[:space:]]*$' "${OUTDIR}/${log}" | tail -1 | cut -c1-100)"
  fi
  SUMMARY+=("$(printf '%-10s %-14s %5ss  %-15s %s' "${name}" "${status}" "$((SECONDS - t0))" "${log}" "${result}")")
  echo "   ${status} in $((SECONDS - t0)) s${result:+: ${result}}"
  if [[ "${status}" != ok ]]; then tail -5 "${OUTDIR}/${log}" | sed 's/^/   | /'; fi
  write_summary
}

echo "tools/gpu_session.sh: steps ${STEPS}; commit ${FLASHMLA_COMMIT}; gpu ${GPU_NAME:-?}; logs in ${OUTDIR}"
selected build && run_step build build.log 1500
selected tests && run_step tests gpu_tests.log 1800
if selected variant; then
  failed_before=${FAILED}
  FAILED=0
  run_step variant_tests variant_tests.log 900
  run_step variant_racecheck variant_racecheck.log 900
  # Correct first: the variant is timed only when it passed the tests and racecheck.
  if ((FAILED == 0)); then
    run_step variant_grid variant_grid.log 1200
  else
    SUMMARY+=("$(printf '%-10s %-14s %6s  %-15s %s' variant_grid skipped - - "variant tests or racecheck failed")")
    write_summary
  fi
  ((failed_before)) && FAILED=1
fi
selected checkcost && run_step checkcost checkcost.log 600
if selected sanitize; then
  run_step memcheck memcheck.log 900
  run_step racecheck racecheck.log 900
fi
if selected bench; then
  run_step demo demo.log 300
  run_step grid grid.log 1500
fi
selected python && run_step python python.log 1500
selected pybench && run_step pybench pybench.log 1200
if selected soak; then
  SOAK_EFFECTIVE_MINUTES="${SOAK_MINUTES}"
  if ((BUDGET_S > 0)); then
    # Leave a minute for the soak's last case and the summary.
    left_min=$(((BUDGET_S - (SECONDS - START) - 60) / 60))
    if awk -v l="${left_min}" -v m="${SOAK_MINUTES}" 'BEGIN { exit !(l < m) }'; then
      SOAK_EFFECTIVE_MINUTES="$((left_min > 0 ? left_min : 0))"
      echo "== soak shortened to ${SOAK_EFFECTIVE_MINUTES} min to fit BUDGET_S=${BUDGET_S}"
    fi
  fi
  export SOAK_EFFECTIVE_MINUTES
  soak_limit="$(awk -v m="${SOAK_EFFECTIVE_MINUTES}" 'BEGIN { printf "%d", m * 60 + 180 }')"
  if [[ "${SOAK_EFFECTIVE_MINUTES}" == 0 ]]; then
    SUMMARY+=("$(printf '%-10s %-14s %6s  %-15s %s' soak skipped - - "no whole minute of the budget left")")
    FAILED=1
    write_summary
  else
    run_step soak soak.log "${soak_limit}"
  fi
fi

write_summary
echo
cat "${OUTDIR}/summary.txt"
if [[ -n "${ARCHIVE:-}" ]]; then
  tar czf "${ARCHIVE}" -C "$(dirname "${OUTDIR}")" "$(basename "${OUTDIR}")" &&
    echo "logs packed into ${ARCHIVE}"
fi
exit "${FAILED}"
