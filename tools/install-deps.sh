#!/bin/sh
# install-deps.sh -- install everything sinkholed needs to build, run and test (Debian 12, as root).
#   tools/install-deps.sh          build and run dependencies
#   tools/install-deps.sh --test   plus the test suite's clients, reference servers and fuzzing toolchain
set -eu
export DEBIAN_FRONTEND=noninteractive
build="build-essential pkg-config meson ninja-build libuv1-dev libldns-dev libyaml-dev libmaxminddb-dev
       libsodium-dev libfstrm-dev libprotobuf-c-dev protobuf-c-compiler libnats-dev zlib1g-dev python3"
test="clang libclang-rt-14-dev knot knot-dnsutils dnsutils ldnsutils dnsperf python3-dnspython python3-pytest
      nsd iproute2 mmdb-bin procps fstrm-bin golang-github-dnstap-golang-dnstap-cli knot-module-dnstap
      curl prometheus systemd valgrind nats-server chromium"
pkgs=$build
[ "${1:-}" = "--test" ] && pkgs="$build $test"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
# Debian starts the packaged servers on install; the tests run their own instances on free ports
# (prometheus is installed for promtool, which checks /metrics; systemd for systemd-analyze).
for svc in knot nsd prometheus nats-server; do
  if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
