#!/bin/bash
# run.sh -- install what the tests need, build (gcc; clang with ASan+UBSan for fuzzing), run every
# test, and print one closing line "N passed, N failed, N skipped" counted from the results.
#   tests/run.sh                 everything
#   SK_FUZZ_SECONDS=60           how long each fuzz target runs (default 60)
#   SK_SKIP_DEPS=1               do not call apt-get (dependencies already installed)
set -u
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-ci
fuzz_seconds=${SK_FUZZ_SECONDS:-60}
status=0

if [ -z "${SK_SKIP_DEPS:-}" ]; then
  tools/install-deps.sh --test || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }
fi

mkdir -p "$out"
rm -f "$out"/*.xml "$out"/fuzz-*.result

echo "== build (gcc)"
if [ ! -d build-ci/gcc ]; then meson setup build-ci/gcc -Ddnstap=enabled -Dnats=enabled >/dev/null || status=1; fi
ninja -C build-ci/gcc || status=1

echo "== build (clang, ASan+UBSan, fuzzing)"
if [ ! -d build-ci/fuzz ]; then
  CC=clang meson setup build-ci/fuzz -Ddnstap=enabled -Dnats=enabled -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=fuzzer-no-link >/dev/null || status=1
fi
ninja -C build-ci/fuzz || status=1

echo "== unit tests"
meson test -C build-ci/gcc --suite unit --print-errorlogs || status=1

echo "== fuzzing (${fuzz_seconds}s per target)"
for target in build-ci/fuzz/tests/fuzz/fuzz_*; do
  [ -f "$target" ] && [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus=$out/corpus-$name
  rm -rf "$corpus"; mkdir -p "$corpus"
  cp tests/fuzz/corpus/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null
  if "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/$name-" "$corpus" > "$out/$name.log" 2>&1; then
    echo pass > "$out/$name.result"; echo "$name: ok ($(ls "$corpus" | wc -l) corpus entries)"
  else
    echo fail > "$out/$name.result"; status=1; tail -40 "$out/$name.log"
  fi
done

echo "== integration tests"
SINKHOLED=$root/build-ci/gcc/server/sinkholed SINKHOLE_CHECK=$root/build-ci/gcc/tools/sinkhole-check \
  /usr/bin/python3 -m pytest tests/integration -q \
  -p no:cacheprovider -rs --junitxml="$out/integration.xml" || status=1

/usr/bin/python3 tests/summarize.py "$out" || status=1
exit $status
