#!/usr/bin/env bash
# Builds the libFuzzer target for argument validation and the host scheduler
# (tests/fuzz/fuzz_validation.cpp) with clang, AddressSanitizer and UBSan, and runs it for a number
# of seconds from the committed seed corpus. Installs nothing; exits non-zero on any finding.
#
# Usage: tools/fuzz.sh [seconds]          (default 60)
#   FUZZ_BUILD_DIR  build directory (default: build-fuzz at the repository root)
#   FUZZ_JOBS       parallel compile jobs (default 2)
#
# Needs clang++ and clang's sanitizer/libFuzzer runtimes. On Debian 12 (clang 14):
#   apt-get install -y clang libclang-rt-14-dev
# libclang-rt-14-dev holds libclang_rt.fuzzer-x86_64.a and the ASan/UBSan runtimes; the clang
# package only recommends it, so an install with --no-install-recommends lacks it. For another
# clang version N the package is libclang-rt-N-dev (`apt-file search libclang_rt.fuzzer` finds it).
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ not found; install it with: apt-get install -y clang libclang-rt-14-dev" >&2
  exit 2
fi
clang_major="$(clang++ -dumpversion | cut -d. -f1)"

# A missing runtime shows up only at link time, as an obscure linker error: probe for it first.
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
  >"$probe_dir/probe.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe_dir/probe.cpp" -o "$probe_dir/probe" \
     >"$probe_dir/log" 2>&1; then
  cat "$probe_dir/log" >&2
  echo "fuzz.sh: clang++ cannot link a libFuzzer target; install the runtime with:" >&2
  echo "  apt-get install -y libclang-rt-${clang_major}-dev" >&2
  exit 2
fi

CC=clang CXX=clang++ cmake -S "$root" -B "$build" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFLASHMLA_CUDA=OFF \
  -DFLASHMLA_BUILD_FUZZ=ON \
  -DFLASHMLA_BUILD_TESTS=OFF \
  -DFLASHMLA_BUILD_BENCH=OFF \
  -DFLASHMLA_BUILD_C_API=OFF
cmake --build "$build" --target fuzz_validation -j "${FUZZ_JOBS:-2}"

# New inputs go to a scratch corpus in the build directory: the committed seeds are only read.
mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts"
echo "fuzz.sh: fuzzing for ${seconds}s (crash inputs go to $build/fuzz-artifacts/)"
"$build/tests/fuzz/fuzz_validation" \
  -max_total_time="$seconds" \
  -timeout=30 \
  -rss_limit_mb=4096 \
  -print_final_stats=1 \
  -artifact_prefix="$build/fuzz-artifacts/" \
  "$build/fuzz-corpus" "$root/tests/fuzz/corpus"
