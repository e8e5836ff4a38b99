"""sinkholed's whole life under valgrind (issue 5): start with telemetry (JSON lines, a dnstap file,
the City and ASN test databases), UDP and TCP queries (with ECS, so both geolocations run), a
SIGHUP reload with a changed zone and a new seized list, a second reload with a broken zone (the
old data kept), and SIGTERM. Memcheck must find no error and no definite or indirect leak; the
exit status must be 0.

Run against the plain build (tests/run.sh's gcc pass): under ASan the test skips, as valgrind and
ASan cannot share a process. Skipped with the reason when valgrind is not installed
(tools/install-deps.sh --test installs it). Everything waits longer than elsewhere: valgrind runs
the server about thirty times slower.
"""
import re
import shutil
import signal
import sys

import dns.edns
import dns.flags
import dns.message
import dns.query
import pytest

import skhelpers as sk
import tmhelpers as tm

SLOW = 120.0     # seconds for a start, a reload or a stop under valgrind
VALGRIND = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--num-callers=30"]


def skip(msg):
    print(f"SKIP: {msg}", file=sys.stderr)
    pytest.skip(msg)


def ask(srv, name, transport, ecs=None, qtype="A"):
    q = dns.message.make_query(name, qtype)
    q.flags = 0
    q.use_edns(0, 0, 1232, options=[dns.edns.ECSOption(*ecs)] if ecs else [])
    fn = dns.query.udp if transport == "udp" else dns.query.tcp
    return fn(q, sk.V4, port=srv.port, timeout=10)


def a_records(reply):
    return sorted(rd.address for rrset in reply.answer if rrset.rdtype == 1 for rd in rrset)


def leak_line(log, kind):
    """Bytes in the LEAK SUMMARY line of `kind` ("definitely", "indirectly"); 0 when valgrind
    says no leak was possible at all."""
    if "All heap blocks were freed -- no leaks are possible" in log:
        return 0
    m = re.search(rf"{kind} lost: ([\d,]+) bytes in ([\d,]+) blocks", log)
    assert m, f"no '{kind} lost' line in the valgrind log:\n{log[-4000:]}"
    return int(m.group(1).replace(",", ""))


def test_start_reload_stop_under_valgrind(tmp_path):
    sk.skip_if_sanitized("valgrind cannot run an ASan binary")
    if not shutil.which("valgrind"):
        skip("valgrind not installed (Debian package valgrind; tools/install-deps.sh --test)")
    if not sk.sinkholed_path().exists():
        pytest.fail(f"sinkholed not built: {sk.sinkholed_path()}", pytrace=False)
    if not tm.CITY_DB.exists() or not tm.ASN_DB.exists():
        pytest.fail(f"geo test databases missing in {tm.GEO_DIR}", pytrace=False)

    d = tmp_path / "vg"
    sk.copy_zones(d)
    for f in ("necurs.list", "sinkhole.zone"):
        shutil.copy(sk.HERE / "seized" / f, d / f)
    vlog = d / "valgrind.log"
    srv = tm.TmServer(d, telemetry={"flush_ms": 100, "stats_interval_s": 0,
                                    "jsonl": {"path": str(d / "events.jsonl")},
                                    "dnstap": {"file": str(d / "events.dnstap")}},
                      geoip={"city": str(tm.CITY_DB), "asn": str(tm.ASN_DB)}, workers=2)
    srv.wrapper = VALGRIND + [f"--log-file={vlog}"]
    try:
        try:
            srv.start(timeout=SLOW)
        except tm.DnstapUnsupported as e:
            skip(f"sinkholed was built without dnstap: {e}")

        # Queries: UDP and TCP, ECS from the test databases' Swedish and US networks.
        sent = 0
        for transport in ("udp", "tcp"):
            r = ask(srv, "www.sinkhole.test", transport, ecs=("89.160.20.112", 28))
            assert a_records(r) == ["192.0.2.80"]
            r = ask(srv, "anything.sinkhole.test", transport, ecs=("216.160.83.56", 29))
            assert a_records(r) == ["192.0.2.53"]
            r = ask(srv, "nowhere.example", transport)
            assert r.rcode() == dns.rcode.REFUSED
            sent += 3

        # Reload 1: a changed zone and a seized list that was not there.
        zone = d / "sinkhole.test.zone"
        text = zone.read_text()
        assert "www\t\tA\t192.0.2.80" in text
        zone.write_text(text.replace("www\t\tA\t192.0.2.80", "www\t\tA\t192.0.2.81"))
        srv.conf_kw["seized"] = [("necurs.list", "sinkhole.zone", {"case": "vg-1"})]
        srv.write_config()
        log = srv.reload(timeout=SLOW)
        assert re.search(r"info: reloaded\b", log), log
        for transport in ("udp", "tcp"):
            assert a_records(ask(srv, "www.sinkhole.test", transport)) == ["192.0.2.81"]
            r = ask(srv, "www.necurs-a.test", transport, ecs=("81.2.69.142", 31))
            assert r.rcode() == dns.rcode.NOERROR and r.answer, r
            sent += 2

        # Reload 2: a broken zone; the server says so and keeps what it had.
        zone.write_text(zone.read_text() + "broken\tA\t999.0.0.1\n")
        log = srv.reload(timeout=SLOW)
        assert "reload failed, keeping generation 2" in log, log
        assert re.search(r"sinkhole\.test\.zone:\d+:", log), log
        for transport in ("udp", "tcp"):
            assert a_records(ask(srv, "www.sinkhole.test", transport)) == ["192.0.2.81"]
            sent += 1

        rc = srv.stop(signal.SIGTERM, timeout=SLOW)
        vg = vlog.read_text(errors="replace")
        assert rc == 0, f"exit status {rc} under valgrind; valgrind log:\n{vg[-6000:]}\n" \
                        f"server log:\n{srv.log_text()[-3000:]}"
        assert "ERROR SUMMARY: 0 errors" in vg, vg[-8000:]
        assert leak_line(vg, "definitely") == 0, vg[-8000:]
        assert leak_line(vg, "indirectly") == 0, vg[-8000:]
        # Telemetry ran all along: a record per query in both sinks.
        assert tm.count_lines(d / "events.jsonl") == sent
        _, frames = tm.fstrm_file_frames((d / "events.dnstap").read_bytes())
        assert len(frames) >= sent
    finally:
        srv.kill()
