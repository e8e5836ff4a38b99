"""test_xfr_knot -- Knot DNS (knotd, Debian `knot`) as a secondary of sinkholed, over TSIG.

1. Knot transfers every zone and some seized domains from sinkholed and then answers a set of
   queries exactly as sinkholed does (rcode, AA, answer and authority as sets, TTLs included).
2. A zone file's serial changes and sinkholed gets a SIGHUP: its NOTIFY makes Knot transfer again
   (Knot's own refresh timer is hours away), within a bounded wait.
3. Knot as a catalog consumer (`catalog-role: interpret`) of sinkholed's catalog zone: every
   member appears on Knot with no configuration of its own; a domain added to a seized list and a
   SIGHUP make it appear on Knot too.

Knot runs as root on loopback ports with its own rundir and storage in the test's temp dir. The
tests skip, with the reason printed, when knotd is not installed. Every wait is bounded.
"""
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

import skhelpers as sk

SEIZED = sk.HERE / "seized"
KEY = "xfr-key."
SECRET = "c2lua2hvbGVkLXRyYW5zZmVyLXNlY3JldC0wMQ=="
KEYRING = dns.tsigkeyring.from_text({KEY: ("hmac-sha256", SECRET)})
ZONES = ["sinkhole.test", "other.test", "named.test", "child.sinkhole.test"]
SEIZED_ON_KNOT = ["necurs-a.test", "deep.sub.necurs-d.test"]
CATALOG = "catalog.sinkhole.invalid"
WAIT = 60   # seconds: a bound for Knot's transfers, never an expectation of speed


def knotd():
    for p in (shutil.which("knotd"), "/usr/sbin/knotd"):
        if p and Path(p).exists():
            return p
    msg = "knotd not installed (Debian package knot)"
    print(f"SKIP: {msg}", file=sys.stderr)
    pytest.skip(msg)


def transfer_section(knot_port):
    return f"""transfer:
  keys:
    - name: {KEY}
      algorithm: hmac-sha256
      secret: {SECRET}
  allow:
    - address: 127.0.0.1
      key: {KEY}
  notify:
    - address: 127.0.0.1@{knot_port}
      key: {KEY}
  catalog: {{}}
"""


class Knot:
    """knotd in its own folder, as a secondary of sinkholed at `primary_port`."""

    def __init__(self, workdir, port, primary_port, zones=(), catalog=False):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.conf = self.dir / "knot.conf"
        self.log = self.dir / "knot.log"
        d = self.dir
        text = f"""server:
    rundir: {d}
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 2
log:
  - target: stderr
    any: info
database:
    storage: {d}/db
key:
  - id: {KEY}
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: sinkholed
    address: 127.0.0.1@{primary_port}
    key: {KEY}
acl:
  - id: from_sinkholed
    address: 127.0.0.1
    key: {KEY}
    action: notify
template:
  - id: default
    storage: {d}/zones
    master: sinkholed
    acl: from_sinkholed
    zonefile-sync: -1
    journal-content: none
  - id: member
    storage: {d}/members
    master: sinkholed
    acl: from_sinkholed
    zonefile-sync: -1
    journal-content: none
zone:
"""
        for z in zones:
            text += f"  - domain: {z}.\n"
        if catalog:
            text += f"  - domain: {CATALOG}.\n    catalog-role: interpret\n    catalog-template: member\n"
        self.conf.write_text(text)
        (d / "db").mkdir(exist_ok=True)      # Knot 3.2 opens its catalog database only if it exists
        self.proc = None

    def start(self):
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen([knotd(), "-c", str(self.conf)], stdout=self._logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("knotd exited:\n" + self.log.read_text()[-3000:])
            try:
                dns.query.udp(dns.message.make_query("probe.invalid.", "A"), sk.V4, port=self.port, timeout=0.2)
                return self
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("knotd did not answer:\n" + self.log.read_text()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self._logf.close()

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def ask(port, name, rdtype, tcp=False):
    q = dns.message.make_query(name, rdtype)
    q.flags = 0
    if tcp:
        return dns.query.tcp(q, sk.V4, port=port, timeout=3)
    return dns.query.udp(q, sk.V4, port=port, timeout=3)


def serial_on(port, zone):
    try:
        r = ask(port, zone, "SOA")
    except Exception:
        return None
    if r.rcode() != dns.rcode.NOERROR or not r.answer or not r.flags & dns.flags.AA:
        return None
    return r.answer[0][0].serial


def wait_for(what, check, timeout=WAIT, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s" + ("\n" + log()[-4000:] if log else ""))


def summary(r):
    """What is compared: rcode, AA, and the answer and authority sections as sets of RRs."""
    return (dns.rcode.to_text(r.rcode()), bool(r.flags & dns.flags.AA),
            sk.rrset_texts(r.answer), sk.rrset_texts(r.authority))


def queries_from(port, zone):
    """Every (name, type) of the zone's transfer from sinkholed, plus names that do not exist."""
    msgs = dns.query.xfr(sk.V4, zone, port=port, keyring=KEYRING, keyname=KEY,
                         keyalgorithm=dns.tsig.HMAC_SHA256, relativize=False, timeout=10, lifetime=30)
    qs = set()
    for m in msgs:
        for rrset in m.answer:
            qs.add((rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype)))
    qs |= {(f"nothere-{i}.{zone}.", t) for i in range(2) for t in ("A", "TXT")}
    qs |= {(f"{zone}.", t) for t in ("A", "AAAA", "MX", "TXT", "NS", "SOA", "CAA")}
    return sorted(qs)


@pytest.fixture
def pair(make_server, tmp_path):
    """sinkholed with the test zones, the necurs list and a catalog; Knot's port chosen first."""
    knotd()
    knot_port = sk.free_port(v6=False)
    srv = make_server(start=False, seized=[("seized/necurs.list", "seized/sinkhole.zone")],
                      extra=transfer_section(knot_port))
    shutil.copytree(SEIZED, srv.workdir / "seized", dirs_exist_ok=True)
    srv.start()
    knots = []

    def make_knot(**kw):
        k = Knot(tmp_path / f"knot{len(knots)}", knot_port, srv.port, **kw)
        knots.append(k)
        return k.start()

    yield srv, make_knot
    for k in knots:
        k.stop()


def test_knot_secondary_answers_like_sinkholed(pair):
    srv, make_knot = pair
    knot = make_knot(zones=ZONES + SEIZED_ON_KNOT)
    for z in ZONES + SEIZED_ON_KNOT:
        want = serial_on(srv.port, z)
        wait_for(f"Knot serves {z} at serial {want}", lambda: serial_on(knot.port, z) == want,
                 log=knot.log_text)
    compared = 0
    for z in ZONES + SEIZED_ON_KNOT:
        for name, rdtype in queries_from(srv.port, z):
            ours, theirs = ask(srv.port, name, rdtype, tcp=True), ask(knot.port, name, rdtype, tcp=True)
            assert summary(theirs) == summary(ours), f"{name} {rdtype}"
            compared += 1
    assert compared > 100, compared
    # Knot transferred with the key: sinkholed logged signed transfers of each zone.
    log = srv.log_text()
    for z in ZONES + SEIZED_ON_KNOT:
        assert f" {z}. to 127.0.0.1@" in log and "TSIG key xfr-key." in log, z
    # A seized domain's template answers from Knot as from sinkholed, wildcard included.
    r = ask(knot.port, "anything.necurs-a.test", "A")
    assert sk.rrset_texts(r.answer) == {"anything.necurs-a.test. 3600 IN A 192.0.2.66"}


def test_notify_after_sighup_makes_knot_transfer_again(pair):
    srv, make_knot = pair
    knot = make_knot(zones=ZONES)
    old = serial_on(srv.port, "other.test")
    wait_for("Knot serves other.test", lambda: serial_on(knot.port, "other.test") == old, log=knot.log_text)
    zf = srv.workdir / "other.test.zone"
    text = zf.read_text()
    new = old + 1
    text = text.replace(f" {old} ", f" {new} ", 1)
    assert f" {new} " in text, "the serial was rewritten"
    zf.write_text(text + "\nnotified 300 IN TXT \"after the SIGHUP\"\n")
    start = srv.log_size()
    srv.reload()
    wait_for("Knot serves other.test at the new serial", lambda: serial_on(knot.port, "other.test") == new,
             log=knot.log_text)
    r = ask(knot.port, "notified.other.test", "TXT")
    assert sk.rrset_texts(r.answer) == {'notified.other.test. 300 IN TXT "after the sighup"'}
    wait_for("sinkholed logs Knot's answer to the NOTIFY",
             lambda: f"notify: other.test. serial {new}: 127.0.0.1@{knot.port} answered" in srv.log_text(start))
    log = srv.log_text(start)
    # (answers to the NOTIFYs of the start may still arrive: only new sends count)
    assert not re.search(r"notify: (sinkhole|named|child\.sinkhole)\.test\. serial \d+ to ", log), \
        "zones whose serial did not change are not notified"
    assert f"notify: other.test. serial {new} to 127.0.0.1@{knot.port}, TSIG key xfr-key." in log
    assert "received NOTIFY" in knot.log_text() or "notify" in knot.log_text().lower()


def test_knot_catalog_consumer(pair):
    srv, make_knot = pair
    knot = make_knot(catalog=True)
    necurs = ["necurs-a.test", "necurs-b.test", "deep.sub.necurs-d.test"]
    for d in necurs + ZONES:
        wait_for(f"{d} appears on Knot from the catalog", lambda: serial_on(knot.port, d) is not None,
                 log=knot.log_text)
    r = ask(knot.port, "www.necurs-b.test", "A")
    assert sk.rrset_texts(r.answer) == {"www.necurs-b.test. 3600 IN A 192.0.2.67"}
    assert summary(ask(knot.port, "x.deep.sub.necurs-d.test", "TXT")) == \
        summary(ask(srv.port, "x.deep.sub.necurs-d.test", "TXT"))
    assert serial_on(knot.port, "newly-seized.test") is None
    lst = srv.workdir / "seized" / "necurs.list"
    lst.write_text(lst.read_text() + "\nnewly-seized.test\n")
    srv.reload()
    wait_for("newly-seized.test appears on Knot after the SIGHUP",
             lambda: serial_on(knot.port, "newly-seized.test") is not None, log=knot.log_text)
    r = ask(knot.port, "www.newly-seized.test", "A")
    assert sk.rrset_texts(r.answer) == {"www.newly-seized.test. 3600 IN A 192.0.2.67"}
