#!/bin/sh
# quickstart.sh -- install dependencies, build, and run sinkholed on the bundled example zones
# (127.0.0.1 and ::1, port 5353). Stop it with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -d build ] || meson setup build
ninja -C build
exec build/server/sinkholed -c zones/example.yml
