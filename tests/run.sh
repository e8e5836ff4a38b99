#!/bin/bash
# run.sh -- install what the tests need, build three ways, run every test, and print one closing
# line "N passed, N failed, N skipped" counted from the results (tests/summarize.py).
#   build-ci/gcc    gcc, as shipped: unit tests, then the integration suite
#   build-ci/asan   gcc with ASan+UBSan (halting on the first error): unit tests, then the whole
#                   integration suite again against its sinkholed and sinkhole-check
#   build-ci/fuzz   clang with ASan+UBSan and libFuzzer: every fuzz_* target for SK_FUZZ_SECONDS
#                   from its seed corpus, and every input in tests/fuzz/regress/<target>/ once
# Variables:
#   SK_FUZZ_SECONDS=60           how long each fuzz target runs (default 60; 0 skips the runs,
#                                the regression inputs are still replayed)
#   SK_SKIP_DEPS=1               do not call apt-get (dependencies already installed)
#   SK_SKIP_ASAN=1               leave out the sanitizer build and its runs (quicker local runs)
set -u
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-ci
fuzz_seconds=${SK_FUZZ_SECONDS:-60}
status=0
# One exit code for every sanitizer report, so a test can tell a report from a plain failure
# (tests/integration/skhelpers.py knows it as SAN_EXITCODE).
san_exitcode=86
start_time=$(date +%s)

if [ -z "${SK_SKIP_DEPS:-}" ]; then
  tools/install-deps.sh --test || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }
fi

mkdir -p "$out"
rm -f "$out"/*.xml "$out"/*.result "$out"/fuzz_*.log
rm -rf "$out"/regress-logs
rm -f "$out"/*/meson-logs/testlog.json

# meson setup DIR ARGS..., or the same options applied again to a folder set up before (so that a
# changed option here reaches old build folders too).
setup() {
  local dir=$1
  shift
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

# Sanitizer flags: UBSan halts on its first report (by default it prints and carries on).
san_args=(-Db_sanitize=address,undefined -Db_lundef=false)

echo "== build (gcc)"
setup build-ci/gcc -Ddnstap=enabled -Dnats=enabled || status=1
ninja -C build-ci/gcc || status=1

if [ -z "${SK_SKIP_ASAN:-}" ]; then
  echo "== build (gcc, ASan+UBSan)"
  setup build-ci/asan -Ddnstap=enabled -Dnats=enabled "${san_args[@]}" -Dc_args=-fno-sanitize-recover=undefined || status=1
  ninja -C build-ci/asan || status=1
fi

echo "== build (clang, ASan+UBSan, fuzzing)"
CC=clang setup build-ci/fuzz -Ddnstap=enabled -Dnats=enabled -Dfuzzing=true "${san_args[@]}" \
  "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined" || status=1
ninja -C build-ci/fuzz || status=1

echo "== unit tests (gcc)"
meson test -C build-ci/gcc --suite unit --print-errorlogs || status=1

# What the sanitized binaries run with, here and under pytest: one exit code for any report,
# stack traces for UBSan, leaks checked at exit.
export ASAN_OPTIONS="exitcode=$san_exitcode:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=$san_exitcode"
export LSAN_OPTIONS="exitcode=$san_exitcode"

if [ -z "${SK_SKIP_ASAN:-}" ]; then
  echo "== unit tests (ASan+UBSan)"
  meson test -C build-ci/asan --suite unit --print-errorlogs --timeout-multiplier 3 || status=1
fi

echo "== fuzzing (${fuzz_seconds}s per target)"
for target in build-ci/fuzz/tests/fuzz/fuzz_*; do
  [ -f "$target" ] && [ -x "$target" ] || continue
  name=$(basename "$target")
  short=${name#fuzz_}
  # Inputs that once broke the target: each run once (libFuzzer runs the files it is given),
  # each one a test result.
  mkdir -p "$out/regress-logs"
  for input in tests/fuzz/regress/"$short"/*; do
    [ -f "$input" ] || continue
    res=$out/regress-$short-$(basename "$input").result
    if "$target" -runs=1 -timeout=30 "$input" > "$out/regress-logs/$short-$(basename "$input").log" 2>&1; then
      echo pass > "$res"
    else
      echo fail > "$res"; status=1
      echo "$name: regression input $input FAILS:"; tail -30 "$out/regress-logs/$short-$(basename "$input").log"
    fi
  done
  [ "$fuzz_seconds" -gt 0 ] || continue
  corpus=$out/corpus-$name
  rm -rf "$corpus"; mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$short"/* "$corpus"/ 2>/dev/null
  # -close_fd_mask=2: the loaders' file:line diagnostics would fill the log; libFuzzer still
  # prints its own lines and any sanitizer report. tests/fuzz/<target>.dict: the input's keywords.
  dict=()
  [ -f tests/fuzz/"$short".dict ] && dict=(-dict=tests/fuzz/"$short".dict)
  if "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -close_fd_mask=2 "${dict[@]}" -artifact_prefix="$out/$name-" "$corpus" > "$out/$name.log" 2>&1; then
    echo pass > "$out/$name.result"
    echo "$name: ok ($(ls "$corpus" | wc -l) corpus entries, $(grep -o 'stat::number_of_executed_units: [0-9]*' "$out/$name.log" | grep -o '[0-9]*$') runs)"
  else
    echo fail > "$out/$name.result"; status=1; tail -40 "$out/$name.log"
    echo "$name: the input that failed is $(ls "$out/$name"-* 2>/dev/null | head -1); fix the bug, then keep it in tests/fuzz/regress/$short/"
  fi
done

# The integration suite, against one build. $1: build folder, $2: junit file and suite name.
integration() {
  local build=$1 suite=$2
  shift 2
  env "$@" SINKHOLED="$root/$build/server/sinkholed" SINKHOLE_CHECK="$root/$build/tools/sinkhole-check" \
    /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider -rs \
    -o junit_suite_name="$suite" --junitxml="$out/$suite.xml" || status=1
}

echo "== integration tests (gcc)"
integration build-ci/gcc integration

if [ -z "${SK_SKIP_ASAN:-}" ]; then
  echo "== integration tests (ASan+UBSan)"
  # SK_SANITIZED: tests that cannot run under ASan skip with the reason, the helpers scale their
  # waits by SK_TIMEOUT_FACTOR and fail a test whose server printed a sanitizer report.
  integration build-ci/asan integration-asan SK_SANITIZED=1 SK_SAN_EXITCODE=$san_exitcode SK_TIMEOUT_FACTOR=4
fi

echo "== took $(( $(date +%s) - start_time )) s"
/usr/bin/python3 tests/summarize.py "$out" || status=1
exit $status
