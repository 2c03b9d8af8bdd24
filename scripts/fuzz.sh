#!/usr/bin/env bash
# Runs each libFuzzer target in tests/fuzz/ for a bounded time (default 60 s each):
# the scanner and the JSON redactor must not crash (AddressSanitizer and
# UndefinedBehaviorSanitizer on), and a planted secret must never reach the
# output. Not part of scripts/test.sh.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 300 json_fuzz
#
# Needs clang 19 (Debian 12's clang-14 cannot compile GCC 12's <expected>);
# installs clang-19 and its libFuzzer runtime with apt-get when missing.
# Builds in build-fuzz/; findings (crashing inputs) land in build-fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$source" .cc)"); done
fi

if ! command -v clang++-19 >/dev/null || [ ! -e /usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.fuzzer-x86_64.a ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends clang-19 libclang-rt-19-dev libfuzzer-19-dev
fi

sanitizers="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOUNTERSIGN_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_CXX_FLAGS="$sanitizers" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
ninja -C build-fuzz -j2 "${targets[@]}"

mkdir -p build-fuzz/findings
status=0
for target in "${targets[@]}"; do
  work="build-fuzz/corpus/$target"
  mkdir -p "$work"
  echo "== $target: ${seconds}s"
  # New inputs go to build-fuzz/corpus; the committed seeds stay as they are.
  if ! "build-fuzz/$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="build-fuzz/findings/$target-" -print_final_stats=1 \
      "$work" "tests/fuzz/corpus/$target" 2>"build-fuzz/$target.log"; then
    status=1
    echo "$target FAILED: see build-fuzz/$target.log and build-fuzz/findings/"
  fi
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done )|^#[0-9]+.*DONE' "build-fuzz/$target.log" || true
done
exit $status
