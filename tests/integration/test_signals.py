"""test_signals -- SIGPIPE never kills the server: it is ignored (SigIgn), TCP clients that reset
or close before their replies are written, and a dnstap reader that disconnects mid-stream, leave
the server alive and answering. (The SIGHUP storm is in test_lifecycle.py.)"""
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import dns.message
import pytest

import skhelpers as sk
import tmhelpers as tm
from skhelpers import rrset_texts

WWW = {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
SIGPIPE = 13


def sig_mask(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def still_serving(srv):
    assert srv.alive(), srv.log_text()[-2000:]
    assert rrset_texts(sk.ask(srv, sk.make_query("www.sinkhole.test", "A"), "udp").answer) == WWW
    assert rrset_texts(sk.ask(srv, sk.make_query("www.sinkhole.test", "A"), "tcp").answer) == WWW


def test_sigpipe_is_ignored(server):
    """/proc/PID/status: SIGPIPE's bit in SigIgn, for the process and every thread."""
    assert sig_mask(server.pid, "SigIgn") & (1 << (SIGPIPE - 1)), "SIGPIPE is not ignored"
    for task in Path(f"/proc/{server.pid}/task").iterdir():
        assert sig_mask(f"{server.pid}/task/{task.name}", "SigIgn") & (1 << (SIGPIPE - 1))


def test_tcp_clients_gone_before_their_replies(make_server):
    """300 clients pipeline queries with large answers (2.4 KB TXT each) and go away before
    reading: with a reset (SO_LINGER 0), with a close while replies are unread (the kernel
    answers our writes with RST), or after a half-close. The server's writes then fail with
    EPIPE or ECONNRESET; it counts them and goes on."""
    srv = make_server(workers=2)
    blob = b"".join(sk.frame(sk.make_query("huge.sinkhole.test", "TXT", qid=i).to_wire())
                    for i in range(40))
    for i in range(300):
        s = sk.tcp_connect(srv, 4)
        try:
            s.sendall(blob)
            kind = i % 3
            if kind == 0:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif kind == 1:
                time.sleep(0.002)   # some replies arrive unread; close() then resets
            else:
                s.shutdown(socket.SHUT_WR)
                s.recv(100)          # read a little, then close with the rest unread
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            s.close()
        if i % 50 == 49:
            still_serving(srv)
    still_serving(srv)
    assert srv.stop() == 0
    st = tm.stopped_stats(srv.log_text())
    assert st and st["tcp_queries"] >= 300, st


def test_dnstap_reader_disconnects_mid_stream(make_server, tmp_path):
    """A dnstap unix-socket reader takes the handshake and some frames, then disconnects while
    queries keep coming: the server (its fstrm writer thread) survives, answers every query,
    and a new reader at the same path gets frames again."""
    sock = tmp_path / "dnstap.sock"
    reader = tm.FstrmSocketReader(sock, "read")
    live = None
    srv = make_server(workers=2, extra_server=f"telemetry:\n  flush_ms: 50\n"
                                              f"  dnstap: {{unix: {sk.yaml_str(sock)}}}")
    if "without dnstap support" in srv.log_text():
        print("SKIP: built without dnstap", file=sys.stderr)
        pytest.skip("built without dnstap")
    stop = threading.Event()
    failures = []

    def traffic():
        i = 0
        while not stop.is_set() and i < 20000:   # bounded
            try:
                r = sk.ask(srv, sk.make_query(f"n{i}.sinkhole.test", "A", qid=i % 65536), "udp")
                if r.rcode() != 0:
                    failures.append(f"rcode {r.rcode()} for n{i}")
            except Exception as e:   # a lost answer: the server stalled or died
                failures.append(repr(e))
            i += 1

    t = threading.Thread(target=traffic, daemon=True)
    try:
        t.start()
        assert tm.wait_for(lambda: reader.frame_count() > 50, 10), \
            f"no dnstap frames before the disconnect (errors {reader.errors})"
        reader.close()                  # gone mid-stream, without a STOP/FINISH
        time.sleep(1.0)                 # the writer hits the closed socket meanwhile
        still_serving(srv)
        live = tm.FstrmSocketReader(sock, "read")
        assert tm.wait_for(lambda: live.frame_count() > 0, 15), \
            f"no frames after a new reader came (errors {live.errors})"
    finally:
        stop.set()
        t.join(10)
        reader.close()
        if live:
            live.close()
    assert not failures, failures[:5]
    still_serving(srv)
    assert srv.stop() == 0
