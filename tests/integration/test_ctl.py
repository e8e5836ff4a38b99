"""sinkholectl over the control socket and GET /metrics (cluster issue, part 5): each command
against a real server, the figures equal to what dnspython sent (transport, rcode, qtype, zone
tags), reload through the socket with the file:line of a broken zone, the socket's mode and owner,
/metrics read by curl and checked by promtool, the HTTP edges, and sd_notify's messages.
"""
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.zone
import pytest

import ctlhelpers as ch
import skhelpers as sk

TAGS = {
    "sinkhole.test.": {"case": "C-2026-17", "operation": "Nightfall \"N\""},
    "other.test.": {"case": "C-2026-18"},
}
LIST_TAGS = {"case": "C-2026-19", "family": "necurs"}


@pytest.fixture
def sockdir():
    """A short folder for unix sockets (sun_path holds 107 bytes; pytest's paths are long)."""
    d = Path(tempfile.mkdtemp(prefix="skctl-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def zones_with_tags():
    return [(f, n, TAGS.get((n or f[:-len(".zone")]).rstrip(".") + ".")) for f, n in sk.DEFAULT_ZONES]


def ctl_extra(sock, mport, mode=None, group=None, flush_ms=100):
    lines = ["control:", f"  socket: {sock}"]
    if mode:
        lines.append(f'  mode: "{mode}"')
    if group:
        lines.append(f"  group: {group}")
    lines += ["metrics:", f"  listen: 127.0.0.1@{mport}",
              "telemetry:", "  stats_interval_s: 0", f"  flush_ms: {flush_ms}",
              "  jsonl: {path: events.jsonl}"]
    return "\n".join(lines) + "\n"


def copy_seized(dest):
    for f in ("necurs.list", "sinkhole.zone"):
        shutil.copy(sk.HERE / "seized" / f, Path(dest) / f)


@pytest.fixture
def ctl_server(make_server, sockdir, tmp_path):
    """A server with the four test zones (two tagged), one seized list, JSONL telemetry, a control
    socket and /metrics. Returns (server, socket path, metrics port)."""
    sock = sockdir / "ctl.sock"
    mport = sk.free_port(False)
    d = tmp_path / "srv"
    sk.copy_zones(d)
    copy_seized(d)
    srv = make_server(zones=zones_with_tags(), subdir="srv", seized=[("necurs.list", "sinkhole.zone", LIST_TAGS)],
                      extra=ctl_extra(sock, mport))
    return srv, sock, mport


# -- the socket --------------------------------------------------------------------------------

def test_socket_mode_0660_owned_by_the_server(ctl_server):
    srv, sock, _ = ctl_server
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_socket_mode_and_group_configured(make_server, sockdir):
    group = next((g for g in ("nogroup", "daemon", "adm") if _has_group(g)), None)
    if group is None or os.geteuid() != 0:
        pytest.skip("needs root and a group nogroup, daemon or adm to give the socket to")
    sock = sockdir / "g.sock"
    make_server(extra=ctl_extra(sock, sk.free_port(False), mode="0640", group=group))
    st = os.lstat(sock)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_gid == grp.getgrnam(group).gr_gid
    assert ch.ctl_ok(sock, "status")


def _has_group(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def test_missing_control_group_is_file_line(make_server, sockdir):
    srv = make_server(start=False, extra=ctl_extra(sockdir / "x.sock", sk.free_port(False),
                                                   group="sk-no-such-group"))
    srv.port = sk.free_port()
    srv.write_config()
    line = next(i for i, t in enumerate(srv.conf.read_text().splitlines(), 1) if "sk-no-such-group" in t)
    p = subprocess.run([str(sk.sinkholed_path()), "--check", "-c", str(srv.conf)], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 1
    assert f"{srv.conf}:{line}: control.group: no such group 'sk-no-such-group'" in p.stderr, p.stderr
    with pytest.raises(RuntimeError):
        srv.start(timeout=5)
    assert f"{srv.conf}:{line}: control.group: no such group" in srv.log_text()
    assert not (sockdir / "x.sock").exists()


def test_stale_socket_replaced_live_one_refused(make_server, sockdir):
    sock = sockdir / "one.sock"
    a = make_server(extra=ctl_extra(sock, sk.free_port(False)))
    # A second server on the same socket path: refused, and the first keeps its socket.
    b = make_server(start=False, extra=ctl_extra(sock, sk.free_port(False)))
    with pytest.raises(RuntimeError):
        b.start(timeout=5)
    assert "another sinkholed answers there" in b.log_text()
    assert ch.kv(ch.ctl_ok(sock, "status"))["pid"] == str(a.pid)
    # The first dies without cleaning up: its socket file stays, and the next start replaces it.
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(5)
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    c = make_server(extra=ctl_extra(sock, sk.free_port(False)))
    assert "replacing the stale socket" in c.log_text()
    assert ch.kv(ch.ctl_ok(sock, "status"))["pid"] == str(c.pid)
    # A normal stop removes the file.
    assert c.stop() == 0
    assert not sock.exists()


# -- commands ----------------------------------------------------------------------------------

def test_status(ctl_server):
    srv, sock, mport = ctl_server
    st = ch.kv(ch.ctl_ok(sock, "status"))
    assert st["identity"] == sk.IDENTITY
    assert st["pid"] == str(srv.pid)
    assert st["generation"] == "1" and st["zones"] == "4"
    assert st["seized_lists"] == "1" and st["seized_domains"] == "5"
    assert st["workers"] == "2"
    assert f"{sk.V4}@{srv.port}" in st["listen"].split()
    assert st["telemetry"] == "on" and st["metrics"] == f"127.0.0.1@{mport}"
    assert st["reloads_ok"] == "0" and st["last_reload"] == "none" and st["reloading"] == "no"


def zone_of(qname):
    """The zone (or seized domain) a test name falls in, and its tags, as the server sees them."""
    q = qname.lower().rstrip(".") + "."
    for apex in ("child.sinkhole.test.", "sinkhole.test.", "other.test.", "named.test."):
        if q == apex or q.endswith("." + apex):
            return apex, TAGS.get(apex, {})
    for d in ("necurs-a.test.", "necurs-b.test."):
        if q == d or q.endswith("." + d):
            return d, LIST_TAGS
    return None, None


# (qname, qtype, transport): a mix of rcodes, types, transports, zones and a seized domain.
PLAN = ([("www.sinkhole.test", "A", "udp")] * 7 + [("nope.other.test", "MX", "tcp")] * 5 +
        [("nowhere.example", "AAAA", "udp")] * 3 + [("target.other.test", "A", "tcp")] * 4 +
        [("x.necurs-a.test", "TXT", "udp")] * 6 + [("sinkhole.test", "SOA", "udp")] * 2 +
        [("named.test", "NS", "tcp")] * 2 + [("www.sinkhole.test", "HINFO", "udp")] * 1)


def send_plan(srv):
    """Send PLAN with dnspython; returns what the replies say, counted the way the server counts:
    by (transport, rcode, qtype) and by (transport, rcode, tags)."""
    by_type, by_tags = Counter(), Counter()
    for qname, qtype, transport in PLAN:
        r = sk.ask(srv, sk.make_query(qname, qtype), transport)
        rcode = dns.rcode.to_text(r.rcode())
        qt = qtype if qtype != "HINFO" else "other"
        by_type[(transport, rcode, qt)] += 1
        _, tags = zone_of(qname)
        if tags is not None:
            by_tags[(transport, rcode, tuple(sorted(tags.items())))] += 1
    return by_type, by_tags


def test_stats_and_metrics_match_what_was_sent(ctl_server):
    srv, sock, mport = ctl_server
    by_type, by_tags = send_plan(srv)
    assert by_type[("udp", "REFUSED", "AAAA")] == 3 and by_type[("tcp", "NXDOMAIN", "MX")] == 5
    n = len(PLAN)
    udp = sum(1 for p in PLAN if p[2] == "udp")

    st = ch.ctl_ok(sock, "stats")
    lines = st.splitlines()
    got = Counter()
    for line in lines:
        if line.startswith("queries "):
            f = dict(w.split("=", 1) for w in line.split()[1:-1])
            got[(f["transport"], f["rcode"], f["qtype"])] = int(line.split()[-1])
    assert got == by_type
    kvs = ch.kv(st)
    assert kvs["queries_total"] == str(n)
    assert kvs["udp_rx"] == str(udp) and kvs["udp_tx"] == str(udp)
    assert kvs["tcp_rx"] == str(n - udp) and kvs["tcp_accepted"] == str(n - udp)

    samples = ch.parse_metrics(ch.scrape("127.0.0.1", mport))
    q = ch.series(samples, "sinkholed_queries_total")
    assert {(dict(k)["transport"], dict(k)["rcode"], dict(k)["qtype"]): int(v) for k, v in q.items()} == by_type
    t = ch.series(samples, "sinkholed_tagged_queries_total")
    got_tags = Counter()
    for labels, v in t.items():
        d = dict(labels)
        tags = tuple(sorted((k[4:], v2) for k, v2 in d.items() if k.startswith("tag_")))
        got_tags[(d["transport"], d["rcode"], tags)] += int(v)
    # The label names are tag_<key>; named.test and child.sinkhole.test have no tags at all.
    assert got_tags == by_tags
    assert ch.value(samples, "sinkholed_udp_received_total") == udp
    assert ch.value(samples, "sinkholed_tcp_received_total") == n - udp
    assert ch.value(samples, "sinkholed_tcp_connections_total") == n - udp
    assert ch.value(samples, "sinkholed_info", identity=sk.IDENTITY, version="0.1.0") == 1


def test_metrics_promtool_and_snapshot_figures(ctl_server):
    srv, sock, mport = ctl_server
    send_plan(srv)
    body = ch.scrape("127.0.0.1", mport)
    ch.promtool_check(body)
    s = ch.parse_metrics(body)
    zones = [dns.zone.from_file(str(srv.workdir / f), origin=n or f[:-len(".zone")], relativize=False,
                                check_origin=False) for f, n in sk.DEFAULT_ZONES]
    records = sum(len(rds) for z in zones for _, rds in z.iterate_rdatasets())
    assert ch.value(s, "sinkholed_snapshot_zones") == 4
    assert ch.value(s, "sinkholed_snapshot_records") == records
    assert ch.value(s, "sinkholed_snapshot_seized_lists") == 1
    assert ch.value(s, "sinkholed_snapshot_seized_domains") == 5
    assert ch.value(s, "sinkholed_snapshot_generation") == 1
    assert ch.value(s, "sinkholed_snapshot_bytes") > 1000
    assert ch.value(s, "sinkholed_reloads_total", result="success") == 0
    assert abs(ch.value(s, "sinkholed_last_reload_success_timestamp_seconds") - time.time()) < 600
    assert ch.value(s, "process_resident_memory_bytes") > 1 << 20
    for fam in ("sinkholed_udp_dropped_total", "sinkholed_tcp_connections_closed_total",
                "sinkholed_rrl_limited_total", "sinkholed_telemetry_records_total"):
        assert ch.series(s, fam), f"{fam} missing"


def test_zones(ctl_server):
    srv, sock, _ = ctl_server
    out = ch.ctl_ok(sock, "zones")
    zl = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith("zone ")}
    assert set(zl) == {"sinkhole.test.", "other.test.", "named.test.", "child.sinkhole.test."}
    for f, n in sk.DEFAULT_ZONES:
        origin = (n or f[:-len(".zone")]) + "."
        z = dns.zone.from_file(str(srv.workdir / f), origin=origin, relativize=False, check_origin=False)
        names = {name for name, _ in z.iterate_rdatasets()}
        records = sum(len(rds) for _, rds in z.iterate_rdatasets())
        serial = z.get_rdataset(origin, "SOA")[0].serial
        w = zl[origin].split()
        assert w[w.index("serial") + 1] == str(serial), zl[origin]
        assert w[w.index("names") + 1] == str(len(names)), zl[origin]
        assert w[w.index("records") + 1] == str(records), zl[origin]
    assert 'tags {"case":"C-2026-17","operation":"Nightfall \\"N\\""}' in zl["sinkhole.test."]
    assert zl["named.test."].endswith("tags {}")
    (lst,) = [ln for ln in out.splitlines() if ln.startswith("list ")]
    assert "necurs.list" in lst and "sinkhole.zone" in lst and " domains 5 " in lst
    assert lst.endswith('tags {"case":"C-2026-19","family":"necurs"}')


def test_lookup_is_what_the_server_answers(ctl_server):
    srv, sock, _ = ctl_server
    for qname, qtype in [("www.sinkhole.test", "A"), ("nope.sinkhole.test", "MX"),
                         ("x.necurs-a.test", "TXT"), ("named.test", "NS"), ("necurs-b.test", "MX")]:
        out = ch.ctl_ok(sock, "lookup", qname, qtype)
        info = ch.kv(out)
        r = sk.ask(srv, sk.make_query(qname, qtype), "tcp")
        assert info["rcode"] == dns.rcode.to_text(r.rcode()), out
        assert ("aa" in info["flags"].split()) == bool(r.flags & 0x0400), out
        apex, tags = zone_of(qname)
        assert info["zone"] == apex, out
        got = {ln.split("\t", 1)[0]: set() for ln in out.splitlines() if "\t" in ln}
        for ln in out.splitlines():
            if "\t" in ln:
                sec, rr = ln.split("\t", 1)
                got[sec].add(" ".join(rr.lower().split()))
        for sec, section in (("answer", r.answer), ("authority", r.authority)):
            want = {" ".join(t.lower().split()) for t in sk.rrset_texts(section)}
            assert got.get(sec, set()) == want, f"{qname} {qtype} {sec}:\n{out}"
    out = ch.ctl_ok(sock, "lookup", "nowhere.example")
    assert ch.kv(out)["rcode"] == "REFUSED" and ch.kv(out)["zone"] == "none" and ch.kv(out)["tags"] == "none"
    rc, _, err = ch.ctl(sock, "lookup", "www.sinkhole.test", "NOTATYPE")
    assert rc == 1 and "not a record type" in err
    rc, _, err = ch.ctl(sock, "lookup", "a..b")
    assert rc == 1 and "not a domain name" in err
    assert ch.kv(ch.ctl_ok(sock, "lookup", "www.sinkhole.test", "TYPE1"))["type"] == "A"


def test_telemetry_counters_match_the_file(ctl_server):
    srv, sock, mport = ctl_server
    send_plan(srv)
    n = len(PLAN)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        t = ch.ctl_ok(sock, "telemetry")
        if f"sink jsonl written {n} " in t:
            break
        time.sleep(0.1)
    assert "telemetry on" in t and f"processed {n}\n" in t and "dropped 0\n" in t, t
    assert f"sink jsonl written {n} failed 0 reconnects 0" in t, t
    assert (srv.workdir / "events.jsonl").read_text().count("\n") == n
    s = ch.parse_metrics(ch.scrape("127.0.0.1", mport))
    assert ch.value(s, "sinkholed_telemetry_records_total", sink="jsonl", result="written") == n
    assert ch.value(s, "sinkholed_telemetry_records_total", sink="jsonl", result="failed") == 0
    assert ch.value(s, "sinkholed_telemetry_records_total", sink="all", result="dropped") == 0
    assert ch.value(s, "sinkholed_telemetry_events_processed_total") == n


# -- reload ------------------------------------------------------------------------------------

def test_reload_ok_then_broken_zone_file_line(ctl_server):
    srv, sock, mport = ctl_server
    zone = srv.workdir / "sinkhole.test.zone"
    good = zone.read_text()
    zone.write_text(good.replace("2024010101 ; serial", "2024010102 ; serial") + "added\tA\t192.0.2.201\n")
    out = ch.ctl_ok(sock, "reload")
    assert ch.kv(out)["generation"] == "2" and ch.kv(out)["zones"] == "4", out
    assert sk.rrset_texts(sk.ask(srv, sk.make_query("added.sinkhole.test", "A")).answer) == \
        {"added.sinkhole.test. 3600 IN A 192.0.2.201"}
    assert "serial 2024010102 " in ch.ctl_ok(sock, "zones")

    lines = zone.read_text().splitlines()
    zone.write_text("\n".join(lines + ["broken\tA\t192.0.2.300"]) + "\n")
    bad_line = len(lines) + 1
    rc, out, err = ch.ctl(sock, "reload")
    assert rc == 1, (out, err)
    assert f"sinkhole.test.zone:{bad_line}: " in err, err
    assert "reload failed, keeping generation 2" in err, err
    # Still serving generation 2.
    assert sk.rrset_texts(sk.ask(srv, sk.make_query("added.sinkhole.test", "A")).answer)
    st = ch.kv(ch.ctl_ok(sock, "status"))
    assert (st["generation"], st["reloads_ok"], st["reloads_failed"], st["last_reload"]) == \
        ("2", "1", "1", "failed")
    s = ch.parse_metrics(ch.scrape("127.0.0.1", mport))
    assert ch.value(s, "sinkholed_reloads_total", result="success") == 1
    assert ch.value(s, "sinkholed_reloads_total", result="failure") == 1
    assert ch.value(s, "sinkholed_last_reload_successful") == 0
    # SIGHUP counts in the same figures, and the control socket sees its outcome.
    zone.write_text(good)
    srv.reload()
    st = ch.kv(ch.ctl_ok(sock, "status"))
    assert (st["generation"], st["reloads_ok"], st["last_reload"]) == ("3", "2", "ok")


def test_reload_requests_during_a_reload_fold(ctl_server):
    """Several clients asking at once: each gets an answer from a reload that began after its
    request; reloads never overlap (the log shows each reload end before the next starts)."""
    srv, sock, _ = ctl_server
    procs = [subprocess.Popen([str(ch.sinkholectl_path()), "-s", str(sock), "reload"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    gens = {int(ch.kv(o)["generation"]) for o, _ in outs}
    st = ch.kv(ch.ctl_ok(sock, "status"))
    assert max(gens) == int(st["generation"]) and 2 <= int(st["generation"]) <= 7
    log = srv.log_text().splitlines()
    marks = [ln for ln in log if ": reloading " in ln or ": reloaded: " in ln]
    assert all(": reloading " in a and ": reloaded: " in b for a, b in zip(marks[::2], marks[1::2])), marks


# -- errors and exit status ----------------------------------------------------------------------

def test_errors_and_exit_status(ctl_server, sockdir):
    srv, sock, _ = ctl_server
    rc, out, err = ch.ctl(sock, "frobnicate")
    assert rc == 1 and "bad request 'frobnicate'" in err
    rc, out, err = ch.ctl(sockdir / "absent.sock", "status")
    assert rc == 3 and "cannot connect" in err
    rc, out, err = ch.ctl(sock)
    assert rc == 2 and "usage" in err
    # -c takes the socket from the server's config.
    assert ch.kv(ch.ctl_ok(None, "status", config=srv.conf))["pid"] == str(srv.pid)
    # A raw client: a request line that is too long gets an error answer, not silence.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(b"x" * 2000)
        data = s.recv(4096)
    assert data.startswith(b"error\nrequest line longer than 1024 bytes"), data
    # A client that connects and says nothing is closed by the server within its deadline.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(str(sock))
        assert s.recv(100) == b""


# -- HTTP ---------------------------------------------------------------------------------------

def test_http_edges(ctl_server):
    srv, sock, mport = ctl_server
    base = f"http://127.0.0.1:{mport}"
    assert ch.curl(base + "/")[0] == 404
    assert ch.curl(base + "/metricsx")[0] == 404
    status, head, _ = ch.curl(base + "/metrics", "-X", "POST")
    assert status == 405 and "Allow: GET, HEAD" in head
    status, head, body = ch.curl(base + "/metrics", "-I")
    assert status == 200 and body == ""
    status, _, body = ch.curl(base + "/metrics?x=1", "--http1.0")
    assert status == 200 and "sinkholed_info" in body
    with socket.create_connection(("127.0.0.1", mport), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431 ")
    with socket.create_connection(("127.0.0.1", mport), timeout=5) as s:
        s.sendall(b"BREW /metrics HTCPCP/1.0\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400 ")
    # More idle connections than the cap: the extra ones are closed at once; scraping still works
    # once they are gone.
    held = []
    try:
        for _ in range(40):
            held.append(socket.create_connection(("127.0.0.1", mport), timeout=5))
        closed = 0
        for s in held[32:]:
            s.settimeout(5)
            closed += s.recv(10) == b""
        assert closed == 8
    finally:
        for s in held:
            s.close()
    time.sleep(1)   # the server sees the 32 ends of connection and closes its side
    s = ch.parse_metrics(ch.scrape("127.0.0.1", mport))
    assert ch.value(s, "sinkholed_control_rejected_connections_total") == 8


# -- systemd --------------------------------------------------------------------------------------

def test_sd_notify_ready_reloading_stopping(make_server, sockdir, monkeypatch):
    """With $NOTIFY_SOCKET (a datagram socket this test owns, as systemd would): READY=1 once
    serving, RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a reload, STOPPING=1 at SIGTERM."""
    path = sockdir / "notify"
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(path))
    rx.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        srv = make_server()

        def next_msg():
            return rx.recv(4096).decode()

        first = next_msg()
        assert first.startswith("READY=1\nSTATUS=serving generation 1, 4 zones"), first
        srv.proc.send_signal(signal.SIGHUP)
        m = next_msg()
        assert m.startswith("RELOADING=1\nMONOTONIC_USEC="), m
        assert int(m.split("MONOTONIC_USEC=")[1]) > 0
        m = next_msg()
        assert m.startswith("READY=1\nSTATUS=serving generation 2"), m
        assert srv.stop() == 0
        assert next_msg() == "STOPPING=1"
    finally:
        rx.close()


def test_systemd_unit_verifies():
    """deploy/sinkholed.service: systemd-analyze verify (with ExecStart pointing at the build)."""
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze not installed")
    unit = (sk.REPO / "deploy" / "sinkholed.service").read_text()
    for key in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes",
                "RuntimeDirectory=sinkholed"):
        assert key in unit, key
    with tempfile.TemporaryDirectory() as d:
        u = Path(d) / "sinkholed.service"
        u.write_text(unit.replace("/usr/local/sbin/sinkholed", str(sk.sinkholed_path())))
        p = subprocess.run([tool, "verify", "--man=no", str(u)], capture_output=True, text=True, timeout=60)
        problems = [ln for ln in (p.stdout + p.stderr).splitlines() if "sinkholed.service" in ln]
        assert p.returncode == 0 and not problems, p.stdout + p.stderr


def test_socket_belongs_to_the_run_user_in_a_chroot(sockdir, monkeypatch):
    """As root with `user: nobody` and a chroot: the socket is made before both (its path lies
    outside the chroot), owned by nobody and its group, and answers from inside; the lookup reads
    the snapshot loaded inside the chroot."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    # A sanitizer build: LeakSanitizer reads /proc at exit, which a chroot does not have.
    opts = os.environ.get("ASAN_OPTIONS")
    monkeypatch.setenv("ASAN_OPTIONS", f"{opts}:detect_leaks=0" if opts else "detect_leaks=0")
    root = Path(tempfile.mkdtemp(prefix="skctl-root-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        sk.copy_zones(root)
        for f in root.iterdir():
            os.chmod(f, 0o644)
        sock = sockdir / "priv.sock"
        extra = f"control:\n  socket: {sock}\nmetrics:\n  listen: 127.0.0.1@{sk.free_port(False)}\n"
        srv = sk.SinkServer(root, extra_server=f"  user: nobody\n  chroot: {root}\n", extra=extra)
        try:
            srv.start()
            st = os.lstat(sock)
            assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
            assert stat.S_IMODE(st.st_mode) == 0o660
            assert os.readlink(f"/proc/{srv.pid}/root") == str(root)
            assert ch.kv(ch.ctl_ok(sock, "lookup", "www.sinkhole.test"))["rcode"] == "NOERROR"
            assert ch.kv(ch.ctl_ok(sock, "reload"))["generation"] == "2"
            assert srv.stop() == 0
        finally:
            srv.kill()
    finally:
        shutil.rmtree(root, ignore_errors=True)
