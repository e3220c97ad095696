#!/usr/bin/env bash
# Same-call A/B timing of two builds (or of one build under two settings) on a Hopper GPU host:
# runs `flashmla-bench --grid` of A and of B in alternation, ROUNDS times each, so that clock and
# temperature drift fall on both alike, then compares them with bench/compare_results.py (each row
# at its fastest run). Differences of a few percent are only meaningful this way: machines of one
# kind differ by up to ~4% on identical code (bench/NOTES.md).
#
#   tools/ab_grid.sh OUTDIR BENCH_A BENCH_B [flashmla-bench --grid options, e.g. --rows 49,50]
#
# BENCH_A and BENCH_B are flashmla-bench binaries (the same one for a knob's A/B). Written to
# OUTDIR: a_<round>.csv, b_<round>.csv, their logs, compare.txt (the comparison), steps.txt.
#
# Environment knobs:
#   ROUNDS      runs of each side (default 2)
#   ENV_A       settings for A's runs only, e.g. ENV_A="FLASHMLA_Q_TMA=0" (default none)
#   ENV_B       settings for B's runs only
#   COMMIT_A    commit id written into A's CSVs (default 'a'); COMMIT_B likewise ('b')
#   PYTHON      the interpreter of bench/compare_results.py (default python3)
#   BUDGET_S    wall-clock budget in seconds (default 0: none). A round starts only if the
#               rounds so far say it fits; the comparison is written either way.
# Exit status: 0 when at least one round of each side ran and the comparison was written.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  usage
  exit 0
fi
if [[ $# -lt 3 ]]; then
  usage >&2
  exit 2
fi
mkdir -p "$1" || exit 2
OUTDIR="$(cd "$1" && pwd)"
BENCH_A="$2"
BENCH_B="$3"
shift 3
ROUNDS="${ROUNDS:-2}"
BUDGET_S="${BUDGET_S:-0}"
for bench in "${BENCH_A}" "${BENCH_B}"; do
  if [[ ! -x "${bench}" ]]; then
    echo "tools/ab_grid.sh: '${bench}' is not an executable flashmla-bench" >&2
    exit 2
  fi
done
if ! [[ "${ROUNDS}" =~ ^[1-9][0-9]*$ && "${BUDGET_S}" =~ ^[0-9]+$ ]]; then
  echo "tools/ab_grid.sh: ROUNDS must be a positive integer and BUDGET_S a non-negative one" >&2
  exit 2
fi

start=${SECONDS}
log_step() { echo "$(date -u +%T) +$((SECONDS - start))s $*" | tee -a "${OUTDIR}/steps.txt"; }

# run_side SIDE ROUND [grid options]: one grid run of side a or b, with that side's settings.
run_side() {
  local side="$1" round="$2" bench settings commit
  shift 2  # the rest: the grid options
  if [[ "${side}" == a ]]; then
    bench="${BENCH_A}" settings="${ENV_A:-}" commit="${COMMIT_A:-a}"
  else
    bench="${BENCH_B}" settings="${ENV_B:-}" commit="${COMMIT_B:-b}"
  fi
  log_step "${side} round ${round}${settings:+ (${settings})}"
  # shellcheck disable=SC2086  # the settings are NAME=VALUE words for env
  env ${settings} "${bench}" --grid --out "${OUTDIR}/${side}_${round}.csv" --commit "${commit}" "$@" \
    >"${OUTDIR}/${side}_${round}.log" 2>&1
}

a_runs=() b_runs=()
for ((round = 1; round <= ROUNDS; ++round)); do
  elapsed=$((SECONDS - start))
  if ((BUDGET_S > 0 && round > 1 && elapsed + elapsed / (round - 1) > BUDGET_S)); then
    log_step "round ${round} skipped: ${elapsed} s of the ${BUDGET_S} s budget spent"
    break
  fi
  if run_side a "${round}" "$@"; then a_runs+=("${OUTDIR}/a_${round}.csv"); else
    log_step "a round ${round} failed (a_${round}.log)"
  fi
  if run_side b "${round}" "$@"; then b_runs+=("${OUTDIR}/b_${round}.csv"); else
    log_step "b round ${round} failed (b_${round}.log)"
  fi
done

if ((${#a_runs[@]} == 0 || ${#b_runs[@]} == 0)); then
  log_step "no complete run of one side: nothing to compare"
  exit 1
fi
join() { local IFS=,; echo "$*"; }
"${PYTHON:-python3}" "${ROOT}/bench/compare_results.py" "$(join "${a_runs[@]}")" "$(join "${b_runs[@]}")" \
  >"${OUTDIR}/compare.txt" 2>&1
rc=$?
cat "${OUTDIR}/compare.txt"
log_step "done: ${#a_runs[@]} run(s) of a, ${#b_runs[@]} of b"
exit "${rc}"
