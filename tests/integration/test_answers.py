"""test_answers -- every answer behaviour of issue 2 section 5, over UDP and TCP, IPv4 and IPv6.

Zones: zones/sinkhole.test.zone (SOA TTL 3600, MINIMUM 300 -> negative TTL 300; apex wildcard),
zones/other.test.zone (SOA TTL 60, MINIMUM 600 -> negative TTL 60; no wildcard),
zones/named.test.zone (origin from the config's `name:`).
"""
import random
import re
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

import skhelpers as sk
from skhelpers import find_rrset, rcode_name, rrset_texts

SOA_SINK = "sinkhole.test. 300 IN SOA ns9.operator.test. hostmaster.operator.test. 2024010101 7200 3600 1209600 300"
SOA_OTHER = "other.test. 60 IN SOA ns9.operator.test. hostmaster.operator.test. 7 7200 3600 1209600 600"


def query(server, via, name, qtype="A", qclass="IN", **kw):
    transport, family = via
    q = sk.make_query(name, qtype, qclass, **kw)
    r = sk.ask(server, q, transport, family)
    assert r.id == q.id
    return r


def assert_aa(r, expected=True):
    assert bool(r.flags & dns.flags.AA) == expected, f"AA expected {expected}: {r}"


def assert_negative(r, rcode, soa_text):
    """NODATA/NXDOMAIN: rcode, AA, empty answer, exactly the zone's SOA in authority with
    TTL min(SOA TTL, MINIMUM) (RFC 2308 section 3 and 5)."""
    assert rcode_name(r) == rcode, r
    assert_aa(r)
    assert r.answer == [], r
    assert rrset_texts(r.authority) == {soa_text}, r


# -- header ------------------------------------------------------------------------------------

def test_header_id_rd_aa_ra(server, via):
    for rd in (False, True):
        qid = random.randrange(1, 65536)
        r = query(server, via, "www.sinkhole.test", "A", rd=rd, qid=qid)
        assert r.id == qid
        assert bool(r.flags & dns.flags.QR)
        assert bool(r.flags & dns.flags.RD) == rd, "RD must be copied from the query (RFC 1035 4.1.1)"
        assert not r.flags & dns.flags.RA, "RA must be clear: we do not recurse"
        assert_aa(r)
        assert r.opcode() == dns.opcode.QUERY
        assert rcode_name(r) == "NOERROR"


def test_header_cd_copied_ad_z_clear(server, via):
    transport, family = via
    # flags: RD | AD | CD | Z(0x0040)
    wire = sk.raw_query("www.sinkhole.test", qid=0x7777, flags=0x0100 | 0x0020 | 0x0010 | 0x0040)
    reply = sk.ask_raw(server, wire, transport, family)
    h = sk.parse_header(reply)
    assert h["flags"] & 0x0010, "CD must be copied (RFC 4035 3.1.6)"
    assert not h["flags"] & 0x0020, "AD must be clear: nothing here is validated (RFC 4035 3.1.6)"
    assert not h["flags"] & 0x0040, "Z must be zero (RFC 1035 4.1.1)"
    assert h["rd"] and not h["ra"] and h["aa"]


@pytest.mark.parametrize("name,rcode", [("www.example.com", "REFUSED"), ("nothere.other.test", "NXDOMAIN"),
                                        ("x.sub.sinkhole.test", "NOERROR")])
def test_header_rd_echo_on_every_rcode(server, via, name, rcode):
    r = query(server, via, name, "A", rd=True)
    assert rcode_name(r) == rcode
    assert r.flags & dns.flags.RD and not r.flags & dns.flags.RA


@pytest.mark.parametrize("qid", [0, 0xffff])
def test_header_extreme_ids(server, via, qid):
    r = query(server, via, "www.sinkhole.test", "A", qid=qid)
    assert r.id == qid and rcode_name(r) == "NOERROR"


def test_query_with_records_in_answer_section(server, via):
    """A query that carries records in its answer/authority sections is still answered: those
    sections of a query are skipped (query.h)."""
    transport, family = via
    rr = sk.wire_name("x.test") + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 9])
    wire = sk.header(0x3131, 0, 1, 1, 1, 0) + sk.question("www.sinkhole.test") + rr + rr
    reply = sk.ask_raw(server, wire, transport, family)
    assert reply is not None
    r = dns.message.from_wire(reply)
    assert r.id == 0x3131 and rcode_name(r) == "NOERROR"
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}


def test_question_case_preserved(server, via):
    """The question is echoed with the client's letter case (0x20 resolvers depend on it)."""
    transport, family = via
    name = "WwW.SiNkHoLe.TeSt"
    wire = sk.raw_query(name, 1, 1, qid=0x4242)
    reply = sk.ask_raw(server, wire, transport, family)
    assert reply is not None, "no answer"
    h = sk.parse_header(reply)
    assert h["id"] == 0x4242 and h["qr"] and h["qd"] == 1 and h["rcode"] == 0
    qsec = wire[12:]
    assert reply[12:12 + len(qsec)] == qsec, "question not echoed byte for byte (letter case)"
    r = dns.message.from_wire(reply)
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}


def test_qclass_any_answered_from_in(server, via):
    """RFC 1035 3.2.5: QCLASS * matches any class; our data is IN."""
    r = query(server, via, "www.sinkhole.test", "A", "ANY")
    assert rcode_name(r) == "NOERROR"
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
    r = query(server, via, "www.sinkhole.test", "A", "HS")
    assert rcode_name(r) == "REFUSED" and r.answer == []


def test_refused_outside_zones(server, via):
    for name in ("www.example.com", "test", ".", "sinkhole.test.evil.example", "nkhole.test"):
        r = query(server, via, name, "A")
        assert rcode_name(r) == "REFUSED", name
        assert_aa(r, False)
        assert r.answer == [] and r.authority == []


# -- positive answers --------------------------------------------------------------------------

@pytest.mark.parametrize("qtype,expected", [
    ("SOA", {"sinkhole.test. 3600 IN SOA ns9.operator.test. hostmaster.operator.test. 2024010101 7200 3600 1209600 300"}),
    ("NS", {"sinkhole.test. 3600 IN NS ns9.operator.test.", "sinkhole.test. 3600 IN NS ns10.operator.test."}),
    ("A", {"sinkhole.test. 3600 IN A 192.0.2.53"}),
    ("AAAA", {"sinkhole.test. 3600 IN AAAA 2001:db8::53"}),
    ("MX", {"sinkhole.test. 3600 IN MX 10 mail.sinkhole.test."}),
    ("TXT", {'sinkhole.test. 3600 IN TXT "sinkholed by court order" "case 1:24-cv-2323"'}),
])
def test_apex_positive(server, via, qtype, expected):
    r = query(server, via, "sinkhole.test", qtype)
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    assert rrset_texts(r.answer) == expected


def test_explicit_name_and_escapes(server, via):
    r = query(server, via, "www.sinkhole.test", "A")
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
    r = query(server, via, "mail.sinkhole.test", "A")
    assert rrset_texts(r.answer) == {"mail.sinkhole.test. 300 IN A 192.0.2.25"}, "per-record TTL"
    r = query(server, via, "esc.sinkhole.test", "TXT")
    (rrset,) = r.answer
    assert [s for rd in rrset for s in rd.strings] == [b'quote"back\\slashA']


def test_second_zone_and_name_key(server, via):
    r = query(server, via, "target.other.test", "AAAA")
    assert rrset_texts(r.answer) == {"target.other.test. 600 IN AAAA 2001:db8:1::10"}
    assert_aa(r)
    r = query(server, via, "host.named.test", "A")
    assert rcode_name(r) == "NOERROR"
    assert rrset_texts(r.answer) == {"host.named.test. 300 IN A 203.0.113.7"}, \
        "zone without $ORIGIN must take its origin from `name:`"


def test_longest_zone_match(server, via):
    """child.sinkhole.test is a zone of its own: it answers below it, not the parent's wildcard."""
    r = query(server, via, "www.child.sinkhole.test", "A")
    assert rrset_texts(r.answer) == {"www.child.sinkhole.test. 900 IN A 203.0.113.99"}
    r = query(server, via, "child.sinkhole.test", "SOA")
    assert_aa(r)
    assert r.answer[0][0].serial == 3
    assert_negative(query(server, via, "nothere.child.sinkhole.test", "A"), "NXDOMAIN",
                    "child.sinkhole.test. 120 IN SOA ns9.operator.test. hostmaster.operator.test. "
                    "3 7200 3600 1209600 120")
    # the parent still answers beside it
    r = query(server, via, "children.sinkhole.test", "A")
    assert rrset_texts(r.answer) == {"children.sinkhole.test. 3600 IN A 192.0.2.53"}


# -- negative answers (RFC 2308) ---------------------------------------------------------------

def test_nodata(server, via):
    assert_negative(query(server, via, "www.sinkhole.test", "AAAA"), "NOERROR", SOA_SINK)
    assert_negative(query(server, via, "target.other.test", "MX"), "NOERROR", SOA_OTHER)


def test_nxdomain(server, via):
    assert_negative(query(server, via, "nothere.other.test", "A"), "NXDOMAIN", SOA_OTHER)
    assert_negative(query(server, via, "a.b.nothere.other.test", "TXT"), "NXDOMAIN", SOA_OTHER)


def test_ent_is_nodata(server, via):
    """Empty non-terminals exist (RFC 8020, RFC 4592 2.2.2): NODATA, never NXDOMAIN or wildcard."""
    for name in ("c.sinkhole.test", "b.c.sinkhole.test", "wc.sinkhole.test",
                 "node.other.test", "er.node.other.test"):
        assert_negative(query(server, via, name, "A"), "NOERROR",
                        SOA_OTHER if name.endswith("other.test") else SOA_SINK)


# -- wildcards (RFC 4592) ----------------------------------------------------------------------

def test_wildcard_synthesis(server, via):
    for name in ("nosuch.sinkhole.test", "deep.er.name.sinkhole.test", "NoSuCh2.SinkHole.TEST"):
        r = query(server, via, name, "A")
        assert rcode_name(r) == "NOERROR"
        assert_aa(r)
        assert rrset_texts(r.answer) == {f"{name.lower()}. 3600 IN A 192.0.2.53"}, \
            "wildcard answer must be owned by the query name"
        r = query(server, via, name, "TXT")
        assert rrset_texts(r.answer) == {f'{name.lower()}. 3600 IN TXT "wildcard"'}


def test_wildcard_nodata(server, via):
    assert_negative(query(server, via, "nosuch.sinkhole.test", "MX"), "NOERROR", SOA_SINK)


def test_wildcard_closest_encloser(server, via):
    """A name whose closest encloser exists (explicit or empty non-terminal) and has no `*` child
    is NXDOMAIN even though the apex has a wildcard (RFC 4592 3.3.1)."""
    for name in ("x.c.sinkhole.test", "x.b.c.sinkhole.test", "x.www.sinkhole.test",
                 "x.a.b.c.sinkhole.test"):
        assert_negative(query(server, via, name, "A"), "NXDOMAIN", SOA_SINK)


@pytest.mark.parametrize("label", [
    "\\000\\255\\.dot",                        # binary bytes and an escaped dot in one label
    ".".join(["a" * 60] * 3) + ".x",              # a long name, close to 255 bytes in all
    ".".join(["a"] * 120),                        # 122 labels: 255 bytes, the most there can be
])
def test_wildcard_odd_names(server, via, label):
    name = dns.name.from_text(label, dns.name.from_text("sinkhole.test"))
    transport, family = via
    q = sk.make_query(name, "A")
    r = sk.ask(server, q, transport, family)
    assert rcode_name(r) == "NOERROR"
    (rrset,) = r.answer
    assert rrset.name == name, "owner must be the query name, bytes and all"
    assert rrset.name.to_wire() == name.to_wire()
    assert [rd.address for rd in rrset] == ["192.0.2.53"]


def test_explicit_name_beats_wildcard(server, via):
    r = query(server, via, "www.sinkhole.test", "A")
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
    # www has no AAAA: NODATA, not the wildcard's AAAA
    assert_negative(query(server, via, "www.sinkhole.test", "AAAA"), "NOERROR", SOA_SINK)


def test_wildcard_cname(server, via):
    r = query(server, via, "anything.wc.sinkhole.test", "A")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    assert rrset_texts(r.answer) == {"anything.wc.sinkhole.test. 3600 IN CNAME www.sinkhole.test.",
                                     "www.sinkhole.test. 3600 IN A 192.0.2.80"}


# -- CNAME (RFC 1034 3.6.2, 4.3.2; RFC 6604) -----------------------------------------------------

def test_cname_chain_followed(server, via):
    r = query(server, via, "cname1.sinkhole.test", "A")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    assert rrset_texts(r.answer) == {
        "cname1.sinkhole.test. 3600 IN CNAME cname2.sinkhole.test.",
        "cname2.sinkhole.test. 3600 IN CNAME www.sinkhole.test.",
        "www.sinkhole.test. 3600 IN A 192.0.2.80"}
    # order: the chain in sequence (resolvers read it top down)
    assert [str(x.name).lower() for x in r.answer] == [
        "cname1.sinkhole.test.", "cname2.sinkhole.test.", "www.sinkhole.test."]


def test_cname_qtype_cname_not_followed(server, via):
    r = query(server, via, "cname1.sinkhole.test", "CNAME")
    assert rrset_texts(r.answer) == {"cname1.sinkhole.test. 3600 IN CNAME cname2.sinkhole.test."}


def test_cname_to_nodata_and_nxdomain(server, via):
    """RFC 6604: the rcode is that of the last name in the chain; the CNAME stays in the answer."""
    r = query(server, via, "alias.other.test", "MX")
    assert rcode_name(r) == "NOERROR"
    assert rrset_texts(r.answer) == {"alias.other.test. 600 IN CNAME target.other.test."}
    assert rrset_texts(r.authority) == {SOA_OTHER}
    r = query(server, via, "dangling.other.test", "A")
    assert rcode_name(r) == "NXDOMAIN"
    assert_aa(r)
    assert rrset_texts(r.answer) == {"dangling.other.test. 600 IN CNAME nothere.other.test."}
    assert rrset_texts(r.authority) == {SOA_OTHER}


def test_cname_to_other_zone(server, via):
    """CNAME into another zone we serve: the CNAME is always there; following into the other zone
    is allowed (RFC 1034 4.3.2 step 3a restarts at step 1; NSD and sinkholed do) but not required
    (Knot stops)."""
    r = query(server, via, "ext.sinkhole.test", "A")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    got = rrset_texts(r.answer)
    assert "ext.sinkhole.test. 3600 IN CNAME target.other.test." in got
    assert got - {"ext.sinkhole.test. 3600 IN CNAME target.other.test."} <= {
        "target.other.test. 600 IN A 198.51.100.10"}


def test_cname_to_wildcard_target(server, via):
    """A chain into a wildcard: the synthesized record is owned by the CNAME target."""
    r = query(server, via, "ToWild.SinkHole.test", "A")
    assert rrset_texts(r.answer) == {"towild.sinkhole.test. 3600 IN CNAME somewhere.sinkhole.test.",
                                     "somewhere.sinkhole.test. 3600 IN A 192.0.2.53"}
    r = query(server, via, "towild2.sinkhole.test", "A")
    assert rrset_texts(r.answer) == {"towild2.sinkhole.test. 3600 IN CNAME anything.wc.sinkhole.test.",
                                     "anything.wc.sinkhole.test. 3600 IN CNAME www.sinkhole.test.",
                                     "www.sinkhole.test. 3600 IN A 192.0.2.80"}


def test_cname_to_outside(server, via):
    r = query(server, via, "out.sinkhole.test", "A")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    assert rrset_texts(r.answer) == {"out.sinkhole.test. 3600 IN CNAME www.example.com."}
    assert r.authority == [] or rrset_texts(r.authority) == set(), "no SOA: the target is not ours"


def test_cname_loop(server, via):
    r = query(server, via, "loop1.sinkhole.test", "A")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    got = rrset_texts(r.answer)
    assert "loop1.sinkhole.test. 3600 IN CNAME loop2.sinkhole.test." in got
    assert got <= {"loop1.sinkhole.test. 3600 IN CNAME loop2.sinkhole.test.",
                   "loop2.sinkhole.test. 3600 IN CNAME loop1.sinkhole.test."}
    assert sum(len(x) for x in r.answer) == len(got), "a record repeated: loop not detected"


def test_cname_chain_limit(server, via):
    """c1 -> c2 -> ... -> c12 -> target: the server follows a bounded number of steps; what it
    returns is a prefix of the chain, in order, without repeats, NOERROR (RFC 1034 does not bound
    chains; a resolver re-queries the last target)."""
    r = query(server, via, "c1.other.test", "A")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    chain = [f"c{i}.other.test." for i in range(1, 13)] + ["target.other.test."]
    owners = [str(rr.name).lower() for rr in r.answer]
    assert 1 <= len(owners) <= len(chain)
    assert owners == chain[:len(owners)], owners
    for i, rr in enumerate(r.answer):
        if rr.rdtype == dns.rdatatype.CNAME:
            assert str(rr[0].target).lower() == chain[i + 1]


# -- delegation --------------------------------------------------------------------------------

REFERRAL_NS = {"sub.sinkhole.test. 3600 IN NS ns1.sub.sinkhole.test.",
               "sub.sinkhole.test. 3600 IN NS ns2.sub.sinkhole.test."}
REFERRAL_GLUE = {"ns1.sub.sinkhole.test. 3600 IN A 192.0.2.101",
                 "ns1.sub.sinkhole.test. 3600 IN AAAA 2001:db8::101",
                 "ns2.sub.sinkhole.test. 3600 IN A 192.0.2.102"}


@pytest.mark.parametrize("name,qtype", [("x.sub.sinkhole.test", "A"), ("sub.sinkhole.test", "NS"),
                                        ("ns1.sub.sinkhole.test", "A"), ("a.b.sub.sinkhole.test", "TXT"),
                                        ("sub.sinkhole.test", "A")])
def test_referral(server, via, name, qtype):
    """At or below a zone cut: a referral, AA clear, NS in authority, all glue (RFC 1034 4.3.2 3b,
    RFC 9471)."""
    r = query(server, via, name, qtype)
    assert rcode_name(r) == "NOERROR"
    assert_aa(r, False)
    assert r.answer == []
    assert rrset_texts(r.authority) == REFERRAL_NS
    assert rrset_texts(r.additional) == REFERRAL_GLUE


MANY_NS = {f"many.sinkhole.test. 3600 IN NS ns{i}.many.sinkhole.test." for i in range(1, 11)}
MANY_GLUE = ({f"ns{i}.many.sinkhole.test. 3600 IN A 192.0.2.{110 + i}" for i in range(1, 11)} |
             {f"ns{i}.many.sinkhole.test. 3600 IN AAAA 2001:db8::{110 + i:x}" for i in range(1, 11)})


def test_referral_glue_that_does_not_fit_sets_tc(server, family):
    """RFC 9471 3: when in-domain glue does not all fit, TC must be set."""
    q = sk.make_query("x.many.sinkhole.test", "A")
    reply = sk.ask_raw_udp(server, q.to_wire(), family)
    assert reply is not None and len(reply) <= 512
    r = dns.message.from_wire(reply)
    assert r.flags & dns.flags.TC, "glue cut without TC"
    assert_aa(r, False)


@pytest.mark.parametrize("transport", ["udp-edns", "tcp"])
def test_referral_all_glue_when_room(server, family, transport):
    q = sk.make_query("x.many.sinkhole.test", "A", edns=transport == "udp-edns")
    r = sk.ask(server, q, transport[:3], family)
    assert not r.flags & dns.flags.TC
    assert_aa(r, False)
    assert rrset_texts(r.authority) == MANY_NS
    assert rrset_texts(r.additional) == MANY_GLUE


def test_ds_at_cut_is_authoritative(server, via):
    """DS lives on the parent side of the cut (RFC 4035 3.1.4.1)."""
    r = query(server, via, "sub.sinkhole.test", "DS")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    assert rrset_texts(r.answer) == {
        "sub.sinkhole.test. 3600 IN DS 12345 13 2 2bb183af5f22588179a53b0a98631fad1a292118e8a5a3f6c9a3c7e0d1b4d0f1"}


# -- ANY (RFC 8482) ------------------------------------------------------------------------------

APEX_RRSETS = {"SOA", "NS", "A", "AAAA", "MX", "TXT"}


def test_any_one_rrset(server, via):
    r = query(server, via, "sinkhole.test", "ANY")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r)
    assert len(r.answer) == 1, f"RFC 8482: one RRset, not the whole node: {r.answer}"
    (rrset,) = r.answer
    assert dns.rdatatype.to_text(rrset.rdtype) in APEX_RRSETS
    # the RRset returned is the real one, complete
    full = query(server, via, "sinkhole.test", dns.rdatatype.to_text(rrset.rdtype))
    assert rrset_texts(r.answer) == rrset_texts(full.answer)


def test_any_variants(server, via):
    r = query(server, via, "www.sinkhole.test", "ANY")
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
    r = query(server, via, "nosuch.sinkhole.test", "ANY")
    assert len(r.answer) == 1 and r.answer[0].name == dns.name.from_text("nosuch.sinkhole.test")
    assert dns.rdatatype.to_text(r.answer[0].rdtype) in {"A", "AAAA", "TXT"}
    assert_negative(query(server, via, "c.sinkhole.test", "ANY"), "NOERROR", SOA_SINK)
    assert_negative(query(server, via, "nothere.other.test", "ANY"), "NXDOMAIN", SOA_OTHER)
    r = query(server, via, "cname1.sinkhole.test", "ANY")
    assert "cname1.sinkhole.test. 3600 IN CNAME cname2.sinkhole.test." in rrset_texts(r.answer)
    assert_aa(r)


# -- EDNS (RFC 6891, 5001, 7871, 3225) -----------------------------------------------------------

def test_edns_opt_echoed(server, via):
    r = query(server, via, "www.sinkhole.test", "A", edns=True, payload=4096)
    assert r.edns == 0, "OPT must be in the reply to an EDNS query"
    assert r.payload == 1232
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
    r = query(server, via, "www.sinkhole.test", "A")
    assert r.edns < 0, "no OPT in the reply to a query without one (RFC 6891 7)"


def test_edns_do_bit_copied(server, via):
    r = query(server, via, "www.sinkhole.test", "A", do=True)
    assert r.ednsflags & dns.flags.DO, "DO must be copied (RFC 3225 3)"
    r = query(server, via, "www.sinkhole.test", "A", edns=True)
    assert not r.ednsflags & dns.flags.DO


def test_edns_on_negative_and_refused(server, via):
    for name, rc in (("nothere.other.test", "NXDOMAIN"), ("www.example.com", "REFUSED")):
        r = query(server, via, name, "A", edns=True)
        assert rcode_name(r) == rc
        assert r.edns == 0 and r.payload == 1232


def test_edns_small_payload_means_512(server, family):
    """RFC 6891 6.2.5: a payload below 512 is treated as 512."""
    q = sk.make_query("x.sub.sinkhole.test", "A", edns=True, payload=100)
    reply = sk.ask_raw_udp(server, q.to_wire(), family)
    assert 100 < len(reply) <= 512, "a referral of ~170 bytes must not be cut to 100"
    r = dns.message.from_wire(reply)
    assert not r.flags & dns.flags.TC
    assert rrset_texts(r.additional) == REFERRAL_GLUE
    reply = sk.ask_raw_udp(server, sk.make_query("big.sinkhole.test", "TXT", edns=True, payload=100).to_wire(),
                           family)
    assert len(reply) <= 512
    assert dns.message.from_wire(reply).flags & dns.flags.TC


def test_edns_z_bits_not_echoed(server, via):
    """RFC 6891 6.1.4: Z is set to zero by senders, ignored by receivers."""
    r = query(server, via, "www.sinkhole.test", "A", edns=True, ednsflags=0x7fff)
    assert r.edns == 0
    assert r.ednsflags & 0x7fff == 0, hex(r.ednsflags)


def test_edns_badvers(server, via):
    transport, family = via
    wire = sk.raw_query("www.sinkhole.test", qid=0x5151, opt=sk.opt_rr(version=1))
    reply = sk.ask_raw(server, wire, transport, family)
    assert reply is not None
    r = dns.message.from_wire(reply)
    assert r.id == 0x5151
    assert r.rcode() == dns.rcode.BADVERS, f"got {rcode_name(r)}"
    assert r.edns == 0, "BADVERS reply carries an OPT with the version we support (0)"
    assert r.answer == []


def test_edns_unknown_option_ignored(server, via):
    opt = dns.edns.GenericOption(65001, b"\xab\xcd")
    r = query(server, via, "www.sinkhole.test", "A", options=[opt])
    assert rcode_name(r) == "NOERROR"
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
    assert r.edns == 0
    assert sk.get_option(r, 65001) is None, "unknown options are not echoed"


def test_edns_nsid(server, via):
    r = query(server, via, "www.sinkhole.test", "A", options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    o = sk.get_option(r, dns.edns.NSID)
    assert o is not None, "NSID asked, none in reply (RFC 5001)"
    assert sk.option_bytes(o) == sk.IDENTITY.encode()
    r = query(server, via, "www.sinkhole.test", "A", edns=True)
    assert sk.get_option(r, dns.edns.NSID) is None, "NSID only when asked"


@pytest.mark.parametrize("addr,srclen", [("192.0.2.0", 24), ("198.51.100.128", 25), ("2001:db8:1200::", 40),
                                         ("0.0.0.0", 0)])
def test_edns_ecs_echoed(server, via, addr, srclen):
    ecs = dns.edns.ECSOption(addr, srclen, 0)
    r = query(server, via, "www.sinkhole.test", "A", options=[ecs])
    assert rcode_name(r) == "NOERROR"
    o = sk.get_option(r, dns.edns.ECS)
    assert o is not None, "ECS not echoed (RFC 7871 7.2.1)"
    assert o.family == ecs.family and o.srclen == srclen and o.address == ecs.address
    assert o.scopelen == 0, "scope must be 0: the answer does not depend on the client subnet"


@pytest.mark.parametrize("desc,data", [
    ("address longer than source prefix", struct.pack("!HBB", 1, 24, 0) + bytes([192, 0, 2, 0])),
    ("bits set past source prefix", struct.pack("!HBB", 1, 20, 0) + bytes([192, 0, 255])),
    ("unknown family", struct.pack("!HBB", 3, 8, 0) + b"\x01"),
    ("source prefix > 32 for IPv4", struct.pack("!HBB", 1, 33, 0) + bytes(5)),
    ("too short", b"\x00\x01"),
    ("source prefix > 128 for IPv6", struct.pack("!HBB", 2, 129, 0) + bytes(17)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_edns_ecs_malformed_formerr(server, via, desc, data):
    """RFC 7871 6 and 7.1.2: a malformed ECS option is answered with FORMERR."""
    transport, family = via
    opt = sk.opt_rr(rdata=sk.edns_option(8, data))
    reply = sk.ask_raw(server, sk.raw_query("www.sinkhole.test", qid=0x0ec5, opt=opt), transport, family)
    assert reply is not None
    h = sk.parse_header(reply)
    assert h["id"] == 0x0ec5 and h["qr"]
    assert h["rcode"] == dns.rcode.FORMERR, desc


@pytest.mark.parametrize("desc,opt", [
    ("option length past the RDATA", sk.opt_rr(rdata=sk.edns_option(10, b"", length=8))),
    ("RDLENGTH past the message", sk.opt_rr(rdata=b"", rdlen=20)),
    ("two OPT RRs", sk.opt_rr() + sk.opt_rr()),
    ("half an option header", sk.opt_rr(rdata=b"\x00\x0a\x00")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_edns_malformed_formerr(server, via, desc, opt):
    transport, family = via
    nar = 2 if desc == "two OPT RRs" else 1
    wire = sk.header(0x0bad, 0, 1, 0, 0, nar) + sk.question("www.sinkhole.test") + opt
    reply = sk.ask_raw(server, wire, transport, family)
    assert reply is not None, f"{desc}: no answer"
    h = sk.parse_header(reply)
    assert h["id"] == 0x0bad and h["qr"]
    assert h["rcode"] == dns.rcode.FORMERR, f"{desc}: rcode {h['rcode']}"


def test_edns_cookie_does_not_break(server, via):
    """RFC 7873: a client cookie is either ignored or echoed in the first 8 bytes."""
    cookie = bytes(range(1, 9))
    r = query(server, via, "www.sinkhole.test", "A", options=[dns.edns.GenericOption(10, cookie)])
    assert rcode_name(r) == "NOERROR"
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
    o = sk.get_option(r, 10)
    if o is not None:
        data = sk.option_bytes(o)
        assert data[:8] == cookie and len(data) in range(16, 41)


def test_large_padded_query(server, via):
    """A query bigger than 512 bytes (EDNS padding, RFC 7830) is read whole and answered."""
    pad = dns.edns.GenericOption(12, bytes(1200))
    r = query(server, via, "www.sinkhole.test", "A", options=[pad], payload=4096)
    assert rcode_name(r) == "NOERROR"
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}


@pytest.mark.parametrize("size", [4096, 65000])
def test_oversized_datagram(server, family, size):
    """A valid query followed by kilobytes of junk: FORMERR or an answer, never a crash."""
    wire = sk.raw_query("www.sinkhole.test", qid=0x6565) + bytes(size)
    reply = sk.ask_raw_udp(server, wire, family, timeout=1.0)
    if reply is not None:
        h = sk.parse_header(reply)
        assert h["id"] == 0x6565 and h["qr"]
        assert h["rcode"] in (dns.rcode.NOERROR, dns.rcode.FORMERR)
    assert server.alive()
    r = sk.ask(server, sk.make_query("www.sinkhole.test", "A"), "udp", family)
    assert rcode_name(r) == "NOERROR"


# -- truncation (RFC 1035 4.2.1, RFC 6891 7, RFC 7766) -------------------------------------------

BIG_TXT = {f'big.sinkhole.test. 3600 IN TXT "chunk{i}-{"x" * 150}"' for i in range(6)}
HUGE_TXT = {f'huge.sinkhole.test. 3600 IN TXT "part{i:02d}-{"y" * 180}"' for i in range(12)}


def test_truncation_udp_without_edns(server, family):
    q = sk.make_query("big.sinkhole.test", "TXT")
    reply = sk.ask_raw_udp(server, q.to_wire(), family)
    assert reply is not None
    assert len(reply) <= 512
    r = dns.message.from_wire(reply)
    assert r.flags & dns.flags.TC, "answer > 512 bytes without EDNS must set TC"
    assert_aa(r)
    assert rrset_texts(r.answer) <= BIG_TXT, "no foreign data"


def test_truncation_udp_small_edns(server, family):
    q = sk.make_query("big.sinkhole.test", "TXT", edns=True, payload=512)
    reply = sk.ask_raw_udp(server, q.to_wire(), family)
    assert reply is not None and len(reply) <= 512
    r = dns.message.from_wire(reply)
    assert r.flags & dns.flags.TC
    assert r.edns == 0


def test_no_truncation_when_it_fits(server, family):
    q = sk.make_query("big.sinkhole.test", "TXT", edns=True, payload=1232)
    r = sk.ask(server, q, "udp", family)
    assert not r.flags & dns.flags.TC
    assert rrset_texts(r.answer) == BIG_TXT


def test_truncation_server_limit(server, family):
    """The client offers 4096 but we configured 1232 (default): the reply stays within 1232."""
    q = sk.make_query("huge.sinkhole.test", "TXT", edns=True, payload=4096)
    reply = sk.ask_raw_udp(server, q.to_wire(), family)
    assert reply is not None and len(reply) <= 1232
    assert dns.message.from_wire(reply).flags & dns.flags.TC


@pytest.mark.parametrize("name,expected", [("big.sinkhole.test", BIG_TXT), ("huge.sinkhole.test", HUGE_TXT)])
def test_tcp_is_complete(server, family, name, expected):
    r = sk.ask(server, sk.make_query(name, "TXT"), "tcp", family)
    assert not r.flags & dns.flags.TC
    assert rrset_texts(r.answer) == expected


# -- opcodes, QDCOUNT, drops -------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [1, 2, 3, 5, 6, 15], ids=["IQUERY", "STATUS", "op3", "UPDATE", "DSO", "op15"])
def test_opcode_notimp(server, via, opcode):
    transport, family = via
    wire = sk.raw_query("sinkhole.test", 6, 1, qid=0x0e0e, flags=opcode << 11)
    reply = sk.ask_raw(server, wire, transport, family)
    assert reply is not None
    h = sk.parse_header(reply)
    assert h["id"] == 0x0e0e and h["qr"]
    assert h["opcode"] == opcode
    assert h["rcode"] == dns.rcode.NOTIMP, f"opcode {opcode}: rcode {h['rcode']}"
    assert h["an"] == 0


def test_opcode_notify(server, via):
    transport, family = via
    wire = sk.raw_query("sinkhole.test", 6, 1, qid=0x0f0f, flags=(4 << 11) | 0x0400)
    reply = sk.ask_raw(server, wire, transport, family)
    assert reply is not None
    h = sk.parse_header(reply)
    assert h["id"] == 0x0f0f and h["qr"] and h["opcode"] == 4
    assert h["rcode"] in (dns.rcode.NOTAUTH, dns.rcode.REFUSED), f"NOTIFY: rcode {h['rcode']}"


@pytest.mark.parametrize("desc,wire", [
    ("QDCOUNT 0", sk.header(0x0d0d, 0, 0)),
    ("QDCOUNT 2", sk.header(0x0d0d, 0, 2) + sk.question("www.sinkhole.test") + sk.question("sinkhole.test")),
    ("QDCOUNT 2, one present", sk.header(0x0d0d, 0, 2) + sk.question("www.sinkhole.test")),
    ("question cut short", sk.header(0x0d0d, 0, 1) + sk.question("www.sinkhole.test")[:-2]),
    ("compressed qname", sk.header(0x0d0d, 0, 1) + b"\xc0\x0c" + b"\x00\x01\x00\x01"),
    ("label past the end", sk.header(0x0d0d, 0, 1) + b"\x3fabc"),
    ("name of 257 bytes", sk.header(0x0d0d, 0, 1) + b"\x01a" * 121 + sk.wire_name("sinkhole.test")
     + b"\x00\x01\x00\x01"),
    ("label type 0x40", sk.header(0x0d0d, 0, 1) + b"\x41" + b"a" * 1 + b"\x00\x00\x01\x00\x01"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_formerr(server, via, desc, wire):
    transport, family = via
    reply = sk.ask_raw(server, wire, transport, family)
    assert reply is not None, f"{desc}: no answer"
    h = sk.parse_header(reply)
    assert h["id"] == 0x0d0d and h["qr"]
    assert h["rcode"] == dns.rcode.FORMERR, f"{desc}: rcode {h['rcode']}"
    assert h["an"] == 0


@pytest.mark.parametrize("desc,wire", [
    ("QR set", sk.raw_query("www.sinkhole.test", qid=0x0a0a, flags=0x8000)),
    ("11 bytes", sk.raw_query("www.sinkhole.test", qid=0x0a0a)[:11]),
    ("2 bytes", b"\x0a\x0a"),
    ("empty", b""),
], ids=lambda v: v if isinstance(v, str) else "")
def test_dropped_without_answer(server, family, desc, wire):
    assert sk.ask_raw_udp(server, wire, family, timeout=0.3) is None, f"{desc}: got an answer"
    r = sk.ask(server, sk.make_query("www.sinkhole.test", "A"), "udp", family)
    assert rrset_texts(r.answer) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}


def test_dropped_over_tcp(server, family):
    """A QR-set frame gets no reply; the connection may be closed or keep serving."""
    bad = sk.raw_query("www.sinkhole.test", qid=0x0a0b, flags=0x8000)
    good = sk.make_query("www.sinkhole.test", "A", qid=0x0a0c)
    with sk.tcp_connect(server, family) as s:
        s.sendall(sk.frame(bad) + sk.frame(good.to_wire()))
        try:
            reply = sk.recv_frame(s, 2.0)
        except (EOFError, ConnectionResetError):
            reply = None
        if reply is not None:
            assert sk.parse_header(reply)["id"] == 0x0a0c, "the QR-set frame was answered"
    r = sk.ask(server, sk.make_query("www.sinkhole.test", "A"), "tcp", family)
    assert rcode_name(r) == "NOERROR"


# -- CHAOS (RFC 4892) ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["id.server", "hostname.bind", "ID.Server"])
def test_chaos_identity(server, via, name):
    r = query(server, via, name, "TXT", "CH")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r, False)
    (rrset,) = r.answer
    assert rrset.rdclass == dns.rdataclass.CH and rrset.rdtype == dns.rdatatype.TXT
    assert [s for rd in rrset for s in rd.strings] == [sk.IDENTITY.encode()]


@pytest.mark.parametrize("name", ["version.bind", "version.server"])
def test_chaos_version(server, via, name):
    r = query(server, via, name, "TXT", "CH")
    assert rcode_name(r) == "NOERROR"
    assert_aa(r, False)
    (rrset,) = r.answer
    (txt,) = [s for rd in rrset for s in rd.strings]
    assert re.fullmatch(rb"sinkholed \d+\.\d+\.\d+.*", txt), txt


def test_chaos_other_name_not_answered(server, via):
    r = query(server, via, "authors.bind", "TXT", "CH")
    assert r.answer == []
    assert rcode_name(r) in ("REFUSED", "NXDOMAIN", "NOTIMP")


# -- zone transfers ----------------------------------------------------------------------------

@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
def test_xfr_udp_notimp(server, family, qtype):
    q = sk.make_query("sinkhole.test", qtype)
    reply = sk.ask_raw_udp(server, q.to_wire(), family)
    assert reply is not None
    h = sk.parse_header(reply)
    assert h["id"] == q.id and h["rcode"] == dns.rcode.NOTIMP, f"rcode {h['rcode']}"


@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
def test_xfr_tcp_refused(server, family, qtype):
    q = sk.make_query("sinkhole.test", qtype)
    if qtype == "IXFR":
        q.authority.append(dns.rrset.from_text("sinkhole.test.", 0, "IN", "SOA",
                                               ". . 2024010100 0 0 0 0"))
        q.to_wire()
    reply = sk.ask_raw_tcp(server, q.to_wire(), family)
    assert reply is not None
    h = sk.parse_header(reply)
    assert h["id"] == q.id and h["rcode"] == dns.rcode.REFUSED, f"rcode {h['rcode']}"
    assert h["an"] == 0, "no zone contents"


# -- compression (RFC 1035 4.1.4) ----------------------------------------------------------------

def test_name_compression(server, via):
    transport, family = via
    q = sk.make_query("sinkhole.test", "MX")
    reply = sk.ask_raw(server, q.to_wire(), transport, family)
    assert reply is not None
    qlen = len(sk.question("sinkhole.test"))
    # the answer's owner is a pointer to the question name at offset 12
    assert reply[12 + qlen:12 + qlen + 2] == b"\xc0\x0c", "answer owner not compressed"
    # the exchange mail.sinkhole.test is 'mail' + pointer
    assert b"\x04mail\xc0\x0c" in reply, "MX exchange not compressed"
    q = sk.make_query("sinkhole.test", "NS")
    reply = sk.ask_raw(server, q.to_wire(), transport, family)
    # ns9.operator.test / ns10.operator.test share operator.test: the second is 'ns10' + pointer
    assert re.search(rb"\x04ns10[\xc0-\xff]", reply, re.I), "NS names not compressed"
    assert len(reply) < len(q.to_wire()) + 2 * (12 + len(sk.wire_name("ns10.operator.test"))), \
        "reply larger than with compressed owners"


def rdata_of_first_answer(reply):
    """Raw RDATA bytes of the first answer record (its owner may be a pointer)."""
    m = dns.message.from_wire(reply)
    pos = 12 + len(m.question[0].name.to_wire()) + 4
    while reply[pos] and reply[pos] < 0xc0:
        pos += reply[pos] + 1
    pos += 2 if reply[pos] >= 0xc0 else 1
    rdlen = struct.unpack("!H", reply[pos + 8:pos + 10])[0]
    return reply[pos + 10:pos + 10 + rdlen]


@pytest.mark.parametrize("name,qtype,tail", [
    ("_sip._tcp.sinkhole.test", "SRV", sk.wire_name("www.sinkhole.test")),
    ("rp.sinkhole.test", "RP", sk.wire_name("www.sinkhole.test")),
    ("naptr.sinkhole.test", "NAPTR", sk.wire_name("_sip._udp.sinkhole.test")),
])
def test_no_compression_in_new_rdata(server, via, name, qtype, tail):
    """RFC 3597 4 (and RFC 2782 for SRV): names inside RDATA of types newer than RFC 1035 are never
    compressed, or old resolvers cannot read them."""
    transport, family = via
    reply = sk.ask_raw(server, sk.make_query(name, qtype).to_wire(), transport, family)
    rdata = rdata_of_first_answer(reply)
    assert rdata.endswith(tail), f"{qtype} RDATA compressed: {rdata.hex()}"
    assert rrset_texts(dns.message.from_wire(reply).answer)


def test_compression_in_ptr_rdata(server, via):
    transport, family = via
    reply = sk.ask_raw(server, sk.make_query("ptr.sinkhole.test", "PTR").to_wire(), transport, family)
    assert rdata_of_first_answer(reply) == b"\x03www\xc0\x10", "PTR target not compressed"
    assert rrset_texts(dns.message.from_wire(reply).answer) == {
        "ptr.sinkhole.test. 3600 IN PTR www.sinkhole.test."}


def test_opaque_type(server, via):
    r = query(server, via, "opaque.sinkhole.test", "TYPE65280")
    assert rrset_texts(r.answer) == {"opaque.sinkhole.test. 3600 IN TYPE65280 \\# 4 0a0b0c0d"}


# -- the bundled example zone ------------------------------------------------------------------

def test_example_zone(make_server):
    zf = sk.REPO / "zones" / "aitism.net.zone"
    if not zf.exists():
        pytest.skip("zones/aitism.net.zone not in the tree yet")
    import dns.zone
    z = dns.zone.from_file(str(zf), relativize=False)
    origin = z.origin
    apex_a = {rd.to_text() for rd in z.get_rdataset(origin, "A") or []}
    apex_ns = {rd.to_text().lower() for rd in z.get_rdataset(origin, "NS")}
    srv = make_server(zones=[(str(zf), None, {"case": "1:24-cv-2323"})], zone_files=[])
    for name in (origin, dns.name.from_text("www", origin), dns.name.from_text("x7k.qq", origin)):
        r = sk.ask(srv, sk.make_query(name, "A"))
        assert rcode_name(r) == "NOERROR"
        assert_aa(r)
        assert {rd.to_text() for rr in r.answer for rd in rr if rr.rdtype == dns.rdatatype.A} == apex_a \
            or any(rr.rdtype == dns.rdatatype.CNAME for rr in r.answer), name
    r = sk.ask(srv, sk.make_query(origin, "NS"))
    assert {rd.to_text().lower() for rr in r.answer for rd in rr} == apex_ns
    assert any("ns9" in n for n in apex_ns) and any("ns10" in n for n in apex_ns)
    # mixed case as a 0x20 resolver sends it
    mixed = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate("www." + origin.to_text()))
    r = sk.ask(srv, sk.make_query(mixed, "A"))
    assert rcode_name(r) == "NOERROR" and r.answer


# -- a server with its own settings ------------------------------------------------------------

@pytest.fixture(scope="module")
def custom_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("custom")
    sk.copy_zones(d)
    srv = sk.SinkServer(d, version=False, edns_size=4096, identity="other-node.example")
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


@pytest.mark.parametrize("name", ["version.bind", "version.server"])
def test_version_hidden_refused(custom_server, via, name):
    r = query(custom_server, via, name, "TXT", "CH")
    assert rcode_name(r) == "REFUSED"
    assert r.answer == []


def test_identity_configured(custom_server, via):
    r = query(custom_server, via, "id.server", "TXT", "CH")
    assert [s for rr in r.answer for rd in rr for s in rd.strings] == [b"other-node.example"]
    r = query(custom_server, via, "www.sinkhole.test", "A", options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    assert sk.option_bytes(sk.get_option(r, dns.edns.NSID)) == b"other-node.example"


def test_edns_size_configured(custom_server, family):
    r = sk.ask(custom_server, sk.make_query("www.sinkhole.test", "A", edns=True), "udp", family)
    assert r.payload == 4096
    # the client offers 4096 and so do we: the 2.4 KB RRset comes whole over UDP
    r = sk.ask(custom_server, sk.make_query("huge.sinkhole.test", "TXT", edns=True, payload=4096), "udp", family)
    assert not r.flags & dns.flags.TC
    assert rrset_texts(r.answer) == HUGE_TXT
    # the client offers only 1232: it gets TC
    reply = sk.ask_raw_udp(custom_server, sk.make_query("huge.sinkhole.test", "TXT", edns=True,
                                                        payload=1232).to_wire(), family)
    assert len(reply) <= 1232 and dns.message.from_wire(reply).flags & dns.flags.TC


def test_version_configured_string(make_server):
    srv = make_server(version="sinkholed 0.1.0-test build 7")
    r = sk.ask(srv, sk.make_query("version.bind", "TXT", "CH"))
    assert [s for rr in r.answer for rd in rr for s in rd.strings] == [b"sinkholed 0.1.0-test build 7"]


def test_identity_defaults_to_hostname(make_server):
    import socket
    srv = make_server(identity=None)
    r = sk.ask(srv, sk.make_query("id.server", "TXT", "CH"))
    assert [s for rr in r.answer for rd in rr for s in rd.strings] == [socket.gethostname().encode()]
