"""test_lifecycle -- `--check`, SIGHUP reload (good and broken), graceful shutdown."""
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.message
import pytest

import skhelpers as sk
from skhelpers import rcode_name, rrset_texts


def run_check(conf, timeout=20):
    p = sk.run_binary([sk.sinkholed_path(), "--check", "-c", conf], timeout=sk.scaled(timeout))
    return p.returncode, p.stdout + p.stderr


def zone_lines(name):
    return (sk.ZONES / name).read_text().splitlines(keepends=True)


def line_of(lines, prefix):
    for i, line in enumerate(lines, 1):
        if line.startswith(prefix):
            return i
    raise AssertionError(f"{prefix!r} not in zone")


def break_zone(path, prefix, bad):
    """Replace the line starting with `prefix` by `bad`; returns its 1-based line number."""
    lines = Path(path).read_text().splitlines(keepends=True)
    n = line_of(lines, prefix)
    lines[n - 1] = bad + "\n"
    Path(path).write_text("".join(lines))
    return n


@pytest.fixture
def checkdir(tmp_path):
    if not sk.sinkholed_path().exists():
        pytest.fail(f"sinkholed not built: {sk.sinkholed_path()}", pytrace=False)
    sk.copy_zones(tmp_path)
    return tmp_path


def write_conf(d, **kw):
    conf = d / "sinkholed.yml"
    zones = kw.pop("zones", [(f, n, None) for f, n in sk.DEFAULT_ZONES])
    sk.write_config(conf, kw.pop("port", sk.free_port()), zones, **kw)
    return conf


# -- --check -------------------------------------------------------------------------------------

def test_check_ok(checkdir):
    conf = write_conf(checkdir, zones=[("sinkhole.test.zone", None, {"case": "1:24-cv-2323"}),
                                       ("other.test.zone", "other.test", None),
                                       ("named.test.zone", "named.test", None)])
    rc, out = run_check(conf)
    assert rc == 0, out


def test_check_does_not_bind(checkdir):
    """--check validates only: it works while the configured port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((sk.V4, 0))
        conf = write_conf(checkdir, port=s.getsockname()[1], v6=False)
        rc, out = run_check(conf)
    assert rc == 0, out


@pytest.mark.parametrize("bad", [
    "target\tA\t999.1.2.3",            # bad address
    "target\tNOSUCHTYPE\t1.2.3.4",     # unknown type
    'target\tTXT\t"unterminated',      # unterminated string
    "target\tMX\t10",                  # missing field
])
def test_check_broken_zone(checkdir, bad):
    n = break_zone(checkdir / "other.test.zone", "target\t\tA", bad)
    conf = write_conf(checkdir)
    rc, out = run_check(conf)
    assert rc == 1, out
    assert re.search(rf"other\.test\.zone:{n}:", out), f"expected other.test.zone:{n}: in\n{out}"


def test_check_broken_zone_after_multiline_soa(checkdir):
    """Line counting survives a parenthesised multi-line SOA and comments."""
    n = break_zone(checkdir / "sinkhole.test.zone", "mail\t", "mail\tA\tnot-an-address")
    rc, out = run_check(write_conf(checkdir))
    assert rc == 1, out
    assert re.search(rf"sinkhole\.test\.zone:{n}:", out), f"expected sinkhole.test.zone:{n}: in\n{out}"


def test_check_missing_zone_file(checkdir):
    conf = write_conf(checkdir, zones=[("sinkhole.test.zone", None, None), ("absent.zone", "absent.test", None)])
    rc, out = run_check(conf)
    assert rc == 1, out
    assert "absent.zone" in out


def test_check_broken_config(checkdir):
    conf = write_conf(checkdir)
    lines = conf.read_text().splitlines()
    n = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("workers:"))
    lines[n - 1] = "  workers: many"
    conf.write_text("\n".join(lines) + "\n")
    rc, out = run_check(conf)
    assert rc == 1, out
    assert re.search(rf"sinkholed\.yml:{n}:", out), f"expected sinkholed.yml:{n}: in\n{out}"


def test_check_config_syntax_error(checkdir):
    conf = write_conf(checkdir)
    text = conf.read_text()
    conf.write_text(text + "  - file: [unclosed\n")
    n = len(text.splitlines()) + 1
    rc, out = run_check(conf)
    assert rc == 1, out
    assert re.search(r"sinkholed\.yml:\d+:", out), out
    assert re.search(rf"sinkholed\.yml:({n}|{n + 1}):", out), f"expected line {n} in\n{out}"


def test_check_zone_without_soa(checkdir):
    (checkdir / "nosoa.zone").write_text("$ORIGIN nosoa.test.\n$TTL 60\n@ NS ns9.operator.test.\nwww A 192.0.2.1\n")
    conf = write_conf(checkdir, zones=[("nosoa.zone", None, None)])
    rc, out = run_check(conf)
    assert rc == 1, out
    assert "nosoa.zone" in out


def test_include_directive(make_server, tmp_path):
    """$INCLUDE (RFC 1035 5.1), with and without an origin argument; absolute paths, since
    RFC 1035 leaves the base of a relative one to the implementation."""
    inc1 = tmp_path / "inc1.part"
    inc1.write_text("included\tA\t192.0.2.201\n")
    inc2 = tmp_path / "inc2.part"
    inc2.write_text("leaf\tTXT\t\"under another origin\"\n")
    srv = make_server(start=False, zones=[("inc.zone", None, None)])
    (srv.workdir / "inc.zone").write_text(
        "$ORIGIN inc.test.\n$TTL 300\n@ SOA ns9.operator.test. h.operator.test. 1 2 3 4 60\n"
        "@ NS ns9.operator.test.\n"
        f"$INCLUDE {inc1}\n$INCLUDE {inc2} sub.inc.test.\nafter A 192.0.2.202\n")
    srv.start()
    assert a_of(srv, "included.inc.test") == ("NOERROR", {"included.inc.test. 300 IN A 192.0.2.201"})
    r = sk.ask(srv, sk.make_query("leaf.sub.inc.test", "TXT"))
    assert rrset_texts(r.answer) == {'leaf.sub.inc.test. 300 IN TXT "under another origin"'}
    # the origin is restored after the included file (RFC 1035 5.1)
    assert a_of(srv, "after.inc.test") == ("NOERROR", {"after.inc.test. 300 IN A 192.0.2.202"})


def test_check_example_config():
    conf = sk.REPO / "zones" / "example.yml"
    if not conf.exists():
        pytest.skip("zones/example.yml not in the tree yet")
    if not sk.sinkholed_path().exists():
        pytest.fail(f"sinkholed not built: {sk.sinkholed_path()}", pytrace=False)
    rc, out = run_check(conf)
    assert rc == 0, out


def test_start_with_broken_zone_fails(checkdir):
    n = break_zone(checkdir / "other.test.zone", "target\t\tA", "target\tA\t999.1.2.3")
    conf = write_conf(checkdir)
    try:
        p = sk.run_binary([sk.sinkholed_path(), "-c", conf], timeout=sk.scaled(10))
    except subprocess.TimeoutExpired:
        pytest.fail("sinkholed kept running with a broken zone")
    assert p.returncode != 0
    assert re.search(rf"other\.test\.zone:{n}:", p.stderr), p.stderr


# -- reload ----------------------------------------------------------------------------------------

def a_of(srv, name, transport="udp"):
    r = sk.ask(srv, sk.make_query(name, "A"), transport)
    return rcode_name(r), rrset_texts(r.answer)


def serial_of(srv, zone):
    r = sk.ask(srv, sk.make_query(zone, "SOA"))
    return r.answer[0][0].serial


def edit_sink_zone(path, www_addr, serial):
    text = Path(path).read_text()
    text = re.sub(r"^www\t\tA\t.*$", f"www\t\tA\t{www_addr}", text, flags=re.M)
    text = re.sub(r"\d+ ; serial", f"{serial} ; serial", text)
    Path(path).write_text(text)


def test_reload_changes_answers(make_server):
    srv = make_server()
    zone = srv.workdir / "sinkhole.test.zone"
    assert a_of(srv, "www.sinkhole.test") == ("NOERROR", {"www.sinkhole.test. 3600 IN A 192.0.2.80"})
    assert serial_of(srv, "sinkhole.test") == 2024010101
    edit_sink_zone(zone, "192.0.2.81", 2024010102)
    srv.reload()
    for transport in ("udp", "tcp"):
        assert a_of(srv, "www.sinkhole.test", transport) == \
            ("NOERROR", {"www.sinkhole.test. 3600 IN A 192.0.2.81"})
    assert serial_of(srv, "sinkhole.test") == 2024010102
    assert srv.alive()


def test_reload_config_adds_and_removes_zones(make_server):
    srv = make_server(zones=[("sinkhole.test.zone", None, None)])
    assert a_of(srv, "target.other.test")[0] == "REFUSED"
    srv.zones = [("other.test.zone", None, None)]
    srv.write_config()
    srv.reload()
    assert a_of(srv, "target.other.test") == ("NOERROR", {"target.other.test. 600 IN A 198.51.100.10"})
    assert a_of(srv, "www.sinkhole.test")[0] == "REFUSED", "removed zone still served"


def test_reload_server_settings(make_server):
    """identity, version and edns_size come from the config, so a reload changes them."""
    srv = make_server()

    def chaos(name):
        r = sk.ask(srv, sk.make_query(name, "TXT", "CH"))
        return rcode_name(r), [s for rr in r.answer for rd in rr for s in rd.strings]

    assert chaos("id.server") == ("NOERROR", [sk.IDENTITY.encode()])
    srv.write_config(identity="renamed.example", version=False, edns_size=1400)
    srv.reload()
    assert chaos("id.server") == ("NOERROR", [b"renamed.example"])
    assert chaos("version.bind")[0] == "REFUSED"
    r = sk.ask(srv, sk.make_query("www.sinkhole.test", "A", edns=True))
    assert r.payload == 1400


def test_reload_broken_zone_keeps_old(make_server):
    srv = make_server()
    zone = srv.workdir / "sinkhole.test.zone"
    good = zone.read_text()
    edit_sink_zone(zone, "192.0.2.81", 2024010102)
    n = break_zone(zone, "mail\t", "mail\tA\t999.0.2.25")
    log = srv.reload()
    assert re.search(rf"sinkhole\.test\.zone:{n}:", log), f"reload log does not name the line {n}:\n{log}"
    assert srv.alive()
    assert a_of(srv, "www.sinkhole.test") == ("NOERROR", {"www.sinkhole.test. 3600 IN A 192.0.2.80"}), \
        "a broken reload must keep the old answers"
    assert a_of(srv, "target.other.test")[0] == "NOERROR", "other zones must keep serving"
    assert serial_of(srv, "sinkhole.test") == 2024010101
    # fixed: the next reload goes through
    zone.write_text(good)
    edit_sink_zone(zone, "192.0.2.82", 2024010103)
    srv.reload()
    assert a_of(srv, "www.sinkhole.test") == ("NOERROR", {"www.sinkhole.test. 3600 IN A 192.0.2.82"})


def test_reload_broken_config_keeps_old(make_server):
    srv = make_server()
    good = srv.conf.read_text()
    lines = good.splitlines()
    n = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("workers:"))
    lines[n - 1] = "  workers: many"
    srv.conf.write_text("\n".join(lines) + "\n")
    (srv.workdir / "sinkhole.test.zone").write_text(
        (srv.workdir / "sinkhole.test.zone").read_text().replace("192.0.2.80", "192.0.2.89"))
    log = srv.reload()
    assert re.search(rf"sinkholed\.yml:{n}:", log), f"reload log does not name sinkholed.yml:{n}:\n{log}"
    assert a_of(srv, "www.sinkhole.test") == ("NOERROR", {"www.sinkhole.test. 3600 IN A 192.0.2.80"})


def fd_count(pid):
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_reload_zone_file_removed_keeps_old(make_server):
    srv = make_server()
    (srv.workdir / "other.test.zone").unlink()
    log = srv.reload()
    assert "other.test.zone" in log, log
    assert srv.alive()
    assert a_of(srv, "target.other.test") == ("NOERROR", {"target.other.test. 600 IN A 198.51.100.10"})


def test_sighup_storm(make_server):
    """Ten SIGHUPs in a row, the zone changing in between: the server survives and ends up
    serving the last version."""
    srv = make_server()
    zone = srv.workdir / "sinkhole.test.zone"
    for i in range(10):
        edit_sink_zone(zone, f"192.0.2.{100 + i}", 2024010102 + i)
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.01)
    deadline = time.monotonic() + 10
    got = None
    while time.monotonic() < deadline:
        assert srv.alive(), srv.log_text()[-2000:]
        got = a_of(srv, "www.sinkhole.test")
        if got == ("NOERROR", {"www.sinkhole.test. 3600 IN A 192.0.2.109"}) \
                and serial_of(srv, "sinkhole.test") == 2024010111:
            break
        time.sleep(0.1)
    assert got == ("NOERROR", {"www.sinkhole.test. 3600 IN A 192.0.2.109"})
    assert srv.alive()


RELOAD_EVENT = re.compile(r"sinkholed\[\d+\]: \w+: (reloading |reloaded: generation (\d+)|"
                          r"reload failed, keeping generation (\d+))")


def reload_events(text):
    """[("start", None) | ("done", generation) | ("failed", kept generation)] in log order."""
    out = []
    for m in RELOAD_EVENT.finditer(text):
        if m.group(1).startswith("reloading"):
            out.append(("start", None))
        elif m.group(2):
            out.append(("done", int(m.group(2))))
        else:
            out.append(("failed", int(m.group(3))))
    return out


def test_sighup_storm_100_in_a_second(make_server, tmp_path):
    """100 SIGHUPs within a second, the zone rewritten before each: reloads never overlap (the
    log shows each reload end before the next one starts, generations one apart), SIGHUPs that
    arrive during a reload are folded (a 100,000-domain list makes each reload take longer
    than the gap between signals, so there are fewer reloads than signals), and the last edit
    is what the server ends up serving."""
    shutil.copy(sk.HERE / "seized" / "sinkhole.zone", tmp_path / "template.zone")
    with open(tmp_path / "big.list", "w") as f:
        for i in range(100000):
            f.write(f"storm{i:06d}.example\n")
    srv = make_server(seized=[(str(tmp_path / "big.list"), str(tmp_path / "template.zone"), None)])
    zone = srv.workdir / "sinkhole.test.zone"
    start = srv.log_size()
    t0 = time.monotonic()
    for i in range(100):
        tmp = zone.with_suffix(".tmp")
        tmp.write_text(zone.read_text())
        edit_sink_zone(tmp, f"198.51.100.{i}", 2024020100 + i)
        tmp.replace(zone)          # whole files only: a reload never sees half an edit
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(max(0.0, t0 + (i + 1) / 100 - time.monotonic()))
    want = ("NOERROR", {"www.sinkhole.test. 3600 IN A 198.51.100.99"})
    deadline = time.monotonic() + 30
    events = []
    while time.monotonic() < deadline:
        assert srv.alive(), srv.log_text()[-2000:]
        events = reload_events(srv.log_text(start))
        idle = events and events[-1][0] != "start"
        if idle and a_of(srv, "www.sinkhole.test") == want:
            time.sleep(0.3)        # a reload still owed would have started by now
            events = reload_events(srv.log_text(start))
            if events[-1][0] != "start":
                break
        time.sleep(0.05)
    assert a_of(srv, "www.sinkhole.test") == want
    assert serial_of(srv, "sinkhole.test") == 2024020199
    kinds = [k for k, _ in events]
    assert kinds[0::2] == ["start"] * (len(kinds) // 2) and \
        all(k != "start" for k in kinds[1::2]) and len(kinds) % 2 == 0, \
        f"reloads overlapped or did not finish: {kinds}"
    done = [g for k, g in events if k == "done"]
    assert done == list(range(2, 2 + len(done))), f"generations not one apart: {done}"
    assert len(done) == len(kinds) // 2, f"a reload failed: {events}"
    assert 1 <= len(done) < 100, f"{len(done)} reloads for 100 SIGHUPs: nothing was folded"
    assert srv.alive()


def test_reloads_do_not_leak_fds(make_server):
    srv = make_server()
    zone = srv.workdir / "sinkhole.test.zone"
    srv.reload()
    before = fd_count(srv.pid)
    for i in range(15):
        edit_sink_zone(zone, f"192.0.2.{120 + i}", 2024010102 + i)
        srv.reload()
    assert a_of(srv, "www.sinkhole.test")[1] == {"www.sinkhole.test. 3600 IN A 192.0.2.134"}
    after = fd_count(srv.pid)
    assert after <= before + 2, f"fds {before} -> {after} after 15 reloads"


def test_tcp_connection_survives_reload(make_server):
    """A connection opened before a reload keeps working and sees the new data."""
    srv = make_server()
    with sk.tcp_connect(srv) as s:
        for i, addr in enumerate(["192.0.2.80", "192.0.2.81", "192.0.2.82"]):
            if i:
                edit_sink_zone(srv.workdir / "sinkhole.test.zone", addr, 2024010101 + i)
                srv.reload()
            q = sk.make_query("www.sinkhole.test", "A", qid=900 + i)
            s.sendall(sk.frame(q.to_wire()))
            m = dns.message.from_wire(sk.recv_frame(s))
            assert m.id == 900 + i
            assert rrset_texts(m.answer) == {f"www.sinkhole.test. 3600 IN A {addr}"}


def _hold_udp_and_tcp_port():
    """A UDP and a TCP socket bound to the same free port of 127.0.0.1. The UDP port comes from
    the kernel; the same number may be taken for TCP (another test's connection): then try
    another."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((sk.V4, 0))
            t.bind((sk.V4, s.getsockname()[1]))
            t.listen(1)
            return s, t
        except OSError:
            s.close()
            t.close()
    pytest.fail("no port free for both UDP and TCP in 50 tries")


def test_start_port_in_use_fails(checkdir):
    """Another process holds the port: sinkholed says so and exits non-zero instead of serving
    half its addresses."""
    s, t = _hold_udp_and_tcp_port()
    with s, t:
        port = s.getsockname()[1]
        conf = write_conf(checkdir, port=port, v6=False)
        try:
            p = sk.run_binary([sk.sinkholed_path(), "-c", conf], timeout=sk.scaled(10))
        except subprocess.TimeoutExpired:
            pytest.fail("sinkholed kept running without its port")
    assert p.returncode != 0
    assert f"127.0.0.1@{port}" in p.stderr or str(port) in p.stderr, p.stderr


@pytest.mark.parametrize("workers", [1, 4])
def test_worker_counts(make_server, workers):
    srv = make_server(workers=workers)
    for i in range(40):  # fresh source port each time: spread over the SO_REUSEPORT sockets
        assert a_of(srv, "www.sinkhole.test", "udp" if i % 2 else "tcp") == \
            ("NOERROR", {"www.sinkhole.test. 3600 IN A 192.0.2.80"})


def test_many_zones(make_server):
    """300 zones, nested and side by side: each name is answered by its own zone."""
    srv = make_server(start=False, zones=[])
    zones = []
    for i in range(300):
        origin = f"z{i}.many.test." if i % 3 else f"z{i}.z{i - 1 if i else 1}.many.test."
        f = f"z{i}.zone"
        (srv.workdir / f).write_text(
            f"$ORIGIN {origin}\n$TTL 60\n@ SOA ns9.operator.test. h.operator.test. {i + 1} 2 3 4 60\n"
            f"@ NS ns9.operator.test.\nwww A 10.{i // 256}.{i % 256}.1\n")
        zones.append((f, None, {"case": f"case-{i}"}))
    srv.zones = zones
    srv.start()
    for i in range(0, 300, 7):
        origin = f"z{i}.many.test." if i % 3 else f"z{i}.z{i - 1 if i else 1}.many.test."
        assert a_of(srv, "www." + origin) == ("NOERROR", {f"www.{origin} 60 IN A 10.{i // 256}.{i % 256}.1"})
        assert serial_of(srv, origin) == i + 1
    assert a_of(srv, "www.many.test")[0] == "REFUSED"


def test_queries_answered_during_reloads(make_server):
    """Queries never wait for, nor fail during, a reload: every answer is the old or the new one."""
    srv = make_server()
    zone = srv.workdir / "sinkhole.test.zone"
    valid = {"192.0.2.80", "192.0.2.81", "192.0.2.82", "192.0.2.83"}
    bad = []
    stop = threading.Event()
    count = [0]

    def hammer():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1.0)
            deadline = time.monotonic() + 20
            while not stop.is_set() and time.monotonic() < deadline and count[0] < 20000:
                q = sk.make_query("www.sinkhole.test", "A")
                s.sendto(q.to_wire(), (sk.V4, srv.port))
                try:
                    m = dns.message.from_wire(s.recvfrom(65535)[0])
                except socket.timeout:
                    bad.append("timeout")
                    continue
                got = {rd.address for rr in m.answer for rd in rr}
                if m.id != q.id or rcode_name(m) != "NOERROR" or len(got) != 1 or not got <= valid:
                    bad.append(f"id {m.id}/{q.id} {rcode_name(m)} {got}")
                count[0] += 1

    t = threading.Thread(target=hammer)
    t.start()
    try:
        for i, addr in enumerate(["192.0.2.81", "192.0.2.82", "192.0.2.83"]):
            edit_sink_zone(zone, addr, 2024010102 + i)
            srv.reload()
    finally:
        stop.set()
        t.join(30)
    assert count[0] > 0
    assert not bad, f"{len(bad)} bad answers during reload, first: {bad[:5]}"
    assert a_of(srv, "www.sinkhole.test")[1] == {"www.sinkhole.test. 3600 IN A 192.0.2.83"}


# -- shutdown --------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown_exit_0(make_server, sig):
    srv = make_server()
    assert a_of(srv, "www.sinkhole.test")[0] == "NOERROR"
    assert srv.stop(sig) == 0, srv.log_text()[-2000:]


def test_tcp_in_flight_answered_at_shutdown(make_server):
    """Queries read before SIGTERM are answered before the server exits."""
    srv = make_server()
    n = 20
    blob = b"".join(sk.frame(sk.make_query("huge.sinkhole.test", "TXT", qid=6000 + i).to_wire())
                    for i in range(n))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # answers back up in the server
        s.settimeout(5)
        s.connect((sk.V4, srv.port))
        s.sendall(blob)
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        got = set()
        try:
            for _ in range(n):
                got.add(dns.message.from_wire(sk.recv_frame(s, 5)).id)
        except (EOFError, ConnectionResetError, socket.timeout):
            pass
    try:  # one SIGTERM only: a second one while exiting may rightly end the process at once
        rc = srv.proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    assert got == {6000 + i for i in range(n)}, f"only {len(got)} of {n} in-flight answers arrived"
    assert rc == 0, srv.log_text()[-2000:]
