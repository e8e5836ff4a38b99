"""The query path's promises (issue 5): no heap allocation per query, on a worker, over UDP and TCP,
with telemetry on or off; workers and their UDP threads pinned to the CPUs `server.cpus` names.

Allocations are counted by alloc/allocshim.c, preloaded into sinkholed: every malloc, calloc,
realloc and aligned allocation made by a thread named sk-worker-N (TCP) or sk-udp-N.M (UDP),
written to a file at exit. The
same server is run with a small and with a large number of queries; whatever a worker allocates
to start, to open its sockets or to accept its one TCP connection is the same in both, so the
difference is what the extra queries cost. Counting, not timing.
"""
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dns.query
import pytest

import skhelpers as sk

HERE = Path(__file__).resolve().parent
SHIM_SRC = HERE / "alloc" / "allocshim.c"
SMALL, LARGE = 1000, 21000


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    sk.skip_if_sanitized("the allocation counter is LD_PRELOADed beside ASan's own allocator, and "
                         "ASan allocates on the workers itself")
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.fail("no C compiler to build the allocation counter", pytrace=False)
    out = tmp_path_factory.mktemp("shim") / "allocshim.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(SHIM_SRC)], check=True,
                   capture_output=True, timeout=60)
    return out


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} not installed (Debian package dnsperf)", pytrace=False)
    return path


def start(workdir, port, telemetry, shim_path, extra_server=""):
    """sinkholed with the default test zones, one worker, optionally JSONL telemetry (and with
    telemetry "rrl", rate limiting too), under the shim. Returns (process, path of the allocation
    count file)."""
    sk.copy_zones(workdir)
    conf = workdir / "sinkholed.yml"
    sk.write_config(conf, port, [(f, n, None) for f, n in sk.DEFAULT_ZONES], v6=False, workers=1,
                    extra_server=extra_server)
    if telemetry:
        with open(conf, "a") as f:
            f.write(f"telemetry:\n  stats_interval_s: 0\n  jsonl: {{path: {workdir / 'events.jsonl'}}}\n")
    if telemetry == "rrl":
        # Every reply accounted in the rate limiting table, none limited (dnsperf counts answers).
        with open(conf, "a") as f:
            f.write("rrl:\n  responses_per_second: 1000000\n")
    count = workdir / "allocs.txt"
    env = dict(os.environ, SK_ALLOC_OUT=str(count))
    if shim_path:
        env["LD_PRELOAD"] = str(shim_path)
    log = open(workdir / "sinkholed.log", "wb")
    proc = subprocess.Popen([str(sk.sinkholed_path()), "-c", str(conf)], env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sk.READY.search((workdir / "sinkholed.log").read_text(errors="replace")):
            return proc, count
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail("sinkholed did not start:\n" + (workdir / "sinkholed.log").read_text(errors="replace"))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=sk.scaled(15))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("sinkholed did not stop within 15 s of SIGTERM")


def run_queries(port, n, transport, qfile):
    """n queries with dnsperf (one client, 20 in flight); returns how many were answered."""
    cmd = [need("dnsperf"), "-s", sk.V4, "-p", str(port), "-d", str(qfile), "-c", "1", "-q", "20",
           "-n", "1", "-t", "5", "-l", "60"]
    if transport == "tcp":
        cmd += ["-m", "tcp"]
    with open(qfile) as f:
        assert sum(1 for _ in f) == n
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    m = re.search(r"Queries completed:\s+(\d+)", p.stdout)
    assert m, p.stdout + p.stderr
    return int(m.group(1))


def query_file(path, n):
    """n lines of names that exercise the lookup: wildcard answers, NXDOMAIN, REFUSED, NODATA."""
    kinds = ["r{i}.sinkhole.test A", "x{i}.other.test A", "q{i}.nowhere.example A",
             "sinkhole.test TXT", "www.sinkhole.test AAAA", "r{i}.sinkhole.test MX"]
    with open(path, "w") as f:
        for i in range(n):
            f.write(kinds[i % len(kinds)].format(i=i) + "\n")
    return path


def worker_allocs(tmp_path, shim_path, transport, telemetry, n):
    d = tmp_path / f"{transport}-{telemetry if telemetry == 'rrl' else 'tm' if telemetry else 'off'}-{n}"
    d.mkdir()
    port = sk.free_port(False)
    proc, count = start(d, port, telemetry, shim_path)
    try:
        answered = run_queries(port, n, transport, query_file(d / "queries.txt", n))
    finally:
        rc = stop(proc)
    assert rc == 0, (d / "sinkholed.log").read_text(errors="replace")
    assert answered == n, f"{answered} of {n} answered"
    assert count.exists(), "the allocation counter wrote nothing (was it preloaded?)"
    if telemetry:
        records = sum(1 for _ in open(d / "events.jsonl"))
        assert records == n, f"{records} telemetry records for {n} queries"
    if telemetry == "rrl" and transport == "udp":
        passed = sum(1 for line in open(d / "events.jsonl") if '"rrl":"pass"' in line)
        assert passed == n, f"{passed} of {n} UDP replies accounted by rate limiting"
    return int(count.read_text())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("telemetry", [False, True, "rrl"], ids=["telemetry-off", "jsonl", "jsonl-rrl"])
def test_no_allocation_per_query(tmp_path, shim, transport, telemetry):
    # (test_counter_sees_allocations shows the counter sees a worker's allocations; over UDP a
    # worker may well allocate nothing at all: its loop and buffers are made before it starts.)
    small = worker_allocs(tmp_path, shim, transport, telemetry, SMALL)
    large = worker_allocs(tmp_path, shim, transport, telemetry, LARGE)
    extra = large - small
    assert extra <= 8, (f"{LARGE - SMALL} more queries cost {extra} more allocations on the worker "
                        f"({small} with {SMALL} queries, {large} with {LARGE})")


def test_counter_sees_allocations(tmp_path, shim):
    """The counter is real: a worker allocates for each TCP connection it accepts, so 40
    connections must show at least 40 allocations on the workers, and none of the main thread's
    (which loads the zones: thousands) may be counted."""
    port = sk.free_port(False)
    proc, count = start(tmp_path, port, False, shim)
    try:
        for i in range(40):
            r = dns.query.tcp(sk.make_query(f"c{i}.sinkhole.test"), sk.V4, port=port, timeout=2)
            assert r.answer
    finally:
        assert stop(proc) == 0
    n = int(count.read_text())
    assert 40 <= n < 1000, f"{n} worker allocations for 40 TCP connections"


def worker_cpus(pid):
    """{thread name: Cpus_allowed_list} of the sk-worker and sk-udp threads of pid."""
    out = {}
    for t in Path(f"/proc/{pid}/task").iterdir():
        name = (t / "comm").read_text().strip()
        if name.startswith(("sk-worker-", "sk-udp-")):
            m = re.search(r"Cpus_allowed_list:\s*(\S+)", (t / "status").read_text())
            out[name] = m.group(1)
    return out


@pytest.mark.parametrize("cpus, want", [
    ("[0]", {"sk-worker-0": "0", "sk-worker-1": "0", "sk-worker-2": "0",
             "sk-udp-0.0": "0", "sk-udp-1.0": "0", "sk-udp-2.0": "0"}),
    ("[1, 0]", {"sk-worker-0": "1", "sk-worker-1": "0", "sk-worker-2": "1",
                "sk-udp-0.0": "1", "sk-udp-1.0": "0", "sk-udp-2.0": "1"}),
])
def test_workers_pinned(tmp_path, cpus, want):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("fewer than 2 CPUs available: pinning to one of two cannot be told apart")
    port = sk.free_port(False)
    sk.copy_zones(tmp_path)
    conf = tmp_path / "sinkholed.yml"
    sk.write_config(conf, port, [(f, n, None) for f, n in sk.DEFAULT_ZONES], v6=False, workers=3,
                    extra_server=f"  cpus: {cpus}")
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([str(sk.sinkholed_path()), "-c", str(conf)], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + sk.scaled(10)
        while time.monotonic() < deadline and not sk.READY.search((tmp_path / "log").read_text(errors="replace")):
            time.sleep(0.05)
        assert worker_cpus(proc.pid) == want
        # and it still answers
        r = dns.query.udp(sk.make_query("www.sinkhole.test"), sk.V4, port=port, timeout=2)
        assert r.answer
    finally:
        rc = stop(proc)
        sk.check_sanitizer((tmp_path / "log").read_text(errors="replace"), rc, "sinkholed")
        assert rc == 0


def test_cpu_not_online_refused(tmp_path):
    port = sk.free_port(False)
    sk.copy_zones(tmp_path)
    conf = tmp_path / "sinkholed.yml"
    sk.write_config(conf, port, [(f, n, None) for f, n in sk.DEFAULT_ZONES], v6=False, workers=1,
                    extra_server="  cpus: [1023]")
    p = sk.run_binary([sk.sinkholed_path(), "-c", conf], timeout=sk.scaled(20))
    assert p.returncode != 0
    assert "cannot run worker 0 on CPU 1023 (server.cpus)" in p.stderr, p.stderr
