"""test_tcp -- DNS over TCP per RFC 7766: framing, pipelining, partial reads and writes, idle
timeout, connection cap (eviction of the least active connection)."""
import re
import socket
import struct
import time

import dns.message
import pytest

import skhelpers as sk
from skhelpers import rrset_texts

NAMES = {  # name -> the A record expected
    "www.sinkhole.test": "www.sinkhole.test. 3600 IN A 192.0.2.80",
    "mail.sinkhole.test": "mail.sinkhole.test. 300 IN A 192.0.2.25",
    "sinkhole.test": "sinkhole.test. 3600 IN A 192.0.2.53",
    "target.other.test": "target.other.test. 600 IN A 198.51.100.10",
    "a.b.c.sinkhole.test": "a.b.c.sinkhole.test. 3600 IN A 192.0.2.1",
}


def read_replies(sock, n, timeout=5.0):
    """Read n frames; returns {id: parsed message}."""
    out = {}
    deadline = time.monotonic() + timeout
    for _ in range(n):
        wire = sk.recv_frame(sock, max(0.01, deadline - time.monotonic()))
        m = dns.message.from_wire(wire)
        assert m.id not in out, f"ID {m.id} answered twice"
        out[m.id] = m
    return out


def test_pipelined_queries_one_connection(server, family):
    queries = {}
    blob = b""
    names = list(NAMES) * 4
    for i, name in enumerate(names):
        q = sk.make_query(name, "A", qid=1000 + i)
        queries[q.id] = name
        blob += sk.frame(q.to_wire())
    with sk.tcp_connect(server, family) as s:
        s.sendall(blob)  # 20 queries in one write; answers may come in any order (RFC 7766 7)
        replies = read_replies(s, len(queries))
    assert set(replies) == set(queries)
    for qid, m in replies.items():
        assert rrset_texts(m.answer) == {NAMES[queries[qid]]}, queries[qid]


def test_two_frames_in_one_send(server, family):
    a = sk.make_query("www.sinkhole.test", "A", qid=7001)
    b = sk.make_query("sinkhole.test", "MX", qid=7002)
    with sk.tcp_connect(server, family) as s:
        s.sendall(sk.frame(a.to_wire()) + sk.frame(b.to_wire()))
        replies = read_replies(s, 2)
    assert rrset_texts(replies[7001].answer) == {NAMES["www.sinkhole.test"]}
    assert rrset_texts(replies[7002].answer) == {"sinkhole.test. 3600 IN MX 10 mail.sinkhole.test."}


def test_sequential_queries_one_connection(server, family):
    with sk.tcp_connect(server, family) as s:
        for i, (name, rr) in enumerate(NAMES.items()):
            q = sk.make_query(name, "A", qid=2000 + i)
            s.sendall(sk.frame(q.to_wire()))
            m = dns.message.from_wire(sk.recv_frame(s))
            assert m.id == q.id and rrset_texts(m.answer) == {rr}


def test_query_one_byte_at_a_time(server, family):
    q = sk.make_query("www.sinkhole.test", "A", qid=3003)
    data = sk.frame(q.to_wire())
    with sk.tcp_connect(server, family) as s:
        for i in range(len(data)):
            s.send(data[i:i + 1])
            time.sleep(0.003)
        m = dns.message.from_wire(sk.recv_frame(s))
    assert m.id == 3003 and rrset_texts(m.answer) == {NAMES["www.sinkhole.test"]}


def test_frame_split_across_sends_with_next_frame(server, family):
    """The end of one frame and the start of the next arrive in the same segment."""
    a = sk.frame(sk.make_query("www.sinkhole.test", "A", qid=3101).to_wire())
    b = sk.frame(sk.make_query("mail.sinkhole.test", "A", qid=3102).to_wire())
    data = a + b
    cut1, cut2 = 1, len(a) + 1
    with sk.tcp_connect(server, family) as s:
        for part in (data[:cut1], data[cut1:cut2], data[cut2:]):
            s.sendall(part)
            time.sleep(0.05)
        replies = read_replies(s, 2)
    assert rrset_texts(replies[3101].answer) == {NAMES["www.sinkhole.test"]}
    assert rrset_texts(replies[3102].answer) == {NAMES["mail.sinkhole.test"]}


def test_slow_reader_partial_writes(server, family):
    """Many large answers to a client that reads nothing for a while: the server must cope with
    partial writes (and may pause reading), then deliver every answer intact."""
    n = 60
    blob = b"".join(sk.frame(sk.make_query("huge.sinkhole.test", "TXT", qid=4000 + i).to_wire())
                    for i in range(n))
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5)
        s.connect((server.addr(family), server.port))
        s.sendall(blob)
        time.sleep(0.1)
        replies = read_replies(s, n, timeout=10)
    assert set(replies) == {4000 + i for i in range(n)}
    for m in replies.values():
        assert len(m.answer) == 1 and len(m.answer[0]) == 12


def test_zero_length_frame_does_not_kill_server(server, family):
    with sk.tcp_connect(server, family) as s:
        s.sendall(b"\x00\x00")
        try:
            s.settimeout(1.0)
            s.recv(100)
        except (socket.timeout, ConnectionResetError):
            pass
    r = sk.ask(server, sk.make_query("www.sinkhole.test", "A"), "tcp", family)
    assert rrset_texts(r.answer) == {NAMES["www.sinkhole.test"]}


def wait_closed(sock, timeout):
    """True when the peer closes (EOF or reset) within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True
    return False


@pytest.fixture(scope="module")
def short_idle_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("idle")
    sk.copy_zones(d)
    srv = sk.SinkServer(d, tcp_idle_timeout_ms=500, workers=1)
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


def test_idle_timeout_closes_silent_connection(short_idle_server, family):
    with sk.tcp_connect(short_idle_server, family) as s:
        assert wait_closed(s, 5.0), "idle connection not closed (tcp_idle_timeout_ms: 500)"


def test_idle_timeout_after_answer(short_idle_server, family):
    with sk.tcp_connect(short_idle_server, family) as s:
        q = sk.make_query("www.sinkhole.test", "A", qid=5005)
        s.sendall(sk.frame(q.to_wire()))
        m = dns.message.from_wire(sk.recv_frame(s))
        assert m.id == 5005 and rrset_texts(m.answer) == {NAMES["www.sinkhole.test"]}
        assert wait_closed(s, 5.0), "connection not closed after being idle"


def test_idle_timeout_partial_frame(short_idle_server, family):
    """A client that sends half a frame and stops is closed too (slowloris)."""
    with sk.tcp_connect(short_idle_server, family) as s:
        s.sendall(struct.pack("!H", 40) + b"\x12\x34")
        assert wait_closed(s, 5.0), "half-sent frame kept the connection open"


def connection_served(srv, sock, qid, timeout=1.0):
    """True if a query on sock is answered; False if closed, reset or silent."""
    try:
        sock.sendall(sk.frame(sk.make_query("www.sinkhole.test", "A", qid=qid).to_wire()))
        m = dns.message.from_wire(sk.recv_frame(sock, timeout))
        return m.id == qid
    except (socket.timeout, EOFError, ConnectionResetError, BrokenPipeError):
        return False


def test_connection_cap_evicts_least_active(make_server):
    """At tcp_max_clients a newcomer is served and the connection that made progress least
    recently goes, one with nothing in progress before one holding half a query."""
    cap = 4
    srv = make_server(workers=1, tcp_max_clients=cap, tcp_idle_timeout_ms=20000,
                      extra_server="  tcp_query_timeout_ms: 20000")
    held = []
    try:
        for i in range(cap):
            held.append(sk.tcp_connect(srv, 4))
        # held[0] starts a query and stops halfway: the least recently active, but busy.
        q0 = sk.frame(sk.make_query("www.sinkhole.test", "A", qid=500).to_wire())
        held[0].sendall(q0[:5])
        time.sleep(0.05)
        for i in (1, 2, 3):   # then each of the others is used: held[1] is the oldest idle one
            assert connection_served(srv, held[i], 100 + i), f"connection {i} within the cap not served"
        newcomer = sk.tcp_connect(srv, 4)
        held.append(newcomer)
        assert connection_served(srv, newcomer, 200), "a newcomer at the cap was not served"
        assert wait_closed(held[1], 5.0), "the least recently active idle connection was not evicted"
        held[0].sendall(q0[5:])
        m = dns.message.from_wire(sk.recv_frame(held[0]))
        assert m.id == 500, "the connection with a query in progress was evicted instead"
        for i in (2, 3):
            assert connection_served(srv, held[i], 300 + i), f"connection {i} stopped working"
        # Now held[2] is the least recently active: the next newcomer takes its place.
        time.sleep(0.05)
        for i in (3, 0):
            assert connection_served(srv, held[i], 400 + i)
        assert connection_served(srv, newcomer, 410)
        second = sk.tcp_connect(srv, 4)
        held.append(second)
        assert connection_served(srv, second, 420)
        assert wait_closed(held[2], 5.0), "the least recently active connection was not evicted"
        assert srv.stop() == 0
        m = re.search(r"stopped: .*tcp (\d+) connections, .*tcp limits: \d+ open, (\d+) evicted",
                      srv.log_text())
        assert m, srv.log_text()[-2000:]
        assert (int(m.group(1)), int(m.group(2))) == (6, 2), m.group(0)
    finally:
        for s in held:
            s.close()


def test_connection_churn_does_not_leak(make_server):
    """300 connections opened, used and closed (politely or with a reset), plus some that send
    nothing: the server's descriptor count returns to where it was."""
    srv = make_server(tcp_idle_timeout_ms=500)
    fd_dir = f"/proc/{srv.pid}/fd"
    import os
    before = len(os.listdir(fd_dir))
    for i in range(300):
        s = sk.tcp_connect(srv, 4)
        kind = i % 3
        if kind != 2:
            s.sendall(sk.frame(sk.make_query("www.sinkhole.test", "A", qid=i).to_wire()))
            assert dns.message.from_wire(sk.recv_frame(s)).id == i
        if kind == 1:   # abortive close: RST
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    deadline = time.monotonic() + 5
    after = None
    while time.monotonic() < deadline:
        after = len(os.listdir(fd_dir))
        if after <= before + 1:
            break
        time.sleep(0.1)
    assert after <= before + 1, f"server fds {before} -> {after}: connections leaked"
    r = sk.ask(srv, sk.make_query("www.sinkhole.test", "A"), "tcp")
    assert rrset_texts(r.answer) == {NAMES["www.sinkhole.test"]}
