"""test_clients -- the server as real command-line clients see it: kdig (Knot), dig (BIND), drill (ldns).
Each output is parsed for the status, the header flags and the answer section."""
import re
import shutil
import subprocess

import pytest

import skhelpers as sk


def run(cmd, timeout=15):
    if not shutil.which(cmd[0]):
        pytest.fail(f"{cmd[0]} not installed", pytrace=False)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.stdout + p.stderr


def parse(out):
    """{'status', 'flags' (set), 'answer'/'authority'/'additional' (lists of 'name ttl class type rdata')}"""
    m = re.search(r"(?:status|rcode): ([A-Z]+)", out)
    f = re.search(r";; [Ff]lags: ([a-z ]*?)\s*;", out)
    res = {"status": m.group(1) if m else None, "flags": set(f.group(1).split()) if f else set(),
           "answer": [], "authority": [], "additional": []}
    section = None
    for line in out.splitlines():
        h = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
        if h:
            section = h.group(1).lower()
            continue
        if line.startswith(";;"):      # any other ';;' line ends a section
            section = None
            continue
        if line.startswith(";") or not line.strip():
            continue
        if section:
            res[section].append(" ".join(line.split()))
    return res


def kdig(srv, *args, family=4):
    return parse(run(["kdig", f"@{srv.addr(family)}", "-p", str(srv.port), "+norec", "+time=2",
                      "+retry=0", *args]))


def dig(srv, *args, family=4):
    return parse(run(["dig", f"@{srv.addr(family)}", "-p", str(srv.port), "+norec", "+time=2",
                      "+tries=1", *args]))


def drill(srv, *args, family=4):
    return parse(run(["drill", "-p", str(srv.port), f"@{srv.addr(family)}", *args]))


WWW = "www.sinkhole.test. 3600 IN A 192.0.2.80"


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_kdig_positive(server, family, tcp):
    r = kdig(server, "www.sinkhole.test", "A", *(["+tcp"] if tcp else []), family=family)
    assert r["status"] == "NOERROR"
    assert r["flags"] == {"qr", "aa"}
    assert r["answer"] == [WWW]


def test_kdig_nxdomain_soa(server):
    r = kdig(server, "nothere.other.test", "A")
    assert r["status"] == "NXDOMAIN" and "aa" in r["flags"]
    assert r["answer"] == []
    assert r["authority"] == ["other.test. 60 IN SOA ns9.operator.test. hostmaster.operator.test. "
                              "7 7200 3600 1209600 600"]


def test_kdig_nsid_and_subnet(server):
    out = run(["kdig", "@127.0.0.1", "-p", str(server.port), "+norec", "+time=2", "+retry=0", "+nsid",
               "+subnet=192.0.2.0/24", "www.sinkhole.test", "A"])
    assert re.search(rf'NSID: [0-9A-Fa-f]+ "{re.escape(sk.IDENTITY)}"', out), out
    assert re.search(r"CLIENT-SUBNET: 192\.0\.2\.0/24/0", out), out
    assert parse(out)["answer"] == [WWW]


def test_kdig_truncation_fallback(server):
    r = kdig(server, "big.sinkhole.test", "TXT", "+noedns", "+ignore")
    assert "tc" in r["flags"], "no TC on a >512 byte UDP answer without EDNS"
    r = kdig(server, "big.sinkhole.test", "TXT", "+noedns")  # kdig retries over TCP on TC
    assert r["status"] == "NOERROR" and "tc" not in r["flags"]
    assert len(r["answer"]) == 6


def test_dig_positive_and_flags(server, family):
    r = dig(server, "www.sinkhole.test", "A", family=family)
    assert r["status"] == "NOERROR"
    assert r["flags"] == {"qr", "aa"}, "RD not asked, RA never set"
    assert r["answer"] == [WWW]
    r = dig(server, "+rec", "www.sinkhole.test", "A", family=family)
    assert r["flags"] == {"qr", "aa", "rd"}


def test_dig_referral(server):
    r = dig(server, "+tcp", "host.sub.sinkhole.test", "A")
    assert r["status"] == "NOERROR"
    assert "aa" not in r["flags"]
    assert sorted(r["authority"]) == ["sub.sinkhole.test. 3600 IN NS ns1.sub.sinkhole.test.",
                                      "sub.sinkhole.test. 3600 IN NS ns2.sub.sinkhole.test."]
    assert "ns2.sub.sinkhole.test. 3600 IN A 192.0.2.102" in r["additional"]


def test_dig_chaos(server):
    r = dig(server, "version.bind", "TXT", "CH")
    assert r["status"] == "NOERROR" and "aa" not in r["flags"]
    assert len(r["answer"]) == 1 and re.search(r'CH TXT "sinkholed \d', r["answer"][0]), r["answer"]
    r = dig(server, "id.server", "TXT", "CH")
    assert r["answer"] and r["answer"][0].endswith(f'CH TXT "{sk.IDENTITY}"')


def test_dig_refused(server):
    r = dig(server, "www.example.com", "A")
    assert r["status"] == "REFUSED" and "aa" not in r["flags"]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_drill_positive(server, tcp):
    r = drill(server, *(["-t"] if tcp else []), "www.sinkhole.test", "A")
    assert r["status"] == "NOERROR"
    assert {"qr", "aa"} <= r["flags"] and "ra" not in r["flags"]
    assert r["answer"] == [WWW]


def test_drill_wildcard_cname(server):
    r = drill(server, "Some.WC.sinkhole.test", "A")
    assert r["status"] == "NOERROR"
    assert sorted(a.lower() for a in r["answer"]) == sorted([
        "some.wc.sinkhole.test. 3600 in cname www.sinkhole.test.", WWW.lower()])


def test_drill_nodata(server):
    r = drill(server, "c.sinkhole.test", "A")
    assert r["status"] == "NOERROR" and r["answer"] == []
    assert len(r["authority"]) == 1 and " 300 IN SOA " in r["authority"][0]
