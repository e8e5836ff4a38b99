"""test_tcp_limits -- slow and idle TCP clients never starve the others: 1,000 idle connections
(and tricklers, and half-sent length prefixes) against a server capped at 250 per worker, while
UDP and fresh TCP clients (dnspython and kdig) are answered; the per-query timeout closes a
client that trickles a frame but keeps one that sends complete queries slowly; the counters in
the `stats:` and `stopped:` log lines."""
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time

import dns.message
import pytest

import skhelpers as sk
from skhelpers import rrset_texts

WWW = {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
IDLE = 1000
STATS = re.compile(r"(stats|stopped): udp (\d+) queries, (\d+) replies, .*?tcp (\d+) connections, "
                   r"(\d+) rejected, (\d+) timed out, (\d+) queries, (\d+) replies; tcp limits: "
                   r"(\d+) open, (\d+) evicted, (\d+) idle timeouts, (\d+) query timeouts, (\d+) errors")


def counters(text, which):
    """The last `stats:` or `stopped:` line's numbers as a dict, or None."""
    found = None
    for m in STATS.finditer(text):
        if m.group(1) == which:
            found = m
    if not found:
        return None
    v = [int(x) for x in found.groups()[1:]]
    keys = ["udp_queries", "udp_replies", "tcp_connections", "rejected", "timed_out", "tcp_queries",
            "tcp_replies", "open", "evicted", "idle_timeouts", "query_timeouts", "errors"]
    return dict(zip(keys, v), line=found.group(0))


def need_fds(n):
    """Raise this process's soft descriptor limit to hold n sockets, or skip with the reason."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return
    if hard != resource.RLIM_INFINITY and hard < n:
        msg = f"needs {n} open files, the hard limit is {hard}"
        print(f"SKIP: {msg}", file=sys.stderr)
        pytest.skip(msg)
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def kdig(srv, tcp):
    exe = shutil.which("kdig")
    assert exe, "kdig not installed (knot-dnsutils)"
    args = [exe, f"@{sk.V4}", "-p", str(srv.port), "+time=3", "+retry=0", "www.sinkhole.test", "A"]
    if tcp:
        args.insert(4, "+tcp")
    p = subprocess.run(args, capture_output=True, text=True, timeout=15)
    return p.returncode, p.stdout


def fresh_clients_served(srv, round_no):
    """UDP and fresh TCP clients, with dnspython and kdig: every one answered correctly."""
    for i in range(5):
        r = sk.ask(srv, sk.make_query("www.sinkhole.test", "A", qid=round_no * 100 + i), "udp")
        assert rrset_texts(r.answer) == WWW
        r = sk.ask(srv, sk.make_query("www.sinkhole.test", "A", qid=round_no * 100 + 50 + i), "tcp",
                   timeout=5.0)
        assert rrset_texts(r.answer) == WWW, f"fresh TCP client {i} in round {round_no}"
    for tcp in (False, True):
        rc, out = kdig(srv, tcp)
        assert rc == 0 and "status: NOERROR" in out and "192.0.2.80" in out, \
            f"kdig {'+tcp' if tcp else 'udp'} in round {round_no}:\n{out}"


class Trickler(threading.Thread):
    """Sends a query one byte every `gap` seconds until the server closes the connection or
    `stop` is set; `closed` tells which."""

    def __init__(self, srv, gap, stop):
        super().__init__(daemon=True)
        self.sock = sk.tcp_connect(srv, 4)
        self.data = sk.frame(sk.make_query("www.sinkhole.test", "A", qid=77).to_wire())
        self.gap, self.stop, self.closed, self.sent = gap, stop, False, 0

    def run(self):
        try:
            while not self.stop.is_set() and self.sent < len(self.data):
                self.sock.send(self.data[self.sent:self.sent + 1])
                self.sent += 1
                if self.stop.wait(self.gap):
                    break
                self.sock.settimeout(0.001)
                try:
                    if self.sock.recv(1) == b"":
                        self.closed = True
                        return
                except socket.timeout:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True


def test_idle_flood_does_not_starve_others(make_server):
    """1,000 idle connections, 20 tricklers and 20 half length prefixes against 2 workers of
    tcp_max_clients 250: UDP and fresh TCP clients are served throughout, the server holds no
    more than its caps, and the evictions and timeouts are counted."""
    need_fds(IDLE + 400)
    srv = make_server(workers=2, tcp_max_clients=250, tcp_idle_timeout_ms=60000,
                      extra_server="  tcp_query_timeout_ms: 1000\ntelemetry:\n  stats_interval_s: 1")
    stop = threading.Event()
    tricklers, held = [], []
    try:
        for _ in range(20):
            tricklers.append(Trickler(srv, 0.2, stop))
            tricklers[-1].start()
        for _ in range(20):
            s = sk.tcp_connect(srv, 4)
            s.send(b"\x00")       # the first byte of a length prefix, and nothing more
            held.append(s)
        fresh_clients_served(srv, 0)
        for batch in range(10):
            for _ in range(IDLE // 10):
                held.append(sk.tcp_connect(srv, 4, timeout=5.0))
            fresh_clients_served(srv, batch + 1)
        # The caps hold: 2 x 250 connections, plus listeners, loops and telemetry's few.
        fds = len(os.listdir(f"/proc/{srv.pid}/fd"))
        assert fds <= 2 * 250 + 40, f"{fds} descriptors open with caps of 2 x 250"
        # The per-second stats line counts what happened so far.
        deadline = time.monotonic() + 5
        st = None
        while time.monotonic() < deadline:
            st = counters(srv.log_text(), "stats")
            if st and st["evicted"] > 0:
                break
            time.sleep(0.2)
        assert st and st["evicted"] > 0, f"no evictions in the stats line: {st}"
        assert st["open"] <= 500, st["line"]
    finally:
        stop.set()
        for t in tricklers:
            t.join(5)
            t.sock.close()
        for s in held:
            s.close()
    assert srv.alive()
    assert srv.stop() == 0
    st = counters(srv.log_text(), "stopped")
    assert st, srv.log_text()[-3000:]
    opened = IDLE + 20 + 20 + 11 * 6     # idle, half prefixes, tricklers, fresh TCP clients
    assert st["tcp_connections"] >= opened, st["line"]
    # At most 500 fit at once: the rest went by eviction or by the per-query timeout (the
    # tricklers and half prefixes that were not evicted first), none by idle timeout (60 s).
    assert st["evicted"] + st["query_timeouts"] >= opened - 500 - 11 * 6, st["line"]
    assert st["evicted"] >= IDLE - 500 - 40, st["line"]
    assert st["idle_timeouts"] == 0 and st["rejected"] == 0, st["line"]
    assert st["udp_replies"] >= 55 and st["tcp_replies"] >= 55, st["line"]


def wait_closed(sock, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def test_query_timeout_closes_trickler_keeps_slow_complete_queries(make_server):
    """tcp_query_timeout_ms 800, idle timeout 3 s: a client that trickles one byte every 0.25 s
    keeps the idle clock running but is closed long before its frame is done; one that sends a
    length prefix's first byte and stops is closed; one that sends a complete query every 0.6 s
    for 3.6 s (longer than the query timeout in all) is answered every time and stays open."""
    srv = make_server(workers=1, tcp_idle_timeout_ms=3000,
                      extra_server="  tcp_query_timeout_ms: 800")
    stop = threading.Event()
    trickler = Trickler(srv, 0.25, stop)
    half = sk.tcp_connect(srv, 4)
    slow = sk.tcp_connect(srv, 4)
    try:
        trickler.start()
        half.send(b"\x00")
        for i in range(6):
            q = sk.make_query("www.sinkhole.test", "A", qid=600 + i)
            slow.sendall(sk.frame(q.to_wire()))
            m = dns.message.from_wire(sk.recv_frame(slow, 3.0))
            assert m.id == 600 + i and rrset_texts(m.answer) == WWW, f"slow query {i}"
            time.sleep(0.6)
        trickler.join(10)
        assert trickler.closed, "the trickling client was not closed"
        assert trickler.sent < len(trickler.data), "the trickler finished its frame before the close"
        assert wait_closed(half, 5.0), "half a length prefix kept the connection open"
        q = sk.make_query("mail.sinkhole.test", "A", qid=700)
        slow.sendall(sk.frame(q.to_wire()))
        assert dns.message.from_wire(sk.recv_frame(slow, 3.0)).id == 700, \
            "the slow but complete client was closed"
    finally:
        stop.set()
        trickler.join(5)
        for s in (trickler.sock, half, slow):
            s.close()
    assert srv.stop() == 0
    st = counters(srv.log_text(), "stopped")
    assert st, srv.log_text()[-3000:]
    assert st["query_timeouts"] == 2 and st["idle_timeouts"] == 0, st["line"]
    assert st["tcp_replies"] == 7 and st["evicted"] == 0, st["line"]


def test_tcp_limits_config_errors(tmp_path):
    """Bad values of the new keys stop --check with file:line."""
    conf = tmp_path / "sinkholed.yml"
    sk.copy_zones(tmp_path)
    sk.write_config(conf, 5353, [("sinkhole.test.zone", None, None)],
                    extra_server="  tcp_query_timeout_ms: 0")
    n = next(i for i, line in enumerate(conf.read_text().splitlines(), 1)
             if "tcp_query_timeout_ms" in line)
    p = subprocess.run([str(sk.sinkholed_path()), "--check", "-c", str(conf)], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 1
    assert f"sinkholed.yml:{n}: server.tcp_query_timeout_ms: expected a whole number from 1 to " \
           "3600000, got '0'" in p.stderr, p.stderr


def test_open_files_limit_raised_and_checked(tmp_path):
    """At start the soft RLIMIT_NOFILE goes up to the hard limit (logged); caps that cannot fit
    under it are warned about, naming the config."""
    sk.copy_zones(tmp_path)
    conf = tmp_path / "sinkholed.yml"
    cases = [((300, 4096), 100, r"open files limit 4096 \(was 300, hard limit 4096\)", False),
             ((256, 256), 1000, r"open files limit 256 \(was 256, hard limit 256\)", True)]
    for (soft, hard), cap, limit_line, warned in cases:
        sk.write_config(conf, sk.free_port(), [("sinkhole.test.zone", None, None)], workers=2,
                        tcp_max_clients=cap)
        log = tmp_path / f"log-{soft}"
        with open(log, "wb") as out:
            p = subprocess.Popen([str(sk.sinkholed_path()), "-c", str(conf)], stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                       (soft, hard)))
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not sk.READY.search(log.read_text()):
                    assert p.poll() is None, log.read_text()
                    time.sleep(0.05)
                text = log.read_text()
                assert sk.READY.search(text), text
                assert re.search(limit_line, text), text
                warning = re.search(rf"warning: {re.escape(str(conf))}: tcp_max_clients {cap} x 2 "
                                    r"workers needs about \d+ open files, but the limit is 256", text)
                assert bool(warning) == warned, text
            finally:
                p.terminate()
                p.wait(10)
