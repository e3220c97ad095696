#!/usr/bin/env bash
# Tests tools/ab_grid.sh and bench/compare_results.py without a GPU: a stand-in for flashmla-bench
# writes a two-row grid table whose times come from its environment and from how often it ran,
# so the expected comparison is known exactly.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
export PYTHON
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect FILE PATTERN: FILE has a line matching the extended regex PATTERN.
expect() {
  grep -Eq -- "$2" "$1" || { fail "$1 lacks /$2/"; sed 's/^/    /' "$1"; }
}

# The stand-in: `fake-bench --grid --out FILE --commit C [--rows ...]`, refusing any other
# argument as flashmla-bench does. Row times are BASE_US * FAKE_SCALE, plus 20% on the first run
# counted in the file FAKE_COUNTER names (a cold first round).
cat >"${WORK}/fake-bench" <<'EOF'
#!/usr/bin/env bash
set -eu
out="" commit=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --commit) commit="$2"; shift 2 ;;
    --grid) shift ;;
    --rows) [[ "$2" =~ ^[0-9,]+$ ]] || { echo "bad --rows '$2'" >&2; exit 2; }; shift 2 ;;
    *) echo "fake-bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
counter="${FAKE_COUNTER:?}"
runs=$(( $(cat "${counter}" 2>/dev/null || echo 0) + 1 ))
echo "${runs}" >"${counter}"
cold=$([[ ${runs} == 1 ]] && echo 1.2 || echo 1.0)
{
  echo "commit,gpu,dtype,b,s_q,s_k,h_q,h_kv,varlen,time_us,tflops,gbs,roofline_pct,copy_gbs,gemm_tflops,max_rel_err"
  for base in 100 400; do
    t=$(awk -v b="${base}" -v s="${FAKE_SCALE:-1}" -v c="${cold}" 'BEGIN { printf "%.1f", b * s * c }')
    pct=$(awk -v t="${t}" -v b="${base}" 'BEGIN { printf "%.1f", 90 * b / t }')
    echo "${commit},h100,bf16,128,1,${base}0,128,1,0,${t},1,1,${pct},3000,800,1e-3"
  done
} >"${out}"
EOF
chmod +x "${WORK}/fake-bench"
bench="${WORK}/fake-bench"

# 1. One binary, B at 0.8x through ENV_B; three rounds; each side's cold first run is ignored.
FAKE_COUNTER="${WORK}/count1" ROUNDS=3 ENV_A="FAKE_COUNTER=${WORK}/a.count" \
  ENV_B="FAKE_COUNTER=${WORK}/b.count FAKE_SCALE=0.8" COMMIT_A=base COMMIT_B=cand \
  "${ROOT}/tools/ab_grid.sh" "${WORK}/ab1" "${bench}" "${bench}" --rows 0,1 >"${WORK}/ab1.out" 2>&1 ||
  fail "ab_grid.sh exited non-zero (case 1)"
for f in a_1 a_2 a_3 b_1 b_2 b_3; do [[ -s "${WORK}/ab1/${f}.csv" ]] || fail "no ${f}.csv"; done
expect "${WORK}/ab1/compare.txt" '^before: .*\(base\) +after: .*\(cand\)'
expect "${WORK}/ab1/compare.txt" 'bf16 b=128 s_q=1 s_k=1000 h_q=128 +100\.0 +80\.0 +0\.800'
expect "${WORK}/ab1/compare.txt" 'geomean 0\.8000 over 2 rows'
expect "${WORK}/ab1/compare.txt" 'b=128 rows after: +geomean 112\.5%'

# 2. Which run counts: A's runs 1, 1, 2 are 120, 120, 100 (x4 on the second row): the median is
# the cold one, the default (min) the warm one.
a_runs="${WORK}/ab1/a_1.csv,${WORK}/ab1/a_1.csv,${WORK}/ab1/a_2.csv"
"${PYTHON}" "${ROOT}/bench/compare_results.py" --across median "${a_runs}" "${WORK}/ab1/b_2.csv" \
  >"${WORK}/median.txt" 2>&1 || fail "compare_results.py --across median"
expect "${WORK}/median.txt" 's_k=4000 h_q=128 +480\.0 +320\.0 +0\.667'
"${PYTHON}" "${ROOT}/bench/compare_results.py" "${a_runs}" "${WORK}/ab1/b_2.csv" >"${WORK}/min.txt" 2>&1 ||
  fail "compare_results.py (min)"
expect "${WORK}/min.txt" 's_k=4000 h_q=128 +400\.0 +320\.0 +0\.800'

# 3. A single round with no settings: identical sides compare at 1.0000.
FAKE_COUNTER="${WORK}/count3" ROUNDS=1 "${ROOT}/tools/ab_grid.sh" "${WORK}/ab3" "${bench}" "${bench}" \
  >"${WORK}/ab3.out" 2>&1 || fail "ab_grid.sh exited non-zero (case 3)"
# The shared counter makes A's only run the cold one: B is 1/1.2 of it.
expect "${WORK}/ab3/compare.txt" 'geomean 0\.8333 over 2 rows'

# 4. Errors: a missing binary, too few arguments, an unreadable table.
"${ROOT}/tools/ab_grid.sh" "${WORK}/ab4" "${WORK}/missing" "${bench}" >/dev/null 2>&1
[[ $? == 2 ]] || fail "a missing binary should exit 2"
"${ROOT}/tools/ab_grid.sh" "${WORK}/ab4" >/dev/null 2>&1
[[ $? == 2 ]] || fail "too few arguments should exit 2"
"${PYTHON}" "${ROOT}/bench/compare_results.py" "${WORK}/none.csv" "${WORK}/ab1/b_1.csv" >/dev/null 2>&1
[[ $? == 2 ]] || fail "an unreadable table should exit 2"

if ((failures)); then
  echo "${failures} check(s) failed"
  exit 1
fi
echo "tools/ab_grid.sh and bench/compare_results.py: all checks passed"
