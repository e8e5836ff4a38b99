"""test_seized -- seized-domain lists answered from a template zone (issue 4).

Fixtures in seized/: sinkhole.zone (a template with a wildcard, www, empty non-terminals; SOA TTL
3600 > MINIMUM 300, so negative TTL 300), parked.zone (no wildcard; SOA TTL 60 < MINIMUM 600, so
negative TTL 60), necurs.list and parked.list. Lists whose line numbers are asserted are written by
the tests themselves, next to the asserts that name those lines.

Paths in messages are the resolved ones: the config's folder joined with the path as configured
(sinkholed is given the config's absolute path, so that is `str(workdir / rel)`). No assertion is
about time; every wait is bounded.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import pytest

import skhelpers as sk
import tmhelpers as tm
from skhelpers import rcode_name, rrset_texts

SEIZED = sk.HERE / "seized"

NECURS_TAGS = {"case": "1:20-cv-01217", "operation": "Necurs", "family": "necurs"}
PARKED_TAGS = {"case": "1:21-cv-00042", "operation": "Parking lot"}
SINK_TEMPLATE = "seized/sinkhole.zone"
PARKED_TEMPLATE = "seized/parked.zone"
NECURS = ("seized/necurs.list", SINK_TEMPLATE, NECURS_TAGS)
PARKED = ("seized/parked.list", PARKED_TEMPLATE, PARKED_TAGS)

# The domains of necurs.list, as served (lowercase, whatever case the list used).
NECURS_DOMAINS = ["necurs-a.test", "necurs-b.test", "necurs_c.test", "deep.sub.necurs-d.test",
                  "xn--bcher-kva.test"]
PARKED_DOMAINS = ["parked-a.test", "parked-b.test"]

# What seized/sinkhole.zone answers at the apex of a listed domain {d}.
SINK_APEX = {
    "SOA": {"{d}. 3600 IN SOA ns9.operator.test. hostmaster.operator.test. 2024060101 7200 3600 1209600 300"},
    "NS": {"{d}. 3600 IN NS ns9.operator.test.", "{d}. 3600 IN NS ns10.operator.test."},
    "A": {"{d}. 3600 IN A 192.0.2.66"},
    "AAAA": {"{d}. 3600 IN AAAA 2001:db8::66"},
    "MX": {"{d}. 3600 IN MX 10 mx.operator.test."},
    "TXT": {'{d}. 3600 IN TXT "seized by court order" "notice at https://noticeofpleadings.example/"'},
}
SOA_SINK = "{d}. 300 IN SOA ns9.operator.test. hostmaster.operator.test. 2024060101 7200 3600 1209600 300"
SOA_PARKED = "{d}. 60 IN SOA ns1.parking.test. abuse.parking.test. 7 7200 3600 1209600 600"

RELATIVE_MSG = ("{tpl}:{n}: {name} is relative to the seized domain: names in a template's RDATA "
                "must be absolute (end them with a dot)")


def fill(texts, d):
    """The texts with {d} replaced by the domain (lowercase, as rrset_texts gives it)."""
    if isinstance(texts, str):
        return texts.format(d=d.lower())
    return {t.format(d=d.lower()) for t in texts}


# -- files and servers ------------------------------------------------------------------------------

def need_binary():
    if not sk.sinkholed_path().exists():
        pytest.fail(f"sinkholed not built: {sk.sinkholed_path()} (build it or set SINKHOLED)", pytrace=False)


def copy_seized(dest):
    """Copy the seized/ fixtures into dest/seized (the configs name them relative to dest)."""
    shutil.copytree(SEIZED, Path(dest) / "seized", dirs_exist_ok=True)
    return Path(dest) / "seized"


def write_lines(path, lines):
    """Write a list (or template) atomically, one entry per line, so that a reload never reads half a
    file. Returns the path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, path)
    return path


def line_no(lines, text):
    """1-based number of the first line equal to `text`."""
    return lines.index(text) + 1


def seized_server(make_server, seized, zones=(), zone_files=None):
    """A make_server() server (not started) with the seized/ fixtures copied into its folder."""
    srv = make_server(zones=list(zones), zone_files=zone_files, start=False, seized=list(seized))
    copy_seized(srv.workdir)
    return srv


def path_in(srv, rel):
    """The path as sinkholed prints it: the config's folder joined with the configured path."""
    return str(srv.workdir / rel)


def start_fails(workdir, zones, seized, timeout=10):
    """Write a config in workdir and run sinkholed on it; it must exit by itself.
    Returns (exit status, stderr)."""
    need_binary()
    conf = Path(workdir) / "sinkholed.yml"
    sk.write_config(conf, sk.free_port(), zones, seized=seized)
    try:
        p = sk.run_binary([sk.sinkholed_path(), "-c", conf], timeout=sk.scaled(timeout), cwd="/",
                          stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("sinkholed kept running with a config it must refuse")
    return p.returncode, p.stderr


# -- log lines ----------------------------------------------------------------------------------------

def warnings_about(log, path):
    """The warnings a load printed about file `path` ("PATH:LINE: warning: ..." or "PATH: warning:
    ..."), from the path on, whatever prefix the log line has."""
    pat = re.compile(rf"{re.escape(path)}(?::\d+)?: warning: .*")
    out = []
    for line in log.splitlines():
        m = pat.search(line)
        if m:
            out.append(m.group(0).rstrip())
    return out


def info_counts(log, lst, tpl):
    """Every `seized: LIST: N domains, template TEMPLATE (I invalid, D duplicates, Z served by zone
    files)` line for this list, as (N, I, D, Z) tuples, oldest first."""
    pat = re.compile(rf"seized: {re.escape(lst)}: (\d+) domains, template {re.escape(tpl)} "
                     r"\((\d+) invalid, (\d+) duplicates, (\d+) served by zone files\)")
    return [tuple(int(x) for x in m.groups()) for m in pat.finditer(log)]


def one_info(log, lst, tpl):
    found = info_counts(log, lst, tpl)
    assert len(found) == 1, f"expected one 'seized: {lst}: ...' line, found {len(found)} in:\n{log[-3000:]}"
    return found[0]


def reload_ok(srv):
    """SIGHUP; assert the reload went through; return the log written since the signal."""
    log = srv.reload()
    assert re.search(r": reloaded\b", log) and "reload failed" not in log, f"reload did not succeed:\n{log}"
    return log


def reload_fails(srv):
    log = srv.reload()
    assert "reload failed, keeping generation" in log, f"reload should have failed:\n{log}"
    assert srv.alive(), "sinkholed died on a failed reload"
    return log


# -- queries -----------------------------------------------------------------------------------------

def query(srv, name, qtype="A", via=("udp", 4), **kw):
    transport, family = via
    q = sk.make_query(name, qtype, **kw)
    r = sk.ask(srv, q, transport, family)
    assert r.id == q.id
    return r


def aa(r):
    return bool(r.flags & dns.flags.AA)


def assert_answer(r, expected, what=""):
    """NOERROR, AA, and exactly these RRs in the answer section."""
    assert rcode_name(r) == "NOERROR", f"{what}: rcode {rcode_name(r)}\n{r}"
    assert aa(r), f"{what}: AA must be set\n{r}"
    assert rrset_texts(r.answer) == expected, f"{what}: answer\n{r}"


def assert_negative(r, rcode, soa_text, what=""):
    """NXDOMAIN/NODATA: rcode, AA, empty answer, exactly the SOA in authority (RFC 2308)."""
    assert rcode_name(r) == rcode, f"{what}: rcode {rcode_name(r)}, expected {rcode}\n{r}"
    assert aa(r), f"{what}: AA must be set\n{r}"
    assert r.answer == [], f"{what}: answer must be empty\n{r}"
    assert rrset_texts(r.authority) == {soa_text}, f"{what}: authority\n{r}"


def assert_refused(r, what=""):
    assert rcode_name(r) == "REFUSED", f"{what}: rcode {rcode_name(r)}, expected REFUSED\n{r}"
    assert not aa(r), f"{what}: AA must be clear on REFUSED"
    assert r.answer == [] and r.authority == [], f"{what}: REFUSED carries no records\n{r}"


def a_of(srv, name, transport="udp"):
    r = query(srv, name, "A", (transport, 4))
    return rcode_name(r), rrset_texts(r.answer)


def sink_a(name):
    return ("NOERROR", {f"{name.lower()}. 3600 IN A 192.0.2.66"})


def parked_a(name):
    return ("NOERROR", {f"{name.lower()}. 600 IN A 198.51.100.7"})


def cli(cmd, timeout=15):
    """Run a DNS client; parse status, header flags and the answer/authority lines (whitespace
    collapsed, letter case as printed)."""
    if not shutil.which(cmd[0]):
        pytest.fail(f"{cmd[0]} not installed", pytrace=False)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    text = out.stdout + out.stderr
    status = re.search(r"status: ([A-Z]+)", text)
    flags = re.search(r";; [Ff]lags: ([a-z ]*?)\s*;", text)
    res = {"status": status.group(1) if status else None, "flags": set(flags.group(1).split()) if flags else set(),
           "answer": [], "authority": [], "text": text}
    section = None
    for line in text.splitlines():
        h = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
        if h:
            section = h.group(1).lower()
        elif line.startswith(";") or not line.strip():
            section = None if line.startswith(";;") else section
        elif section in ("answer", "authority"):
            res[section].append(" ".join(line.split()))
    return res


# == 1. answers ========================================================================================

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """necurs.list (wildcard template) and parked.list (template without wildcard); no zone files,
    so the config has no `zones:` key at all."""
    need_binary()
    d = tmp_path_factory.mktemp("seized")
    copy_seized(d)
    srv = sk.SinkServer(d, zones=[], seized=[NECURS, PARKED])
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


def test_no_zones_key_and_info_lines(server):
    text = server.conf.read_text()
    assert "zones:" not in text and "seized:" in text, text
    log = server.log_text()
    assert one_info(log, path_in(server, NECURS[0]), path_in(server, SINK_TEMPLATE)) == (5, 0, 0, 0)
    assert one_info(log, path_in(server, PARKED[0]), path_in(server, PARKED_TEMPLATE)) == (2, 0, 0, 0)


@pytest.mark.parametrize("qtype", sorted(SINK_APEX))
def test_apex_records(server, via, qtype):
    """Every listed domain answers the template's apex records under its own name."""
    for d in NECURS_DOMAINS:
        assert_answer(query(server, d, qtype, via), fill(SINK_APEX[qtype], d), f"{d} {qtype}")


def test_parked_apex_and_www(server, via):
    for d in PARKED_DOMAINS:
        assert_answer(query(server, d, "A", via), {f"{d}. 600 IN A 198.51.100.7"}, d)
        assert_answer(query(server, d, "NS", via), {f"{d}. 600 IN NS ns1.parking.test."}, d)
        assert_answer(query(server, d, "SOA", via),
                      {f"{d}. 60 IN SOA ns1.parking.test. abuse.parking.test. 7 7200 3600 1209600 600"}, d)
        assert_answer(query(server, f"www.{d}", "A", via), {f"www.{d}. 600 IN A 198.51.100.8"}, f"www.{d}")


def test_explicit_names(server, via):
    """www, mail (own TTL) and a.b.c of the template, under each domain; www is not the wildcard."""
    for d in NECURS_DOMAINS:
        assert_answer(query(server, f"www.{d}", "A", via), {f"www.{d}. 3600 IN A 192.0.2.67"}, f"www.{d}")
        assert_answer(query(server, f"mail.{d}", "A", via), {f"mail.{d}. 300 IN A 192.0.2.25"}, f"mail.{d}")
        assert_answer(query(server, f"a.b.c.{d}", "A", via), {f"a.b.c.{d}. 3600 IN A 192.0.2.1"}, f"a.b.c.{d}")


def test_wildcard_several_labels_deep(server, via):
    for d in ("necurs-a.test", "deep.sub.necurs-d.test"):
        for name in (f"host.{d}", f"one.two.three.four.{d}", f"_sip._tcp.cdn.{d}"):
            assert_answer(query(server, name, "A", via), {f"{name}. 3600 IN A 192.0.2.66"}, name)
            assert_answer(query(server, name, "AAAA", via), {f"{name}. 3600 IN AAAA 2001:db8::66"}, name)
            assert_answer(query(server, name, "TXT", via), {f'{name}. 3600 IN TXT "wildcard"'}, name)


def test_wildcard_blocked_by_existing_names(server, via):
    """RFC 4592: a closest encloser that exists (www, a.b.c) or is an empty non-terminal (c, b.c)
    and has no `*` child gives NXDOMAIN, although the apex has a wildcard."""
    d = "necurs-a.test"
    for name in (f"x.www.{d}", f"x.c.{d}", f"x.b.c.{d}", f"x.a.b.c.{d}", f"y.x.c.{d}"):
        assert_negative(query(server, name, "A", via), "NXDOMAIN", fill(SOA_SINK, d), name)


def test_nodata(server, via):
    d = "necurs-b.test"
    for name, qtype in ((f"www.{d}", "AAAA"), (f"mail.{d}", "TXT"), (d, "SRV"), (d, "CNAME"),
                        (f"c.{d}", "A"), (f"b.c.{d}", "AAAA"),   # empty non-terminals
                        (f"host.{d}", "MX")):                    # the wildcard has no MX
        assert_negative(query(server, name, qtype, via), "NOERROR", fill(SOA_SINK, d), f"{name} {qtype}")
    d = "parked-a.test"
    assert_negative(query(server, f"www.{d}", "AAAA", via), "NOERROR", fill(SOA_PARKED, d), f"www.{d} AAAA")
    assert_negative(query(server, d, "MX", via), "NOERROR", fill(SOA_PARKED, d), f"{d} MX")


def test_nxdomain_from_template_without_wildcard(server, via):
    """SOA owner is the seized domain, TTL min(SOA TTL 60, MINIMUM 600) = 60."""
    for d in PARKED_DOMAINS:
        for name in (f"nothere.{d}", f"a.b.{d}", f"x.www.{d}"):
            for qtype in ("A", "TXT"):
                assert_negative(query(server, name, qtype, via), "NXDOMAIN", fill(SOA_PARKED, d),
                                f"{name} {qtype}")


def test_two_templates_answer_differently(server, via):
    a, p = "necurs-a.test", "parked-a.test"
    assert_answer(query(server, a, "A", via), {f"{a}. 3600 IN A 192.0.2.66"})
    assert_answer(query(server, p, "A", via), {f"{p}. 600 IN A 198.51.100.7"})
    assert_answer(query(server, f"nothere.{a}", "A", via), {f"nothere.{a}. 3600 IN A 192.0.2.66"})
    assert_negative(query(server, f"nothere.{p}", "A", via), "NXDOMAIN", fill(SOA_PARKED, p))
    assert query(server, a, "SOA", via).answer[0][0].serial == 2024060101
    assert query(server, p, "SOA", via).answer[0][0].serial == 7


@pytest.mark.parametrize("qname,qtype", [("WwW.NeCuRs-A.TeSt", "A"), ("DeEp.HoSt.NECURS-A.test", "A"),
                                         ("NeCuRs-B.TEST", "SOA"), ("PARKED-a.Test", "NS")])
def test_mixed_case_question_keeps_case(server, via, qname, qtype):
    """The question comes back byte for byte and answer owners carry the client's letter case."""
    transport, family = via
    wire = sk.raw_query(qname, {"A": 1, "NS": 2, "SOA": 6}[qtype], 1, qid=0x5150)
    reply = sk.ask_raw(server, wire, transport, family)
    assert reply is not None, f"no answer to {qname}"
    assert reply[12:len(wire)] == wire[12:], "question not echoed byte for byte (letter case)"
    r = dns.message.from_wire(reply)
    assert rcode_name(r) == "NOERROR" and aa(r) and r.answer, r
    owners = {rrset.name.to_text() for rrset in r.answer}
    assert owners == {qname + "."}, f"answer owners {owners} must keep the question's case {qname}."


def test_mixed_case_negative_soa_owner(server, via):
    r = query(server, "NoThere.PaRkEd-B.Test", "A", via)
    assert_negative(r, "NXDOMAIN", fill(SOA_PARKED, "parked-b.test"))


def test_refused_outside_lists(server, via):
    for name in ("test", "www.example.com", "xnecurs-a.test", "necurs-a.test.example", "sub.necurs-d.test",
                 "necurs-d.test", "necurs-c.test", "www.sinkhole.test", "parked.test"):
        assert_refused(query(server, name, "A", via), name)


def test_dig_mixed_case(server):
    """dig prints owners as received (kdig lowercases them), so it sees the case kept."""
    r = cli(["dig", f"@{sk.V4}", "-p", str(server.port), "+norec", "+time=2", "+tries=1",
             "WwW.NeCuRs-A.TeSt", "A"])
    assert r["status"] == "NOERROR", r["text"]
    assert "aa" in r["flags"], r["text"]
    assert r["answer"] == ["WwW.NeCuRs-A.TeSt. 3600 IN A 192.0.2.67"], r["text"]


def test_kdig_nxdomain_over_tcp(server):
    r = cli(["kdig", f"@{sk.V4}", "-p", str(server.port), "+norec", "+time=2", "+retry=0", "+tcp",
             "nothere.parked-a.test", "A"])
    assert r["status"] == "NXDOMAIN", r["text"]
    assert "aa" in r["flags"], r["text"]
    assert r["answer"] == [], r["text"]
    assert r["authority"] == [fill(SOA_PARKED, "parked-a.test")], r["text"]


# == 2. overlaps =====================================================================================

INNER_ZONE = """;; a zone file whose apex lies below a seized domain (seized-parent.test)
$ORIGIN inner.seized-parent.test.
$TTL 900
@	900	IN	SOA	ns9.operator.test. hostmaster.operator.test. 5 7200 3600 1209600 120
@		NS	ns9.operator.test.
www		A	203.0.113.5
"""
SOA_INNER = ("inner.seized-parent.test. 120 IN SOA ns9.operator.test. hostmaster.operator.test. "
             "5 7200 3600 1209600 120")

FIRST_LIST = [
    "# first.list -- overlaps with zone files and with second.list (line numbers are asserted)",
    "other.test",            # the apex of other.test.zone: the zone file wins
    "evil.sinkhole.test",    # inside the zone sinkhole.test: the list answers (longest suffix)
    "shared.test",           # in second.list too: the first wins
    "dup.test",
    "DUP.test.",             # the same domain again
    "named.test.",           # the apex of named.test.zone (origin from `name:`)
    "seized-parent.test",    # the zone inner.seized-parent.test lies below it
    "dup.test",              # and a third time
]
SECOND_LIST = [
    "# second.list -- answered from parked.zone",
    "shared.test",
    "only-second.test",
    "Evil.Sinkhole.Test",
    "also-second.test",
]
OVERLAP_ZONES = [("sinkhole.test.zone", None, None), ("other.test.zone", None, None),
                 ("named.test.zone", "named.test", None), ("inner.zone", None, None)]
OVERLAP_SEIZED = [("seized/first.list", SINK_TEMPLATE, {"case": "first"}),
                  ("seized/second.list", PARKED_TEMPLATE, {"case": "second"})]


def build_overlap(workdir):
    """Zone files, lists and templates of the overlap cases in workdir. Returns the warnings each
    list must get, and its (domains, invalid, duplicates, served by zone files) counts."""
    workdir = Path(workdir)
    sk.copy_zones(workdir, ["sinkhole.test.zone", "other.test.zone", "named.test.zone"])
    (workdir / "inner.zone").write_text(INNER_ZONE)
    copy_seized(workdir)
    first, second = (str(workdir / s[0]) for s in OVERLAP_SEIZED)
    write_lines(first, FIRST_LIST)
    write_lines(second, SECOND_LIST)
    f, s = FIRST_LIST.index, SECOND_LIST.index
    return {
        first: ({f"{first}:{f('other.test') + 1}: warning: other.test. is served by the zone file "
                 f"{workdir / 'other.test.zone'} (the zone file wins)",
                 f"{first}:{f('evil.sinkhole.test') + 1}: warning: evil.sinkhole.test. is inside the "
                 f"zone sinkhole.test. of {workdir / 'sinkhole.test.zone'}: the list answers for it "
                 f"(the longer name wins)",
                 f"{first}:{f('DUP.test.') + 1}: warning: dup.test. is already listed at "
                 f"{first}:{f('dup.test') + 1} (the first wins)",
                 f"{first}:{f('named.test.') + 1}: warning: named.test. is served by the zone file "
                 f"{workdir / 'named.test.zone'} (the zone file wins)",
                 f"{first}:{len(FIRST_LIST)}: warning: dup.test. is already listed at "
                 f"{first}:{f('dup.test') + 1} (the first wins)"},
                (4, 0, 2, 2), str(workdir / SINK_TEMPLATE)),
        second: ({f"{second}:{s('shared.test') + 1}: warning: shared.test. is already listed at "
                  f"{first}:{f('shared.test') + 1} (the first wins)",
                  f"{second}:{s('Evil.Sinkhole.Test') + 1}: warning: evil.sinkhole.test. is already listed at "
                  f"{first}:{f('evil.sinkhole.test') + 1} (the first wins)"},
                 (2, 0, 2, 0), str(workdir / PARKED_TEMPLATE)),
    }


@pytest.fixture(scope="module")
def overlap(tmp_path_factory):
    need_binary()
    d = tmp_path_factory.mktemp("overlap")
    expected = build_overlap(d)
    srv = sk.SinkServer(d, zones=OVERLAP_ZONES, seized=OVERLAP_SEIZED)
    try:
        srv.start()
        srv.expected = expected
        yield srv
    finally:
        srv.kill()


def test_overlap_warnings_and_counts(overlap):
    log = overlap.log_text()
    for lst, (warnings, counts, tpl) in overlap.expected.items():
        assert set(warnings_about(log, lst)) == warnings, f"warnings about {lst}:\n{log}"
        assert len(warnings_about(log, lst)) == len(warnings), f"each warning once:\n{log}"
        assert one_info(log, lst, tpl) == counts, f"counts of {lst}"


def test_zone_file_wins_on_same_apex(overlap, via):
    r = query(overlap, "other.test", "SOA", via)
    assert r.answer[0][0].serial == 7, f"other.test must answer from other.test.zone:\n{r}"
    assert_answer(query(overlap, "other.test", "A", via), {"other.test. 600 IN A 198.51.100.1"})
    assert_negative(query(overlap, "nothere.other.test", "A", via), "NXDOMAIN",
                    "other.test. 60 IN SOA ns9.operator.test. hostmaster.operator.test. 7 7200 3600 1209600 600")
    # named.test.zone has no apex A: NODATA from the zone, not the template's A
    assert_negative(query(overlap, "named.test", "A", via), "NOERROR",
                    "named.test. 300 IN SOA ns9.operator.test. hostmaster.operator.test. 1 7200 3600 1209600 300")
    assert_answer(query(overlap, "host.named.test", "A", via), {"host.named.test. 300 IN A 203.0.113.7"})


def test_first_list_wins(overlap, via):
    """shared.test is in both lists: the first (wildcard template) answers, not parked.zone."""
    for name in ("shared.test", "nothere.shared.test", "dup.test"):
        assert_answer(query(overlap, name, "A", via), {f"{name}. 3600 IN A 192.0.2.66"}, name)
    # the second list still answers for its own domains
    for d in ("only-second.test", "also-second.test"):
        assert_answer(query(overlap, d, "A", via), {f"{d}. 600 IN A 198.51.100.7"})
        assert_negative(query(overlap, f"nothere.{d}", "A", via), "NXDOMAIN", fill(SOA_PARKED, d))


def test_list_inside_zone_wins_longest_suffix(overlap, via):
    d = "evil.sinkhole.test"
    assert_answer(query(overlap, d, "A", via), {f"{d}. 3600 IN A 192.0.2.66"})
    assert_answer(query(overlap, d, "SOA", via), fill(SINK_APEX["SOA"], d))
    assert_answer(query(overlap, f"www.{d}", "A", via), {f"www.{d}. 3600 IN A 192.0.2.67"})
    assert_negative(query(overlap, f"x.c.{d}", "A", via), "NXDOMAIN", fill(SOA_SINK, d))
    # the zone keeps the rest of sinkhole.test
    assert_answer(query(overlap, "www.sinkhole.test", "A", via), {"www.sinkhole.test. 3600 IN A 192.0.2.80"})
    assert_answer(query(overlap, "evil2.sinkhole.test", "A", via), {"evil2.sinkhole.test. 3600 IN A 192.0.2.53"})
    assert_answer(query(overlap, "x.evil2.sinkhole.test", "A", via),
                  {"x.evil2.sinkhole.test. 3600 IN A 192.0.2.53"})


def test_zone_below_list_answers_for_its_names(overlap, via):
    d = "seized-parent.test"
    assert_answer(query(overlap, d, "A", via), {f"{d}. 3600 IN A 192.0.2.66"})
    assert_answer(query(overlap, f"other.{d}", "A", via), {f"other.{d}. 3600 IN A 192.0.2.66"})
    assert_answer(query(overlap, f"www.inner.{d}", "A", via), {f"www.inner.{d}. 900 IN A 203.0.113.5"})
    assert query(overlap, f"inner.{d}", "SOA", via).answer[0][0].serial == 5
    # no wildcard in the inner zone: NXDOMAIN from it, not the template's wildcard
    assert_negative(query(overlap, f"x.inner.{d}", "A", via), "NXDOMAIN", SOA_INNER)


# == 3. bad lines ====================================================================================

MIXED_LIST = [
    "# mixed.list -- valid and invalid entries (line numbers are asserted)",
    "good-one.test",
    "-lead.test",             # a label may not start with '-'
    "trail-.test",            # nor end with it
    "localhost",              # one label
    "a..b.test",              # an empty label
    "bad#hash.test",          # '#' not after whitespace is no comment
    "exa!mple.test",          # '!' is not allowed
    "a" * 64 + ".test",       # a label of 64 characters
    "*.wild.test",            # '*' is not allowed
    "double-dot.test..",      # an empty last label
    "",
    "  # an indented comment",
    "GOOD-TWO.TEST",
    "a" * 63 + ".test",
    "_dmarc_.test",
    "123.45.test",
    "good-three.test.   # a comment after the name",
    "   good-four.test",
    "good-five.test\t",
    "xn--p1ai.test",
    "a.b.c.d.e.f.test",
    "good-six.test",
]
MIXED_INVALID = MIXED_LIST[2:11]
MIXED_VALID = ["good-one.test", "good-two.test", "a" * 63 + ".test", "_dmarc_.test", "123.45.test",
               "good-three.test", "good-four.test", "good-five.test", "xn--p1ai.test", "a.b.c.d.e.f.test",
               "good-six.test"]


def test_bad_lines_warned_valid_ones_answer(make_server):
    srv = seized_server(make_server, [("seized/mixed.list", SINK_TEMPLATE, None)])
    lst = path_in(srv, "seized/mixed.list")
    write_lines(lst, MIXED_LIST)
    srv.start()
    log = srv.log_text()
    want = {f"{lst}:{line_no(MIXED_LIST, t)}: warning: not a domain name: '{t}' (line skipped)"
            for t in MIXED_INVALID}
    assert set(warnings_about(log, lst)) == want, f"warnings:\n{log}"
    assert one_info(log, lst, path_in(srv, SINK_TEMPLATE)) == (len(MIXED_VALID), len(MIXED_INVALID), 0, 0)
    for d in MIXED_VALID:
        assert a_of(srv, d) == sink_a(d), d
        assert a_of(srv, f"www.{d}")[0] == "NOERROR", f"www.{d}"
    for name in ("-lead.test", "trail-.test", "localhost", "wild.test", "x.wild.test", "bad.test", "hash.test",
                 "double-dot.test"):
        assert a_of(srv, name)[0] == "REFUSED", f"{name} comes from a skipped line"


def test_warning_cap(make_server):
    """20 warnings per list, then one line saying the rest are only counted."""
    lines = ["# cap.list -- 30 valid, 25 invalid entries"]
    for i in range(30):
        lines.append(f"ok-{i}.test")
        if i < 25:
            lines.append(f"bad-{i}-.test")
    srv = seized_server(make_server, [("seized/cap.list", SINK_TEMPLATE, None)])
    lst = path_in(srv, "seized/cap.list")
    write_lines(lst, lines)
    srv.start()
    log = srv.log_text()
    got = warnings_about(log, lst)
    want = [f"{lst}:{line_no(lines, f'bad-{i}-.test')}: warning: not a domain name: 'bad-{i}-.test' "
            "(line skipped)" for i in range(20)]
    want.append(f"{lst}: warning: further problems in this list are only counted")
    assert got == want, "expected the first 20 warnings in order, then the 'only counted' line; got:\n" + \
        "\n".join(got)
    assert one_info(log, lst, path_in(srv, SINK_TEMPLATE)) == (30, 25, 0, 0)
    for i in range(30):
        assert a_of(srv, f"ok-{i}.test") == sink_a(f"ok-{i}.test")


def test_half_invalid_list_loads(make_server):
    """Exactly half the entries invalid is not 'more than half': the list loads."""
    srv = seized_server(make_server, [("seized/half.list", SINK_TEMPLATE, None)])
    lst = path_in(srv, "seized/half.list")
    write_lines(lst, ["# half.list", "keep-1.test", "-bad.test", "", "keep-2.test", "bad-.test"])
    srv.start()
    assert one_info(srv.log_text(), lst, path_in(srv, SINK_TEMPLATE)) == (2, 2, 0, 0)
    assert a_of(srv, "keep-2.test") == sink_a("keep-2.test")


def test_mostly_invalid_list_refused_at_start(tmp_path):
    copy_seized(tmp_path)
    lst = tmp_path / "seized/bad.list"
    write_lines(lst, ["# bad.list: 3 of 5 entries invalid", "ok-1.test", "-bad.test", "", "bad-.test",
                      "# a comment", "ok-2.test", "localhost"])
    rc, err = start_fails(tmp_path, [], [NECURS, ("seized/bad.list", PARKED_TEMPLATE, None)])
    assert rc == 1, f"exit status {rc}:\n{err}"
    assert f"{lst}: 3 of its 5 entries are not domain names: list refused" in err, err


def test_mostly_invalid_list_at_reload_keeps_old(make_server):
    srv = seized_server(make_server, [("seized/live.list", SINK_TEMPLATE, None)])
    lst = path_in(srv, "seized/live.list")
    write_lines(lst, ["keep-1.test", "keep-2.test"])
    srv.start()
    write_lines(lst, ["new-1.test", "bad-.test", "-bad.test", "localhost"])
    log = reload_fails(srv)
    assert f"{lst}: 3 of its 4 entries are not domain names: list refused" in log, log
    assert a_of(srv, "keep-1.test") == sink_a("keep-1.test"), "the old list must keep answering"
    assert a_of(srv, "www.keep-2.test", "tcp")[0] == "NOERROR"
    assert a_of(srv, "new-1.test")[0] == "REFUSED", "nothing of the refused list may be served"
    # fixed: the next reload goes through
    write_lines(lst, ["new-1.test", "bad-.test"])
    reload_ok(srv)
    assert a_of(srv, "new-1.test") == sink_a("new-1.test")
    assert a_of(srv, "keep-1.test")[0] == "REFUSED"


# == 4. templates with relative RDATA names ==========================================================

@pytest.mark.parametrize("record,name", [("@\tMX\t20 mail", "mail"), ("@\tNS\tns1", "ns1"),
                                         ("alias\tCNAME\twww", "www"),
                                         ("_sip._tcp\tSRV\t10 20 5060 sip.edge", "sip.edge")])
def test_relative_rdata_name_refused_at_start(tmp_path, record, name):
    copy_seized(tmp_path)
    tpl = tmp_path / SINK_TEMPLATE
    lines = tpl.read_text().splitlines()
    lines.insert(line_no(lines, "www\t\tA\t192.0.2.67"), record)   # after www: not the last line
    write_lines(tpl, lines)
    n = line_no(lines, record)
    rc, err = start_fails(tmp_path, [], [NECURS])
    assert rc == 1, f"exit status {rc}:\n{err}"
    assert RELATIVE_MSG.format(tpl=tpl, n=n, name=name) in err, err


def test_relative_rdata_name_at_reload_keeps_old(make_server):
    srv = seized_server(make_server, [NECURS])
    srv.start()
    tpl = path_in(srv, SINK_TEMPLATE)
    lines = Path(tpl).read_text().splitlines()
    lines[line_no(lines, "@\t\tA\t192.0.2.66") - 1] = "@\t\tA\t192.0.2.99"
    lines.append("@\tMX\t20 mail")
    write_lines(tpl, lines)
    log = reload_fails(srv)
    assert RELATIVE_MSG.format(tpl=tpl, n=len(lines), name="mail") in log, log
    assert a_of(srv, "necurs-a.test") == sink_a("necurs-a.test"), "the old template must keep answering"


# == 5. reload ========================================================================================

def test_reload_adds_and_removes_domains(make_server):
    """Removed domains are REFUSED unless another list or a zone covers them; the first list's
    duplicates pass to the second list once the first drops them."""
    srv = seized_server(make_server, [("seized/one.list", SINK_TEMPLATE, None),
                                      ("seized/two.list", PARKED_TEMPLATE, None)],
                        zones=[("sinkhole.test.zone", None, None)])
    one, two = path_in(srv, "seized/one.list"), path_in(srv, "seized/two.list")
    sink_tpl, parked_tpl = path_in(srv, SINK_TEMPLATE), path_in(srv, PARKED_TEMPLATE)
    write_lines(one, ["alpha.test", "bravo.test", "charlie.test", "evil.sinkhole.test", "kilo.test"])
    write_lines(two, ["bravo.test", "charlie.test", "yankee.test", "zulu.test"])
    srv.start()
    log = srv.log_text()
    assert one_info(log, one, sink_tpl) == (5, 0, 0, 0)
    assert one_info(log, two, parked_tpl) == (2, 0, 2, 0)
    assert a_of(srv, "bravo.test") == sink_a("bravo.test")
    assert a_of(srv, "evil.sinkhole.test") == sink_a("evil.sinkhole.test")
    assert a_of(srv, "delta.test")[0] == "REFUSED"

    write_lines(one, ["alpha.test", "delta.test", "echo.test"])
    log = reload_ok(srv)
    assert one_info(log, one, sink_tpl) == (3, 0, 0, 0)
    assert one_info(log, two, parked_tpl) == (4, 0, 0, 0)
    for transport in ("udp", "tcp"):
        assert a_of(srv, "delta.test", transport) == sink_a("delta.test"), "added domain"
        assert a_of(srv, "www.echo.test", transport) == ("NOERROR", {"www.echo.test. 3600 IN A 192.0.2.67"})
        assert a_of(srv, "alpha.test", transport) == sink_a("alpha.test"), "kept domain"
        assert a_of(srv, "kilo.test", transport)[0] == "REFUSED", "removed domain still served"
        assert a_of(srv, "x.kilo.test", transport)[0] == "REFUSED"
        assert a_of(srv, "bravo.test", transport) == parked_a("bravo.test"), "second list takes over"
        assert a_of(srv, "evil.sinkhole.test", transport) == \
            ("NOERROR", {"evil.sinkhole.test. 3600 IN A 192.0.2.53"}), "the zone's wildcard takes over"
    assert not warnings_about(log, one) and not warnings_about(log, two), log


def test_reload_config_adds_and_removes_lists(make_server):
    srv = seized_server(make_server, [NECURS], zones=[("other.test.zone", None, None)])
    srv.start()
    assert a_of(srv, "parked-a.test")[0] == "REFUSED"
    srv.conf_kw["seized"] = [NECURS, PARKED]
    srv.write_config()
    log = reload_ok(srv)
    assert one_info(log, path_in(srv, PARKED[0]), path_in(srv, PARKED_TEMPLATE)) == (2, 0, 0, 0)
    assert a_of(srv, "parked-a.test") == parked_a("parked-a.test")
    assert a_of(srv, "necurs-a.test") == sink_a("necurs-a.test")
    srv.conf_kw["seized"] = None
    srv.write_config()
    log = reload_ok(srv)
    assert "seized:" not in srv.conf.read_text()
    assert not info_counts(log, path_in(srv, NECURS[0]), path_in(srv, SINK_TEMPLATE))
    assert a_of(srv, "parked-a.test")[0] == "REFUSED"
    assert a_of(srv, "necurs-a.test")[0] == "REFUSED"
    assert a_of(srv, "target.other.test") == ("NOERROR", {"target.other.test. 600 IN A 198.51.100.10"})


# == 6. load: dnsperf during a SIGHUP storm ==========================================================

STORM_SHARED = [f"seized-{i:04d}.test" for i in range(1800)]
STORM_ONLY = {"a": [f"only-a{i:03d}.test" for i in range(100)],
              "b": [f"only-b{i:03d}.test" for i in range(150)]}
STORM_VERSIONS = {"a": STORM_SHARED[:900] + STORM_ONLY["a"] + STORM_SHARED[900:],
                  "b": STORM_ONLY["b"] + STORM_SHARED}
STORM_RELOADS = 15


def storm_qfile(path):
    """dnsperf input over names present in both versions: NOERROR (apex, www, wildcard) and
    NXDOMAIN (below an empty non-terminal)."""
    out = []
    for i, d in enumerate(STORM_SHARED[::3]):
        out += [f"{d} A", f"www.{d} A", f"h{i}.x.{d} AAAA", f"x.c.{d} A", f"{d} MX"]
    Path(path).write_text("\n".join(out) + "\n")
    return path


def dnsperf_stats(out):
    res = {}
    for key, label in (("sent", "Queries sent"), ("completed", "Queries completed"), ("lost", "Queries lost")):
        m = re.search(rf"{label}:\s+(\d+)", out)
        assert m, f"dnsperf output without '{label}':\n{out[-2000:]}"
        res[key] = int(m.group(1))
    m = re.search(r"Response codes:\s+(.*)", out)
    assert m, f"dnsperf output without 'Response codes':\n{out[-2000:]}"
    res["rcodes"] = {code: int(n) for code, n in re.findall(r"([A-Z]+) (\d+) \(", m.group(1))}
    return res


class Checker(threading.Thread):
    """Queries shared and version-only names over UDP until stopped; every answer must be what one of
    the two versions gives: shared names always the template's A, version-only names that A or
    REFUSED. Bounded by a deadline and a query cap."""

    def __init__(self, srv, deadline_s=60, cap=50000):
        super().__init__(daemon=True)
        self.srv, self.deadline, self.cap = srv, time.monotonic() + deadline_s, cap
        self.stop = threading.Event()
        self.bad, self.seen = [], {}
        self.names = [(d, "shared") for d in STORM_SHARED[::37]] + \
                     [(d, "a") for d in STORM_ONLY["a"][::5]] + [(d, "b") for d in STORM_ONLY["b"][::5]]

    def run(self):
        n = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline and n < self.cap:
            d, kind = self.names[n % len(self.names)]
            n += 1
            q = sk.make_query(d, "A")
            try:
                r = dns.query.udp(q, sk.V4, port=self.srv.port, timeout=2.0)
            except dns.exception.Timeout:
                self.bad.append(f"{d}: timeout")
                continue
            got = (rcode_name(r), rrset_texts(r.answer))
            self.seen[(kind, got[0])] = self.seen.get((kind, got[0]), 0) + 1
            ok = got == sink_a(d) and aa(r)
            if kind != "shared":
                ok = ok or got == ("REFUSED", set())
            if not ok:
                self.bad.append(f"{d} ({kind}): {got}")


def test_dnsperf_during_sighup_storm(make_server, tmp_path):
    if not shutil.which("dnsperf"):
        pytest.fail("dnsperf not installed (Debian package dnsperf)", pytrace=False)
    srv = seized_server(make_server, [("seized/storm.list", SINK_TEMPLATE, None)])
    lst, tpl = path_in(srv, "seized/storm.list"), path_in(srv, SINK_TEMPLATE)
    write_lines(lst, STORM_VERSIONS["a"])
    srv.start()
    qfile = storm_qfile(tmp_path / "storm-queries.txt")
    # -l 30 only bounds the run: it ends with SIGINT once the reloads are done
    perf = subprocess.Popen(["dnsperf", "-s", sk.V4, "-p", str(srv.port), "-d", str(qfile), "-c", "1",
                             "-q", "20", "-Q", "5000", "-t", "2", "-l", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    checker = Checker(srv)
    checker.start()
    try:
        time.sleep(0.5)
        for i in range(1, STORM_RELOADS + 1):
            version = "ab"[i % 2]
            write_lines(lst, STORM_VERSIONS[version])
            log = reload_ok(srv)
            assert one_info(log, lst, tpl) == (len(STORM_VERSIONS[version]), 0, 0, 0), f"reload {i}"
            time.sleep(0.35)
        time.sleep(0.5)
        if perf.poll() is None:
            perf.send_signal(signal.SIGINT)  # ends the run; dnsperf still prints its statistics
        out = perf.communicate(timeout=20)[0]
    finally:
        checker.stop.set()
        checker.join(10)
        if perf.poll() is None:
            perf.kill()
            perf.wait(5)
    stats = dnsperf_stats(out)
    print(f"dnsperf: {stats}; dnspython checker: {checker.seen}")
    assert stats["lost"] == 0, f"dnsperf lost queries during reloads:\n{out[-1500:]}"
    assert stats["completed"] > 0 and sum(stats["rcodes"].values()) == stats["completed"], out[-1500:]
    assert set(stats["rcodes"]) <= {"NOERROR", "NXDOMAIN"}, f"unexpected response codes {stats['rcodes']}"
    assert stats["rcodes"].get("NOERROR") and stats["rcodes"].get("NXDOMAIN"), stats["rcodes"]
    assert sum(checker.seen.values()) > 0, "the dnspython checker got no answers"
    assert not checker.bad, f"{len(checker.bad)} answers matched neither version, first: {checker.bad[:5]}"
    # the last reload loaded version "b"
    assert a_of(srv, STORM_ONLY["b"][7]) == sink_a(STORM_ONLY["b"][7])
    assert a_of(srv, STORM_ONLY["a"][7])[0] == "REFUSED"
    assert srv.alive()


# == 7. telemetry ====================================================================================

NESTED_TAGS = {"case": "nested-7", "operation": "Inside a zone"}
ZONE_TAGS = {"case": "1:24-cv-2323"}


def test_telemetry_zone_and_tags(tmp_path):
    need_binary()
    d = tmp_path / "tm"
    sk.copy_zones(d, ["sinkhole.test.zone"])
    copy_seized(d)
    write_lines(d / "seized/nested.list", ["evil.sinkhole.test"])
    srv = tm.TmServer(d, zones=[("sinkhole.test.zone", None, ZONE_TAGS)],
                      telemetry={"flush_ms": 100, "jsonl": {"path": "events.jsonl"}},
                      seized=[NECURS, PARKED, ("seized/nested.list", SINK_TEMPLATE, NESTED_TAGS)])
    cases = [  # qname, qtype, transport, zone, tags, rcode
        ("WwW.NeCuRs-A.TeSt.", "A", "udp", "necurs-a.test.", NECURS_TAGS, "NOERROR"),
        ("deep.x.necurs-b.test.", "TXT", "tcp", "necurs-b.test.", NECURS_TAGS, "NOERROR"),
        ("x.deep.sub.Necurs-D.test.", "A", "udp", "deep.sub.necurs-d.test.", NECURS_TAGS, "NOERROR"),
        ("NoThere.Parked-A.test.", "A", "udp", "parked-a.test.", PARKED_TAGS, "NXDOMAIN"),
        ("parked-b.test.", "SOA", "tcp", "parked-b.test.", PARKED_TAGS, "NOERROR"),
        ("www.evil.sinkhole.test.", "A", "udp", "evil.sinkhole.test.", NESTED_TAGS, "NOERROR"),
        ("www.sinkhole.test.", "A", "udp", "sinkhole.test.", ZONE_TAGS, "NOERROR"),
        ("sub.necurs-d.test.", "A", "udp", None, None, "REFUSED"),
    ]
    try:
        srv.start()
        for n, (qname, qtype, transport, *_rest) in enumerate(cases):
            qid = 7000 + n
            q = sk.make_query(qname, qtype, qid=qid)
            replies, _ = tm.exchange(sk.V4, srv.port, [q.to_wire()], transport)
            assert qid in replies, f"no answer to {qname}"
            assert tm.rcode_of(replies[qid]) == cases[n][5], f"{qname}: rcode"
        srv.stop_ok()
    finally:
        srv.kill()
    recs = {r["id"]: r for r in tm.read_jsonl(d / "events.jsonl")}
    assert len(recs) == len(cases), f"{len(recs)} records for {len(cases)} queries"
    for n, (qname, _qtype, _t, zone, tags, rcode) in enumerate(cases):
        r = recs[7000 + n]
        assert r["qname"] == qname and r["rcode"] == rcode, f"record {r}"
        assert r["zone"] == zone, f"{qname}: zone {r['zone']!r}, expected {zone!r}"
        if tags is None:
            assert r["tags"] is None, f"{qname}: tags {r['tags']!r}"
        else:
            assert list(r["tags"].items()) == list(tags.items()), f"{qname}: tags {r['tags']} != {tags}"


# == 8. sinkhole-check ===============================================================================

def sinkhole_check_path():
    """$SINKHOLE_CHECK, else tools/sinkhole-check in the build folder of $SINKHOLED."""
    if os.environ.get("SINKHOLE_CHECK"):
        return Path(os.environ["SINKHOLE_CHECK"])
    return sk.sinkholed_path().parent.parent / "tools" / "sinkhole-check"


def run_check(conf, timeout=30):
    tool = sinkhole_check_path()
    if not tool.exists():
        pytest.fail(f"sinkhole-check not built: {tool} (build it, or set SINKHOLE_CHECK)", pytrace=False)
    p = sk.run_binary([tool, "-c", conf], timeout=sk.scaled(timeout), cwd="/", stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def check_line(lst, counts, tpl):
    n, i, d, z = counts
    return (f"seized {lst}: {n} domains, {i} invalid, {d} duplicates, {z} served by zone files "
            f"(template {tpl})")


def test_check_ok(tmp_path):
    """Counts on stdout, exit 0; it only validates: the configured port may be taken."""
    sk.copy_zones(tmp_path, ["sinkhole.test.zone", "other.test.zone"])
    copy_seized(tmp_path)
    conf = tmp_path / "sinkholed.yml"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind((sk.V4, 0))
        sk.write_config(conf, held.getsockname()[1], [("sinkhole.test.zone", None, None),
                                                      ("other.test.zone", None, None)],
                        v6=False, seized=[NECURS, PARKED])
        rc, out, err = run_check(conf)
    assert rc == 0, f"exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    lines = out.splitlines()
    for zone in ("sinkhole.test", "other.test"):
        pat = re.compile(rf"zone {re.escape(zone)}\.?: {re.escape(str(tmp_path / (zone + '.zone')))}")
        assert any(pat.fullmatch(line) for line in lines), f"no 'zone {zone}: FILE' line:\n{out}"
    assert check_line(tmp_path / NECURS[0], (5, 0, 0, 0), tmp_path / SINK_TEMPLATE) in lines, out
    assert check_line(tmp_path / PARKED[0], (2, 0, 0, 0), tmp_path / PARKED_TEMPLATE) in lines, out
    assert lines[-1] == "ok: 2 zones, 2 seized lists, 7 seized domains", out
    assert "warning" not in err, err


def test_check_warnings_still_ok(tmp_path):
    expected = build_overlap(tmp_path)
    conf = tmp_path / "sinkholed.yml"
    sk.write_config(conf, sk.free_port(), OVERLAP_ZONES, seized=OVERLAP_SEIZED)
    rc, out, err = run_check(conf)
    assert rc == 0, f"warnings alone must not fail: exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    lines = out.splitlines()
    for lst, (warnings, counts, tpl) in expected.items():
        assert set(warnings_about(err, lst)) == warnings, f"warnings about {lst} on stderr:\n{err}"
        assert check_line(lst, counts, tpl) in lines, out
    assert lines[-1] == "ok: 4 zones, 2 seized lists, 6 seized domains", out


def assert_check_failed(rc, out, err):
    assert rc == 1, f"exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    m = re.fullmatch(r"failed: (\d+) errors?", out.splitlines()[-1] if out.strip() else "")
    assert m and int(m.group(1)) >= 1, f"last stdout line must be 'failed: E errors':\n{out}"
    assert not re.search(r"^ok:", out, re.M), out


def test_check_relative_template_name_fails(tmp_path):
    copy_seized(tmp_path)
    tpl = tmp_path / PARKED_TEMPLATE
    lines = tpl.read_text().splitlines() + ["@\tMX\t10 mail"]
    write_lines(tpl, lines)
    conf = tmp_path / "sinkholed.yml"
    sk.write_config(conf, sk.free_port(), [], seized=[NECURS, PARKED])
    rc, out, err = run_check(conf)
    assert_check_failed(rc, out, err)
    assert RELATIVE_MSG.format(tpl=tpl, n=len(lines), name="mail") in err, err


def test_check_mostly_invalid_list_fails(tmp_path):
    copy_seized(tmp_path)
    lst = write_lines(tmp_path / "seized/bad.list", ["ok.test", "-bad.test", "bad-.test"])
    conf = tmp_path / "sinkholed.yml"
    sk.write_config(conf, sk.free_port(), [], seized=[("seized/bad.list", SINK_TEMPLATE, None)])
    rc, out, err = run_check(conf)
    assert_check_failed(rc, out, err)
    assert f"{lst}: 2 of its 3 entries are not domain names: list refused" in err, err
    for n, text in ((2, "-bad.test"), (3, "bad-.test")):
        assert f"{lst}:{n}: warning: not a domain name: '{text}' (line skipped)" in err, err
