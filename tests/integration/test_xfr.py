"""test_xfr -- zone transfers out: AXFR (and IXFR answered in full) over TCP, access by address
and TSIG key, TSIG on every message (RFC 8945), seized domains materialised from their template,
the catalog zone (RFC 9432), the `transfer:` config section.

Clients: dnspython (dns.query.xfr with a keyring verifies every message's TSIG, the running MAC
included) and kdig (`-y`), both real verifiers. Interoperation with Knot DNS as a secondary and as
a catalog consumer is in test_xfr_knot.py. Every wait is bounded; no assertion is about time.
"""
import json
import re
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path
from unittest import mock

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.xfr
import dns.zone
import pytest

import skhelpers as sk

SEIZED = sk.HERE / "seized"
NECURS_DOMAINS = ["necurs-a.test", "necurs-b.test", "necurs_c.test", "deep.sub.necurs-d.test",
                  "xn--bcher-kva.test"]

KEY = "xfr-key."
SECRET = "c2lua2hvbGVkLXRyYW5zZmVyLXNlY3JldC0wMQ=="
KEY512 = "other-key."
SECRET512 = "b3RoZXItc2VjcmV0LWZvci1zaGE1MTItdGVzdHMtMDAwMQ=="
KEYRING = dns.tsigkeyring.from_text({KEY: ("hmac-sha256", SECRET), KEY512: ("hmac-sha512", SECRET512)})
BAD_KEYRING = dns.tsigkeyring.from_text({KEY: ("hmac-sha256", "d3JvbmctcGFzc3dvcmQtMDAwMDAwMDAwMDAwMA==")})
UNKNOWN_KEYRING = dns.tsigkeyring.from_text({"nobody.": ("hmac-sha256", SECRET)})

# 127.0.0.1 must sign with xfr-key; other-key (sha512) works from anywhere; 127.0.0.2 needs no key.
TRANSFER = f"""transfer:
  keys:
    - name: {KEY}
      algorithm: hmac-sha256
      secret: {SECRET}
    - name: {KEY512}
      algorithm: hmac-sha512
      secret: {SECRET512}
  allow:
    - address: [127.0.0.1, "::1"]
      key: {KEY}
    - key: {KEY512}
    - 127.0.0.2
  catalog: {{}}
"""

BIG_RECORDS = 20000


def big_zone(path, serial=1, records=BIG_RECORDS):
    lines = ["$ORIGIN big.test.", "$TTL 300",
             f"@ SOA ns.big.test. hostmaster.big.test. {serial} 7200 3600 1209600 300",
             "@ NS ns.big.test.", "ns A 192.0.2.1"]
    lines += [f"h{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(records)]
    Path(path).write_text("\n".join(lines) + "\n")


def start_server(make_server, transfer=TRANSFER, big=True, **kw):
    zones = [(f, n, None) for f, n in sk.DEFAULT_ZONES]
    if big:
        zones.append(("big.test.zone", None, None))
    srv = make_server(zones=zones, start=False, seized=[("seized/necurs.list", "seized/sinkhole.zone")],
                      extra=transfer, **kw)
    shutil.copytree(SEIZED, srv.workdir / "seized", dirs_exist_ok=True)
    if big:
        big_zone(srv.workdir / "big.test.zone")
    return srv.start()


@pytest.fixture(scope="module")
def xsrv(tmp_path_factory):
    d = tmp_path_factory.mktemp("xfr")
    sk.copy_zones(d)
    shutil.copytree(SEIZED, d / "seized", dirs_exist_ok=True)
    big_zone(d / "big.test.zone")
    zones = [(f, n, None) for f, n in sk.DEFAULT_ZONES] + [("big.test.zone", None, None)]
    srv = sk.SinkServer(d, zones=zones, seized=[("seized/necurs.list", "seized/sinkhole.zone")],
                        extra=TRANSFER)
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


def axfr(srv, zone, keyring=KEYRING, keyname=KEY, family=4, source=None, rdtype="AXFR", serial=0,
         algorithm=None):
    """Every message of a transfer, each verified (dnspython checks every TSIG, the MAC chain too)."""
    kw = {}
    if keyring is not None:
        kw = dict(keyring=keyring, keyname=keyname,
                  keyalgorithm=algorithm or (dns.tsig.HMAC_SHA512 if keyname == KEY512 else dns.tsig.HMAC_SHA256))
    if source:
        kw["source"] = source
    return list(dns.query.xfr(srv.addr(family), zone, rdtype=rdtype, serial=serial, port=srv.port, relativize=False,
                              timeout=10, lifetime=60, **kw))


def records(msgs):
    out = []
    for m in msgs:
        for rrset in m.answer:
            for rd in rrset:
                out.append((rrset.name.to_text().lower(), rrset.ttl, dns.rdatatype.to_text(rrset.rdtype),
                            rd.to_text().lower()))
    return out


def raw_tcp_exchange(srv, wire, family=4, source=None, timeout=5.0):
    """Send one framed query, return every reply frame until the peer stops sending for a while."""
    s = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((srv.addr(family), srv.port))
    s.sendall(sk.frame(wire))
    frames = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames.append(sk.recv_frame(s, timeout=1.0))
            h = sk.parse_header(frames[-1])
            if h["rcode"] or h["an"] < 2 and len(frames) == 1:
                break
    except (socket.timeout, ConnectionError, OSError):
        pass
    finally:
        s.close()
    return frames


# -- access --------------------------------------------------------------------------------------

def test_signed_transfer_allowed(xsrv):
    msgs = axfr(xsrv, "sinkhole.test")
    assert all(m.had_tsig for m in msgs), "every message is signed"
    recs = records(msgs)
    assert recs[0][2] == "SOA" and recs[-1][2] == "SOA" and recs[0] == recs[-1], "SOA first and last"
    assert sum(1 for r in recs if r[2] == "SOA") == 2, "the SOA twice, nothing else as SOA"


def test_unsigned_transfer_refused_where_a_key_is_required(xsrv):
    q = dns.message.make_query("sinkhole.test", "AXFR")
    frames = raw_tcp_exchange(xsrv, q.to_wire())
    assert frames, "a reply"
    h = sk.parse_header(frames[0])
    assert h["rcode"] == dns.rcode.REFUSED and h["an"] == 0, h


def test_unsigned_allowed_by_address(xsrv):
    msgs = axfr(xsrv, "sinkhole.test", keyring=None, source="127.0.0.2")
    assert not any(m.had_tsig for m in msgs)
    assert records(msgs)[0][2] == "SOA"


def test_other_address_unsigned_refused(xsrv):
    q = dns.message.make_query("sinkhole.test", "AXFR")
    frames = raw_tcp_exchange(xsrv, q.to_wire(), source="127.0.0.3")
    assert sk.parse_header(frames[0])["rcode"] == dns.rcode.REFUSED


def test_key_from_any_address_sha512(xsrv):
    msgs = axfr(xsrv, "other.test", keyring=KEYRING, keyname=KEY512, source="127.0.0.3")
    assert msgs and all(m.had_tsig for m in msgs)
    assert msgs[0].answer[0].rdtype == dns.rdatatype.SOA


def test_ipv6_signed(xsrv):
    if not sk.have_ipv6():
        pytest.skip("IPv6 unavailable: cannot bind ::1")
    msgs = axfr(xsrv, "other.test", family=6)
    assert records(msgs)[0][2] == "SOA"


def test_bad_signature(xsrv):
    with pytest.raises(dns.tsig.PeerBadSignature):
        axfr(xsrv, "sinkhole.test", keyring=BAD_KEYRING)


def test_bad_key(xsrv):
    with pytest.raises(dns.tsig.PeerBadKey):
        axfr(xsrv, "sinkhole.test", keyring=UNKNOWN_KEYRING, keyname="nobody.")


def test_bad_key_rcode_and_tsig(xsrv):
    """The raw reply: NOTAUTH, no zone data, the TSIG with error BADKEY (17) and no MAC."""
    q = dns.message.make_query("sinkhole.test", "AXFR")
    q.use_tsig(UNKNOWN_KEYRING, "nobody.")
    frames = raw_tcp_exchange(xsrv, q.to_wire())
    h = sk.parse_header(frames[0])
    assert h["rcode"] == dns.rcode.NOTAUTH and h["an"] == 0 and h["ar"] == 1, h
    # the TSIG RDATA ends with: MAC size 0, original ID, error 17, other len 0
    assert frames[0].endswith(struct.pack("!HHHH", 0, q.id, 17, 0))


def test_bad_time(xsrv):
    """A request signed an hour ago: BADTIME (18), signed (RFC 8945 s5.2.3)."""
    q = dns.message.make_query("sinkhole.test", "AXFR")
    q.use_tsig(KEYRING, KEY, algorithm=dns.tsig.HMAC_SHA256)
    with mock.patch("time.time", return_value=time.time() - 3600):
        wire = q.to_wire()
    frames = raw_tcp_exchange(xsrv, wire)
    h = sk.parse_header(frames[0])
    assert h["rcode"] == dns.rcode.NOTAUTH and h["an"] == 0, h
    with pytest.raises(dns.tsig.PeerBadTime):
        dns.message.from_wire(frames[0], keyring=KEYRING, request_mac=q.mac)


def test_signed_query_gets_signed_answer(xsrv, via):
    """Any query with a valid TSIG gets a signed reply (what a secondary's SOA check sends)."""
    transport, family = via
    q = dns.message.make_query("www.sinkhole.test", "A")
    q.use_tsig(KEYRING, KEY, algorithm=dns.tsig.HMAC_SHA256)
    r = sk.ask(xsrv, q, transport, family)   # dnspython verifies the reply's TSIG
    assert r.had_tsig and r.rcode() == dns.rcode.NOERROR
    assert sk.rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}


def test_udp_axfr_notimp_udp_ixfr_soa(xsrv):
    q = dns.message.make_query("sinkhole.test", "AXFR")
    q.use_tsig(KEYRING, KEY, algorithm=dns.tsig.HMAC_SHA256)
    r = dns.query.udp(q, sk.V4, port=xsrv.port, timeout=2)
    assert r.rcode() == dns.rcode.NOTIMP
    q = dns.message.make_query("sinkhole.test", "IXFR")
    q.authority.append(dns.rrset.from_text("sinkhole.test.", 0, "IN", "SOA", ". . 1 0 0 0 0"))
    q.use_tsig(KEYRING, KEY, algorithm=dns.tsig.HMAC_SHA256)
    r = dns.query.udp(q, sk.V4, port=xsrv.port, timeout=2)
    assert r.rcode() == dns.rcode.NOERROR and r.had_tsig
    assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.SOA] and len(r.answer[0]) == 1, \
        "over UDP an IXFR gets the SOA alone (RFC 1995 s2): come back over TCP"


def test_not_a_zone_notauth(xsrv):
    for name in ["nothere.test", "www.sinkhole.test", "sub.necurs-a.test"]:
        q = dns.message.make_query(name, "AXFR")
        q.use_tsig(KEYRING, KEY, algorithm=dns.tsig.HMAC_SHA256)
        frames = raw_tcp_exchange(xsrv, q.to_wire())
        r = dns.message.from_wire(frames[0], keyring=KEYRING, request_mac=q.mac)
        assert r.rcode() == dns.rcode.NOTAUTH and not r.answer, name


# -- content -------------------------------------------------------------------------------------

def answered(srv, name, rdtype):
    """The RRset sinkholed answers for (name, type) over TCP, from whichever section holds it
    (a delegation's NS and glue come in a referral)."""
    q = dns.message.make_query(name, rdtype)
    r = dns.query.tcp(q, sk.V4, port=srv.port, timeout=5)
    for section in (r.answer, r.authority, r.additional):
        for rrset in section:
            if rrset.name == dns.name.from_text(name) and rrset.rdtype == dns.rdatatype.from_text(rdtype):
                return {(rrset.ttl, rd.to_text().lower()) for rd in rrset}
    return set()


def rrsets_of(msgs):
    out = {}
    for name, ttl, rtype, rd in records(msgs)[:-1]:
        out.setdefault((name, rtype), set()).add((ttl, rd))
    return out


@pytest.mark.parametrize("zone", ["sinkhole.test", "other.test", "named.test", "child.sinkhole.test",
                                  "necurs-a.test", "deep.sub.necurs-d.test"])
def test_transfer_equals_answers(xsrv, zone):
    """Every RRset of the transfer is what sinkholed answers to a query for it."""
    sets = rrsets_of(axfr(xsrv, zone))
    assert len(sets) >= 3
    for (name, rtype), rdatas in sets.items():
        assert answered(xsrv, name, rtype) == rdatas, f"{name} {rtype}"


def test_seized_domain_materialised(xsrv):
    """The template's records under the seized domain, its SOA first and last."""
    recs = records(axfr(xsrv, "necurs-b.test"))
    assert recs[0] == ("necurs-b.test.", 3600, "SOA",
                       "ns9.operator.test. hostmaster.operator.test. 2024060101 7200 3600 1209600 300")
    assert recs[-1] == recs[0]
    body = set(recs[1:-1])
    for expected in [("necurs-b.test.", 3600, "NS", "ns9.operator.test."),
                     ("www.necurs-b.test.", 3600, "A", "192.0.2.67"),
                     ("*.necurs-b.test.", 3600, "TXT", '"wildcard"'),
                     ("mail.necurs-b.test.", 300, "A", "192.0.2.25"),
                     ("a.b.c.necurs-b.test.", 3600, "A", "192.0.2.1")]:
        assert expected in body, expected
    assert all(r[0].endswith("necurs-b.test.") for r in recs)


def test_seized_transfer_matches_template_as_zone(xsrv):
    """The same set of records as the template loaded by dnspython with the domain as origin."""
    z = dns.zone.from_file(str(SEIZED / "sinkhole.zone"), origin="necurs-a.test.", relativize=False)
    want = set()
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            for rd in rds:
                want.add((name.to_text().lower(), dns.rdatatype.to_text(rds.rdtype), rd.to_text().lower()))
    got = {(n, t, rd) for n, _, t, rd in records(axfr(xsrv, "necurs-a.test"))}
    assert got == want


def test_large_zone_many_signed_messages(xsrv):
    msgs = axfr(xsrv, "big.test")
    assert len(msgs) > 5, f"{len(msgs)} messages"
    assert all(m.had_tsig for m in msgs), "each message carries its TSIG (and dnspython verified each)"
    recs = records(msgs)
    assert len(recs) == BIG_RECORDS + 4
    assert {r[3] for r in recs if r[0] == "h12345.big.test."} == {"10.0.48.57"}
    assert all(len(m.to_wire()) <= 65535 for m in msgs)


def test_large_zone_kdig(xsrv):
    if not shutil.which("kdig"):
        pytest.skip("kdig not installed")
    out = subprocess.run(["kdig", f"@{sk.V4}", "-p", str(xsrv.port), "-y", f"hmac-sha256:{KEY}:{SECRET}",
                          "AXFR", "big.test"], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert ";; WARNING" not in text and ";; ERROR" not in text, text[-2000:]
    m = re.search(r"Received \d+ B \((\d+) messages, (\d+) records\)", text)
    assert m and int(m.group(1)) > 5 and int(m.group(2)) == BIG_RECORDS + 4, text[-500:]
    assert text.count("TSIG\thmac-sha256.") == int(m.group(1)), "kdig shows each message's TSIG"


def test_records_larger_than_a_message(make_server):
    """Records of 40 KB (a 16 KiB message cannot hold them) among small ones: each goes in a
    message of its own of up to 64 KiB, after the connection's buffer has drained; nothing lost."""
    srv = make_server(start=False, extra=TRANSFER, zones=[("fat.test.zone", None, None)])
    lines = ["$ORIGIN fat.test.", "$TTL 300", "@ SOA ns.fat.test. h.fat.test. 1 7200 3600 1209600 300",
             "@ NS ns.fat.test.", "ns A 192.0.2.1"]
    lines += [f"a{i} A 10.1.{i >> 8}.{i & 255}" for i in range(3000)]
    chunk = " ".join(f'"{c * 250}"' for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[:160 // 4] * 4)
    lines += [f"{n} TXT {chunk}" for n in ("a1000x", "a2000x", "zz")]
    (srv.workdir / "fat.test.zone").write_text("\n".join(lines) + "\n")
    srv.start()
    msgs = axfr(srv, "fat.test")
    recs = records(msgs)
    assert len(recs) == 3000 + 3 + 4
    fat = [r for r in recs if r[2] == "TXT"]
    assert len(fat) == 3 and all(len(r[3]) > 40000 for r in fat)
    assert max(len(m.to_wire()) for m in msgs) > 40000 and len(msgs) > 3
    assert "left out" not in srv.log_text()


def test_ixfr_answered_in_full_or_up_to_date(xsrv):
    full = axfr(xsrv, "other.test", rdtype="IXFR", serial=1)
    recs = records(full)
    assert recs[0][2] == "SOA" and recs[1][2] != "SOA" and recs[-1][2] == "SOA", \
        "an AXFR-style reply (RFC 1995 s4): the second record is no SOA"
    assert set(recs) == set(records(axfr(xsrv, "other.test")))
    serial = int(recs[0][3].split()[2])
    q = dns.message.make_query("other.test", "IXFR")
    q.authority.append(dns.rrset.from_text("other.test.", 0, "IN", "SOA", f". . {serial} 0 0 0 0"))
    q.use_tsig(KEYRING, KEY, algorithm=dns.tsig.HMAC_SHA256)
    r = dns.query.tcp(q, sk.V4, port=xsrv.port, timeout=5)
    assert r.had_tsig and [(rr.rdtype, len(rr)) for rr in r.answer] == [(dns.rdatatype.SOA, 1)], \
        "a client with the current serial gets the SOA alone"


def test_transfer_log_line(xsrv):
    start = xsrv.log_size()
    axfr(xsrv, "named.test")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "xfr: AXFR of zone named.test." not in xsrv.log_text(start):
        time.sleep(0.05)
    line = [ln for ln in xsrv.log_text(start).splitlines() if "xfr: AXFR of zone named.test." in ln]
    assert line, xsrv.log_text(start)
    assert re.search(r"to 127\.0\.0\.1@\d+ complete: 1 messages, \d+ bytes, \d+ records, TSIG key xfr-key\.",
                     line[0]), line[0]


def test_pipelined_query_after_transfer(xsrv):
    """A query sent behind an AXFR on the same connection is answered after the last message."""
    q1 = dns.message.make_query("big.test", "AXFR")
    q1.use_tsig(KEYRING, KEY, algorithm=dns.tsig.HMAC_SHA256)
    q2 = dns.message.make_query("www.sinkhole.test", "A")
    s = sk.tcp_connect(xsrv)
    try:
        s.sendall(sk.frame(q1.to_wire()) + sk.frame(q2.to_wire()))
        ids, soas = [], 0
        for _ in range(200):
            f = sk.recv_frame(s, timeout=5)
            h = sk.parse_header(f)
            ids.append(h["id"])
            if h["id"] == q2.id:
                break
        assert ids[-1] == q2.id and set(ids[:-1]) == {q1.id} and len(ids) > 5, ids[:3]
    finally:
        s.close()


# -- a reload while a transfer runs --------------------------------------------------------------

def read_transfer(s, q, limit=2000):
    """Read a transfer's messages off socket `s` until the second SOA, verifying the TSIG chain as
    dns.query.xfr does (request MAC, then each message's MAC over the one before)."""
    msgs, ctx, soas = [], None, 0
    while soas < 2 and len(msgs) < limit:
        m = dns.message.from_wire(sk.recv_frame(s, timeout=10), keyring=KEYRING, request_mac=q.mac,
                                  xfr=True, tsig_ctx=ctx, multi=True, one_rr_per_rrset=True)
        ctx = m.tsig_ctx
        msgs.append(m)
        soas += sum(1 for rr in m.answer if rr.rdtype == dns.rdatatype.SOA)
    return msgs


HUGE_RECORDS = 300000   # about 7 MB of transfer: more than the kernel buffers (4 MiB send at most)


def test_transfer_keeps_its_snapshot_across_reload(make_server):
    """A transfer that began before a SIGHUP sends the old zone whole, though the reload replaced
    it meanwhile (the transfer holds its snapshot); the next transfer sends the new zone."""
    srv = make_server(start=False, extra=TRANSFER, zones=[("big.test.zone", None, None)])
    big_zone(srv.workdir / "big.test.zone", records=HUGE_RECORDS)
    srv.start(timeout=60)
    q = dns.message.make_query("big.test", "AXFR")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.2", 0))                          # allowed unsigned
    s.settimeout(10)
    s.connect((sk.V4, srv.port))
    try:
        s.sendall(sk.frame(q.to_wire()))
        first = sk.recv_frame(s, timeout=10)
        time.sleep(0.3)                               # the server fills the socket and waits
        big_zone(srv.workdir / "big.test.zone", serial=2, records=10)
        reload_log = srv.reload(timeout=60)
        assert "xfr: AXFR of zone big.test." not in reload_log, "the transfer was still running"
        frames, an = [first], sk.parse_header(first)["an"]
        while an < HUGE_RECORDS + 4 and len(frames) < 10000:
            frames.append(sk.recv_frame(s, timeout=10))
            an += sk.parse_header(frames[-1])["an"]
    finally:
        s.close()
    assert an == HUGE_RECORDS + 4, "the old zone, whole"
    soa_first = dns.message.from_wire(frames[0]).answer[0]
    soa_last = dns.message.from_wire(frames[-1]).answer[-1]
    assert soa_first.rdtype == soa_last.rdtype == dns.rdatatype.SOA
    assert soa_first[0].serial == soa_last[0].serial == 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "complete: " not in srv.log_text():
        time.sleep(0.05)
    log = srv.log_text()
    assert log.index("reloaded: generation 2") < log.index("xfr: AXFR of zone big.test."), \
        "the transfer ended after the reload"
    recs = records(axfr(srv, "big.test"))
    assert len(recs) == 10 + 4 and recs[0][3].split()[2] == "2", "a new transfer sends the new zone"


def test_sigterm_during_a_transfer(make_server):
    """A transfer cut short by SIGTERM: the messages built go out, the rest is not built, the
    log says aborted, the snapshot is released (exit 0; sanitizer builds check for leaks)."""
    srv = make_server(start=False, extra=TRANSFER, zones=[("big.test.zone", None, None)])
    big_zone(srv.workdir / "big.test.zone", records=HUGE_RECORDS)
    srv.start(timeout=60)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.2", 0))
    s.settimeout(10)
    s.connect((sk.V4, srv.port))
    try:
        s.sendall(sk.frame(dns.message.make_query("big.test", "AXFR").to_wire()))
        sk.recv_frame(s, timeout=10)
        time.sleep(0.3)
        assert srv.stop(timeout=30) == 0
    finally:
        s.close()
    log = srv.log_text()
    assert re.search(r"xfr: AXFR of zone big\.test\. to 127\.0\.0\.2@\d+ aborted: \d+ messages", log), log[-2000:]


# -- NOTIFY ----------------------------------------------------------------------------------------

def test_notify_signed_retried_until_answered(make_server):
    """At start every zone is announced to a secondary (here a socket of the test's): the NOTIFY
    carries the zone's SOA and a TSIG that dnspython verifies; unanswered, it comes again with the
    same ID; answered, it stops, and the log says on which try."""
    sec = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sec.bind((sk.V4, 0))
    sec.settimeout(10)
    port = sec.getsockname()[1]
    transfer = TRANSFER + f"  notify:\n    - {{address: 127.0.0.1@{port}, key: {KEY}}}\n"
    try:
        srv = start_server(make_server, transfer=transfer, big=False)
        seen = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            wire, peer = sec.recvfrom(4096)
            m = dns.message.from_wire(wire, keyring=KEYRING)      # raises unless the TSIG verifies
            assert m.opcode() == dns.opcode.NOTIFY and m.flags & dns.flags.AA and m.had_tsig
            zone = m.question[0].name.to_text()
            assert m.question[0].rdtype == dns.rdatatype.SOA
            assert m.answer and m.answer[0].rdtype == dns.rdatatype.SOA
            seen.setdefault(zone, []).append(m.id)
            if zone == "other.test." and len(seen[zone]) == 2:
                r = dns.message.make_response(m)
                sec.sendto(r.to_wire(), peer)
                break
    finally:
        sec.close()
    assert set(seen) == {"sinkhole.test.", "other.test.", "named.test.", "child.sinkhole.test.",
                         "catalog.sinkhole.invalid."}, "every zone and the catalog, no seized domain"
    assert len(set(seen["other.test."])) == 1, "a retry keeps the ID"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "notify: other.test. serial 7: 127.0.0.1@" not in srv.log_text():
        time.sleep(0.1)
    assert re.search(rf"notify: other\.test\. serial \d+: 127\.0\.0\.1@{port} answered \(try 2\)",
                     srv.log_text()), srv.log_text()[-2000:]
    assert f"notify: other.test. serial 7 to 127.0.0.1@{port}, TSIG key {KEY}" in srv.log_text()


# -- catalog -------------------------------------------------------------------------------------

CATALOG = "catalog.sinkhole.invalid"


def catalog_members(srv):
    recs = records(axfr(srv, CATALOG))
    return recs, {rd: name for name, _, t, rd in recs if t == "PTR"}


def test_catalog_content(xsrv):
    recs, members = catalog_members(xsrv)
    assert recs[0][2] == "SOA" and recs[-1] == recs[0] and recs[0][3].startswith("invalid. invalid. ")
    assert ("catalog.sinkhole.invalid.", 0, "NS", "invalid.") in recs
    assert ("version.catalog.sinkhole.invalid.", 0, "TXT", '"2"') in recs
    want = {f"{z}." for z in ["sinkhole.test", "other.test", "named.test", "child.sinkhole.test", "big.test"]}
    want |= {f"{d}." for d in NECURS_DOMAINS}
    assert set(members) == want
    for member, owner in members.items():
        assert re.fullmatch(r"[0-9a-f]{16}\.zones\.catalog\.sinkhole\.invalid\.", owner), owner
    assert len(set(members.values())) == len(members), "ids are unique"


def test_catalog_answers_soa(xsrv):
    r = dns.query.udp(dns.message.make_query(CATALOG, "SOA"), sk.V4, port=xsrv.port, timeout=2)
    assert r.rcode() == dns.rcode.NOERROR and r.answer[0].rdtype == dns.rdatatype.SOA


def test_catalog_queries_match_the_transfer(xsrv):
    """Every RRset of the catalog's transfer is what a query answers, member PTRs included (they
    are made from the member's id, not stored); zones.<catalog> is an empty non-terminal."""
    sets = rrsets_of(axfr(xsrv, CATALOG))
    assert sum(1 for (_, t) in sets if t == "PTR") == 5 + len(NECURS_DOMAINS)
    for (name, rtype), rdatas in sets.items():
        assert answered(xsrv, name, rtype) == rdatas, f"{name} {rtype}"
    owner = next(n for (n, t) in sets if t == "PTR")
    for name, rdtype, rcode in [(owner, "A", "NOERROR"), ("zones." + CATALOG, "PTR", "NOERROR"),
                                ("0000000000000000.zones." + CATALOG, "PTR", "NXDOMAIN"),
                                ("x." + owner, "PTR", "NXDOMAIN"), ("other." + CATALOG, "A", "NXDOMAIN")]:
        r = dns.query.udp(dns.message.make_query(name, rdtype), sk.V4, port=xsrv.port, timeout=2)
        assert sk.rcode_name(r) == rcode and not r.answer, (name, rdtype)
        assert [rr.rdtype for rr in r.authority] == [dns.rdatatype.SOA], (name, rdtype)


def test_catalog_serial_follows_membership(make_server):
    srv = start_server(make_server, big=False)
    recs, members = catalog_members(srv)
    serial = int(recs[0][3].split()[2])
    srv.reload()
    recs2, members2 = catalog_members(srv)
    assert int(recs2[0][3].split()[2]) == serial, "same members, same serial"
    assert members2 == members, "ids are stable across reloads"
    lst = srv.workdir / "seized" / "necurs.list"
    lst.write_text(lst.read_text() + "\nnewly-seized.test\n")
    srv.reload()
    recs3, members3 = catalog_members(srv)
    new = int(recs3[0][3].split()[2])
    assert (new - serial) % 2**32 < 2**31 and new != serial, "the serial moves forward"
    assert set(members3) == set(members) | {"newly-seized.test."}
    assert {k: v for k, v in members3.items() if k in members} == members, "old members keep their ids"


CATALOG_MEMBERS = 200000   # 8 MB of catalog: more than the kernel buffers between us and the client


def test_catalog_of_200k_streams_while_the_worker_answers(make_server):
    """A catalog of 200,000 seized domains, on one worker: while its transfer waits for a client
    that does not read, the same worker answers UDP queries (the transfer never holds the loop);
    then the whole catalog arrives, one PTR per member, in many messages."""
    srv = make_server(zones=[("sinkhole.test.zone", None, None)], start=False, workers=1,
                      seized=[("big.list", "seized/sinkhole.zone")], extra=TRANSFER)
    shutil.copytree(SEIZED, srv.workdir / "seized", dirs_exist_ok=True)
    (srv.workdir / "big.list").write_text("".join(f"dga{i:06d}.test\n" for i in range(CATALOG_MEMBERS)))
    srv.start(timeout=60)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.2", 0))
    s.settimeout(10)
    s.connect((sk.V4, srv.port))
    try:
        s.sendall(sk.frame(dns.message.make_query(CATALOG, "AXFR").to_wire()))
        frames = [sk.recv_frame(s, timeout=10)]
        time.sleep(0.3)                         # the transfer now waits for the socket to drain
        for i in range(20):
            r = dns.query.udp(dns.message.make_query(f"www.dga{i:06d}.test", "A"), sk.V4, port=srv.port,
                              timeout=2)
            assert sk.rrset_texts(r.answer) == {f"www.dga{i:06d}.test. 3600 IN A 192.0.2.67"}
        assert "xfr: AXFR of catalog" not in srv.log_text(), "the transfer was still waiting"
        an = sk.parse_header(frames[0])["an"]
        want = CATALOG_MEMBERS + 1 + 4         # members, sinkhole.test, SOA NS TXT, the last SOA
        while an < want and len(frames) < 20000:
            frames.append(sk.recv_frame(s, timeout=10))
            an += sk.parse_header(frames[-1])["an"]
    finally:
        s.close()
    assert an == want
    assert len(frames) > 50, f"{len(frames)} messages"
    last = dns.message.from_wire(frames[-1])
    assert last.answer[-1].rdtype == dns.rdatatype.SOA
    assert any(rr.rdtype == dns.rdatatype.PTR and rr[0].target.to_text() == "dga199999.test."
               for rr in dns.message.from_wire(frames[-2]).answer + last.answer)


def test_transfer_query_in_telemetry(make_server):
    """AXFR and IXFR queries are recorded like any other (qtype AXFR/IXFR, the first message's size)."""
    jsonl = "events.jsonl"
    srv = make_server(start=False, extra=TRANSFER + f"telemetry:\n  flush_ms: 50\n  jsonl: {{path: {jsonl}}}\n")
    srv.start()
    axfr(srv, "other.test")
    axfr(srv, "other.test", rdtype="IXFR", serial=1)
    path = srv.workdir / jsonl
    deadline = time.monotonic() + 10
    recs = []
    while time.monotonic() < deadline:
        recs = [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []
        if sum(1 for r in recs if r.get("qtype") in ("AXFR", "IXFR")) >= 2:
            break
        time.sleep(0.1)
    xfrs = [r for r in recs if r.get("qtype") in ("AXFR", "IXFR")]
    # (two workers' rings: the telemetry thread may write them in either order)
    assert sorted(r["qtype"] for r in xfrs) == ["AXFR", "IXFR"], recs[-3:]
    for r in xfrs:
        assert r["qname"].lower() == "other.test." and r["rcode"] == "NOERROR" and r["transport"] == "tcp"
        assert r["zone"] == "other.test." and r["size"] > 100


def test_catalog_members_seized_only(make_server):
    transfer = TRANSFER.replace("catalog: {}", "catalog:\n    name: cat.example\n    members: seized")
    srv = start_server(make_server, transfer=transfer, big=False)
    recs = records(axfr(srv, "cat.example"))
    assert {rd for _, _, t, rd in recs if t == "PTR"} == {f"{d}." for d in NECURS_DOMAINS}


# -- without transfers, and the config -----------------------------------------------------------

def test_no_section_no_transfers(server):
    """Without `transfer:` a TSIG is BADKEY and an AXFR over TCP REFUSED, as before."""
    q = dns.message.make_query("sinkhole.test", "AXFR")
    frames = raw_tcp_exchange(server, q.to_wire())
    assert sk.parse_header(frames[0])["rcode"] == dns.rcode.REFUSED
    q.use_tsig(KEYRING, KEY, algorithm=dns.tsig.HMAC_SHA256)
    frames = raw_tcp_exchange(server, q.to_wire())
    assert sk.parse_header(frames[0])["rcode"] == dns.rcode.NOTAUTH
    assert frames[0].endswith(struct.pack("!HHHH", 0, q.id, 17, 0))


CONFIG_ERRORS = [
    ("  keys:\n    - name: k1\n      secret: not*base64\n", 3, "transfer.keys[0].secret: expected a base64 secret"),
    ("  keys:\n    - name: k1\n      algorithm: hmac-md5\n      secret: c2VjcmV0\n", 3,
     "transfer.keys[0].algorithm: expected hmac-sha256 or hmac-sha512, got 'hmac-md5'"),
    ("  allow:\n    - key: missing\n", 2, "transfer: key 'missing' is not defined in transfer.keys"),
    ("  allow:\n    - 192.0.2.1/24\n", 2, "transfer.allow[0]: '192.0.2.1/24' has address bits set past its length"),
    ("  notify:\n    - 127.0.0.1@99999\n", 2, "transfer.notify[0]: bad port in '127.0.0.1@99999'"),
    ("  keys:\n    - name: a\n      secret: c2VjcmV0\n    - name: A.\n      secret: c2VjcmV0\n", 4,
     "transfer.keys[1]: key A. is already defined on line {first}"),
    ("  catalog:\n    members: some\n", 2, "transfer.catalog.members: expected all or seized, got 'some'"),
]


@pytest.mark.parametrize("body,line,msg", CONFIG_ERRORS, ids=[str(i) for i in range(len(CONFIG_ERRORS))])
def test_config_errors(tmp_path, body, line, msg):
    sk.copy_zones(tmp_path)
    conf = tmp_path / "sinkholed.yml"
    sk.write_config(conf, 5353, [(f, n, None) for f, n in sk.DEFAULT_ZONES], extra="transfer:\n" + body)
    text = conf.read_text()
    base = text[:text.index("transfer:")].count("\n") + 1
    out = subprocess.run([str(sk.sinkholed_path()), "--check", "-c", str(conf)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1
    msg = msg.replace("{first}", str(base + 2))   # the line of the first key
    assert f"{conf}:{base + line}: {msg}" in out.stderr, out.stderr
