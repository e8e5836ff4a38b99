"""test_differential -- the same zones in Knot DNS (Debian `knot`) and in sinkholed; a few hundred
generated queries sent to both over UDP; rcode, AA, TC, OPT presence and the answer, authority and
additional sections (as sets of RRs, TTLs included) must agree, except where KNOWN_DIFFERENCES
names the case and the RFC that makes sinkholed right. Every difference is printed."""
import os
import random
import re
import shutil
import signal
import subprocess
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.rcode
import dns.zone
import pytest

import skhelpers as sk

# Each entry excuses one kind of difference, narrowly: the query name (regex, matched against the
# lowercased name without the final dot), the query type(s), the field that differs, and an
# optional check(query, knot_reply, sk_reply) that must hold for the entry to apply.
KNOWN_DIFFERENCES = {}


def _any_one_rrset(q, knot, ours):
    """Both answered ANY with exactly one complete RRset owned by the query name."""
    return (len(knot.answer) == 1 and len(ours.answer) == 1
            and ours.answer[0].name == q.question[0].name)


KNOWN_DIFFERENCES["any-choice"] = dict(
    qname=r".*", qtype={"ANY"}, fields={"answer"}, check=_any_one_rrset,
    rfc="RFC 8482 4.1: the responder chooses which one RRset to return for ANY; "
        "Knot and sinkholed may pick different ones")


def _cname_into_other_zone(q, knot, ours):
    """Knot stops at the CNAME whose target lies in another zone; sinkholed goes on into that zone
    (as NSD does): same CNAME first, then only the target's data, and a negative answer's SOA is
    the target zone's."""
    if len(knot.answer) != 1 or knot.answer[0].rdtype != dns.rdatatype.CNAME or knot.authority:
        return False
    cname = knot.answer[0]
    if not ours.answer or ours.answer[0] != cname or ours.answer[0].ttl != cname.ttl:
        return False
    target = cname[0].target
    zone_of_q = _zone_of(q.question[0].name)
    zone_of_t = _zone_of(target)
    if zone_of_t is None or zone_of_t == zone_of_q:
        return False
    if any(rr.name != target for rr in ours.answer[1:]):
        return False
    return all(rr.rdtype == dns.rdatatype.SOA and rr.name == zone_of_t for rr in ours.authority)


def _chain_prefix(q, knot, ours):
    """Both cut the c1 -> ... -> c12 -> target chain short, or sinkholed reaches its end: each
    answer follows the chain from the query name, in order, and sinkholed's (8 steps) is at
    least as long as Knot's (5). If sinkholed reaches the target its rcode and SOA are the
    target's (NODATA there: the zone's SOA)."""
    def owners(m):
        return [rr.name.to_text().lower() for rr in m.answer]
    full = [f"c{i}.other.test." for i in range(1, 13)] + ["target.other.test."]
    start = full.index(q.question[0].name.to_text().lower())
    chain = full[start:]
    k, o = owners(knot), owners(ours)
    if not (k == chain[:len(k)] and o == chain[:len(o)] and len(o) >= len(k)):
        return False
    if knot.rcode() != 0 or ours.rcode() != 0 or knot.authority:
        return False
    reached = o and o[-1] == "target.other.test."
    cname_only = all(rr.rdtype == dns.rdatatype.CNAME for rr in ours.answer)
    if cname_only and len(o) == len(chain) - 1:   # at the target, which lacks the type: NODATA
        return [rr.name.to_text().lower() for rr in ours.authority] == ["other.test."]
    return not ours.authority and (reached or cname_only)


KNOWN_DIFFERENCES["cname-chain-limit"] = dict(
    qname=r"c([1-9]|1[0-2])\.other\.test", qtype=None, fields={"answer", "authority"}, check=_chain_prefix,
    rfc="RFC 1034 4.3.2 sets no bound on CNAME chains; each server stops after its own limit "
        "(Knot 5 records, sinkholed 8 steps) and the resolver re-queries the last target")


def _cname_dnssec_type(q, knot, ours):
    """NSEC/RRSIG at a CNAME owner in an unsigned zone: Knot answers NODATA at the owner,
    sinkholed (like NSD) follows the CNAME."""
    qn = q.question[0].name
    return (not knot.answer and [rr.rdtype for rr in knot.authority] == [dns.rdatatype.SOA]
            and ours.answer and ours.answer[0].name == qn
            and ours.answer[0].rdtype == dns.rdatatype.CNAME and knot.rcode() == dns.rcode.NOERROR
            and ours.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN))


KNOWN_DIFFERENCES["cname-dnssec-type"] = dict(
    qname=r".*", qtype={"NSEC", "RRSIG"}, fields={"rcode", "answer", "authority"}, check=_cname_dnssec_type,
    rfc="RFC 1034 4.3.2 step 3a follows a CNAME for every QTYPE but CNAME; RFC 2181 10.1 and "
        "RFC 4035 2.5 let NSEC/RRSIG sit beside a CNAME only in signed zones, and these zones are "
        "unsigned. NSD answers as sinkholed does; Knot answers NODATA at the CNAME owner")


def _type0_nodata(q, knot, ours):
    return knot.rcode() == dns.rcode.NOTIMP and ours.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)


KNOWN_DIFFERENCES["type0-nodata"] = dict(
    qname=r".*", qtype={"TYPE0"}, fields={"rcode", "aa", "authority"}, check=_type0_nodata,
    rfc="RFC 6895 3.1 only reserves TYPE 0; no RFC makes a query for it NOTIMP. sinkholed answers "
        "like any type the name lacks, NODATA/NXDOMAIN with the SOA (RFC 2308 2, RFC 3597 2), as NSD "
        "does; Knot answers NOTIMP")


ORIGINS = []  # filled by the fixture: dns.name.Name of every zone served


def _zone_of(name):
    best = None
    for o in ORIGINS:
        if name.is_subdomain(o) and (best is None or len(o) > len(best)):
            best = o
    return best


KNOWN_DIFFERENCES["cname-into-other-zone"] = dict(
    qname=r"ext\.sinkhole\.test|back\.other\.test", qtype=None, fields={"answer", "authority"},
    check=_cname_into_other_zone,
    rfc="RFC 1034 4.3.2 step 3a (after a CNAME, restart at step 1, which picks the zone anew) and "
        "RFC 2308 2.1 (the SOA is that of the last name's zone); NSD does the same, Knot stops")


def _cd_copied(q, knot, ours):
    cd = bool(q.flags & dns.flags.CD)
    return cd and bool(ours.flags & dns.flags.CD) and not knot.flags & dns.flags.CD


KNOWN_DIFFERENCES["cd-copied"] = dict(
    qname=r".*", qtype=None, fields={"cd"}, check=_cd_copied,
    rfc="RFC 4035 3.1.6: a name server MUST copy the CD bit from a query into the response; "
        "Knot (and NSD) clear it")


def _meta_qtype_formerr(q, knot, ours):
    return ours.rcode() == dns.rcode.FORMERR and not ours.answer and not ours.authority


KNOWN_DIFFERENCES["meta-qtype-formerr"] = dict(
    qname=r".*", qtype={"OPT", "TSIG"}, fields={"rcode", "aa", "authority", "opt"},
    check=_meta_qtype_formerr,
    rfc="RFC 6891 6.1.1 and RFC 6895 3.1: OPT and TSIG are meta-TYPEs that exist only in a "
        "message, never as data, so a question for one is malformed: FORMERR (as BIND); Knot "
        "answers NODATA")


def _knot_binary():
    for p in (shutil.which("knotd"), "/usr/sbin/knotd"):
        if p and os.path.exists(p):
            return p
    return None


class Knot:
    def __init__(self, workdir, zones, port):
        self.workdir = workdir
        self.port = port
        self.proc = None
        conf = [
            "server:",
            f"    listen: [127.0.0.1@{port}]",
            f"    rundir: {workdir}",
            f"    identity: {sk.IDENTITY}",
            f"    nsid: {sk.IDENTITY}",
            f'    version: "{sk.VERSION}"',
            "    udp-max-payload: 1232",
            "    background-workers: 1",
            "database:",
            f"    storage: {workdir}/db",
            "log:",
            "  - target: stderr",
            "    any: info",
            "template:",
            "  - id: default",
            f"    storage: {workdir}",
            "    semantic-checks: off",
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
            "zone:",
        ]
        for f, name in zones:
            conf += [f"  - domain: {name}", f"    file: {f}"]
        self.conf = workdir / "knot.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.log = workdir / "knot.log"

    def addr(self, family=4):
        return sk.V4

    def start(self):
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen([_knot_binary(), "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                r = dns.query.udp(dns.message.make_query("sinkhole.test.", "SOA"), sk.V4, port=self.port,
                                  timeout=0.2)
                if r.rcode() == 0 and r.answer:
                    return
            except Exception:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("knotd did not start:\n" + self.log.read_text()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_logf", None):
            self._logf.close()


def zone_set():
    """(file name in tmp, origin) of every zone both servers load."""
    zones = [("sinkhole.test.zone", "sinkhole.test."), ("other.test.zone", "other.test."),
             ("named.test.zone", "named.test."), ("child.sinkhole.test.zone", "child.sinkhole.test.")]
    example = sk.REPO / "zones" / "aitism.net.zone"
    if example.exists():
        z = dns.zone.from_file(str(example), relativize=False)
        zones.append(("aitism.net.zone", z.origin.to_text()))
    return zones


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    if not _knot_binary():
        pytest.fail("knotd not installed (Debian package `knot`)", pytrace=False)
    if not sk.sinkholed_path().exists():
        pytest.fail(f"sinkholed not built: {sk.sinkholed_path()}", pytrace=False)
    zones = zone_set()
    kdir = tmp_path_factory.mktemp("knot")
    sdir = tmp_path_factory.mktemp("sink")
    for d in (kdir, sdir):
        for f, _ in zones:
            src = sk.ZONES / f if (sk.ZONES / f).exists() else sk.REPO / "zones" / f
            shutil.copy(src, d / f)
    knot = Knot(kdir, [(str(kdir / f), o) for f, o in zones], sk.free_port(False))
    ours = sk.SinkServer(sdir, zones=[(f, o.rstrip("."), None) for f, o in zones])
    try:
        knot.start()
        ours.start()
        yield knot, ours, zones
    finally:
        ours.kill()
        knot.stop()


# -- query generation --------------------------------------------------------------------------

TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "DS", "ANY"]
RARE_TYPES = ["SRV", "PTR", "CAA", "HINFO", "DNSKEY", "RRSIG", "NSEC", "TYPE65280", "NULL"]


def mixed_case(rng, name):
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in name)


def names_in(zones):
    """Every owner name of every zone, plus the empty non-terminals between them and the apex."""
    out = set()
    for f, origin in zones:
        src = sk.ZONES / f if (sk.ZONES / f).exists() else sk.REPO / "zones" / f
        z = dns.zone.from_file(str(src), origin=origin, relativize=False)
        o = dns.name.from_text(origin)
        for n in z.nodes:
            while n != o and n.is_subdomain(o):
                out.add(n.to_text())
                n = n.parent()
            out.add(o.to_text())
    return sorted(out)


def generate(zones, rng):
    """[(dns.message.Message, description)] -- a few hundred queries, deterministic for a seed."""
    qs = []
    names = names_in(zones)
    for n in names:
        for t in TYPES:
            qs.append((n, t))
        qs.append((n, rng.choice(RARE_TYPES)))
    origins = [o for _, o in zones]
    for i in range(40):
        label = "r%d%s" % (i, "".join(rng.choice("abcdefghij0123456789-") for _ in range(rng.randint(1, 12))))
        parent = rng.choice(origins + ["wc.sinkhole.test.", "c.sinkhole.test.", "www.sinkhole.test.",
                                       "sub.sinkhole.test.", "b.c.sinkhole.test.", "node.other.test.",
                                       "deep.er.node.other.test.", "x.y.sinkhole.test."])
        qs.append((f"{label}.{parent}", rng.choice(TYPES + ["A", "A", "AAAA"])))
    for n in ["example.com.", "test.", ".", "sinkhole.test.example.", "nkhole.test.", "xsinkhole.test.",
              "com.", "*.test."]:
        qs.append((n, rng.choice(["A", "SOA", "NS", "ANY"])))
    qs.append(("*.sinkhole.test.", "A"))
    qs.append(("*.wc.sinkhole.test.", "A"))
    qs.append(("\\*.sinkhole.test.", "TXT"))
    out = []
    labels = ["plain", "edns", "edns+do", "rd+cd", "mixed+edns", "ad"]
    for i, (n, t) in enumerate(qs):
        variant = i % len(labels)
        name = mixed_case(rng, n) if variant == 4 else n
        q = sk.make_query(name, t, edns=variant in (1, 2, 4), do=variant == 2, payload=1232,
                          rd=variant == 3)
        if variant == 3:
            q.flags |= dns.flags.CD
        if variant == 5:
            q.flags |= dns.flags.AD
        out.append((q, f"{name} {t} [{labels[variant]}]"))
    # other classes and meta types in the question
    for n in ["www.sinkhole.test.", "nosuch.other.test.", "sinkhole.test."]:
        for cls in ["ANY", "NONE", "HS", "CLASS42"]:
            out.append((sk.make_query(n, "A", cls), f"{n} A class {cls}"))
        for t in ["OPT", "TSIG", "MAILA", "MAILB", "TYPE0"]:
            out.append((sk.make_query(n, t), f"{n} {t}"))
    for n in ["id.server.", "hostname.bind.", "version.bind.", "version.server."]:
        out.append((sk.make_query(n, "TXT", "CH"), f"{n} CH TXT"))
    for n, t in [("id.server.", "A"), ("version.bind.", "ANY"), ("authors.bind.", "TXT"),
                 ("www.sinkhole.test.", "TXT")]:
        out.append((sk.make_query(n, t, "CH"), f"{n} CH {t}"))
    # truncation both ways
    out.append((sk.make_query("big.sinkhole.test", "TXT"), "big TXT no EDNS"))
    out.append((sk.make_query("big.sinkhole.test", "TXT", edns=True, payload=512), "big TXT EDNS 512"))
    out.append((sk.make_query("huge.sinkhole.test", "TXT", edns=True, payload=4096), "huge TXT EDNS 4096"))
    return out


# -- comparison --------------------------------------------------------------------------------

def rr_set(section):
    out = {}
    for rrset in section:
        for rd in rrset:
            key = (rrset.name.canonicalize().to_text(), rrset.ttl, rrset.rdclass, rrset.rdtype,
                   rd.to_digestable(rrset.name))
            out[key] = (f"{rrset.name} {rrset.ttl} {dns.rdataclass.to_text(rrset.rdclass)} "
                        f"{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}")
    return out


def compare(knot, ours):
    """[(field, knot value, our value)]"""
    diffs = []
    for field, get in [("rcode", lambda m: dns.rcode.to_text(m.rcode())),
                       ("aa", lambda m: bool(m.flags & dns.flags.AA)),
                       ("tc", lambda m: bool(m.flags & dns.flags.TC)),
                       ("rd", lambda m: bool(m.flags & dns.flags.RD)),
                       ("cd", lambda m: bool(m.flags & dns.flags.CD)),
                       ("ad", lambda m: bool(m.flags & dns.flags.AD)),
                       ("ra", lambda m: bool(m.flags & dns.flags.RA)),
                       ("do", lambda m: bool(m.ednsflags & dns.flags.DO)),
                       ("opt", lambda m: m.edns >= 0)]:
        if get(knot) != get(ours):
            diffs.append((field, get(knot), get(ours)))
    for field in ("answer", "authority", "additional"):
        k, o = rr_set(getattr(knot, field)), rr_set(getattr(ours, field))
        if k.keys() != o.keys():
            diffs.append((field, sorted(k[x] for x in k.keys() - o.keys()),
                          sorted(o[x] for x in o.keys() - k.keys())))
    return diffs


def known(q, field, knot, ours):
    qname = q.question[0].name.to_text().lower().rstrip(".") or "."
    qtype = dns.rdatatype.to_text(q.question[0].rdtype)
    for key, e in KNOWN_DIFFERENCES.items():
        if not re.fullmatch(e["qname"], qname):
            continue
        if e.get("qtype") and qtype not in e["qtype"]:
            continue
        if field not in e["fields"]:
            continue
        if e.get("check") and not e["check"](q, knot, ours):
            continue
        return key
    return None


def test_differential_knot(pair):
    knot, ours, zones = pair
    ORIGINS[:] = [dns.name.from_text(o) for _, o in zones]
    seed = int(os.environ.get("SK_DIFF_SEED", "20241121"))
    rng = random.Random(seed)
    queries = generate(zones, rng)
    assert len(queries) >= 300, len(queries)
    unknown, excused, used = [], [], set()
    t_end = time.monotonic() + 120
    for q, desc in queries:
        assert time.monotonic() < t_end, "differential run over its time budget"
        wire = q.to_wire()
        rk = sk.ask_raw_udp(knot, wire)
        ro = sk.ask_raw_udp(ours, wire)
        if rk is None or ro is None:
            if (rk is None) != (ro is None):
                unknown.append(f"{desc}: knot {'no reply' if rk is None else 'replied'}, "
                               f"sinkholed {'no reply' if ro is None else 'replied'}")
            continue
        mk, mo = dns.message.from_wire(rk), dns.message.from_wire(ro)
        assert mo.id == q.id
        for field, kv, ov in compare(mk, mo):
            line = f"{desc}: {field}: knot={kv} sinkholed={ov}"
            key = known(q, field, mk, mo)
            if key:
                used.add(key)
                excused.append(f"[{key}] {line}")
            else:
                unknown.append(line)
    print(f"{len(queries)} queries, seed {seed}; {len(excused)} known differences, {len(unknown)} unknown")
    for line in excused:
        print("KNOWN   " + line)
    for line in unknown:
        print("DIFFERS " + line)
    for key in KNOWN_DIFFERENCES.keys() - used:
        print(f"note: KNOWN_DIFFERENCES[{key!r}] did not occur")
    assert not unknown, f"{len(unknown)} differences from Knot DNS:\n" + "\n".join(unknown[:80])


def test_tsig_unknown_key(pair):
    """A query signed with a key the server does not have: RFC 8945 5.2.2 requires NOTAUTH with
    TSIG error BADKEY and no answer data; Knot (and NSD) do so."""
    import dns.tsig
    import dns.tsigkeyring
    knot, ours, _ = pair
    kr = dns.tsigkeyring.from_text({"k1.": "c2VjcmV0c2VjcmV0c2VjcmV0"})
    q = sk.make_query("www.sinkhole.test", "A")
    q.use_tsig(kr, "k1.", algorithm=dns.tsig.HMAC_SHA256)
    wire = q.to_wire()
    replies = {}
    for name, srv in (("knot", knot), ("sinkholed", ours)):
        reply = sk.ask_raw_udp(srv, wire)
        assert reply is not None, name
        h = sk.parse_header(reply)
        replies[name] = (h["rcode"], h["an"], h["aa"])
        print(name, replies[name])
    assert replies["knot"] == (dns.rcode.NOTAUTH, 0, False), "Knot's behaviour changed"
    assert replies["sinkholed"] == replies["knot"], \
        f"TSIG with an unknown key: knot {replies['knot']}, sinkholed {replies['sinkholed']} (rcode, ANCOUNT, AA)"
