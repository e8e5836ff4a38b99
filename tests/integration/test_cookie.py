"""test_cookie -- DNS cookies (RFC 7873) with RFC 9018 server cookies, from real clients.

dig and kdig with +cookie, dnspython with EDNS option 10. Whether a server cookie verified is
seen from outside through `cookies.require` (a valid one is answered over UDP, any other gets
BADCOOKIE), through the cookie coming back unchanged (a fresh valid one is reused), and through
the telemetry record's `cookie_state`.
"""
import re
import subprocess
import time

import dns.edns
import dns.message
import dns.rcode
import pytest

import skhelpers as sk
import tmhelpers as tm

COOKIE = 10
BADCOOKIE = 23
CLIENT = bytes.fromhex("0102030405060708")
SECRET_A = "e5e973e5a6b2a43f48e7dc849e37bfcf"
SECRET_B = "445536bcd2513298075a5d379663c962"


def cookies_yaml(**kw):
    """A `cookies:` section from keyword arguments (previous: a list of secrets)."""
    lines = ["cookies:"]
    for k, v in kw.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list):
            v = "[" + ", ".join(f'"{x}"' for x in v) + "]"
        lines.append(f"  {k}: {v}")
    return "\n".join(lines) + "\n"


def cookie_of(r):
    """The COOKIE option's bytes in a dnspython reply, or None."""
    for o in r.options:
        if int(o.otype) == COOKIE:
            return bytes(o.data) if hasattr(o, "data") else o.to_wire()
    return None


def ask(srv, cookie, transport="udp", family=4, name="www.sinkhole.test"):
    q = sk.make_query(name, "A", options=[dns.edns.GenericOption(COOKIE, cookie)] if cookie is not None else None,
                      edns=True)
    r = sk.ask(srv, q, transport, family)
    assert r.id == q.id
    return r


def answered(r):
    """NOERROR with the wildcard-free www answer."""
    return r.rcode() == dns.rcode.NOERROR and any(rr.rdtype == 1 for rr in r.answer)


def corrupt(cookie):
    """The same cookie with one bit of its hash flipped."""
    b = bytearray(cookie)
    b[-1] ^= 0x01
    return bytes(b)


# -- dnspython -------------------------------------------------------------------------------

def test_dnspython_round_trip(server, via):
    transport, family = via
    r = ask(server, CLIENT, transport, family)
    assert answered(r)
    c = cookie_of(r)
    assert c is not None and len(c) == 24, f"a client cookie gets an 8+16 byte cookie back: {c!r}"
    assert c[:8] == CLIENT, "the client cookie is echoed"
    assert c[8] == 1 and c[9:12] == b"\0\0\0", "RFC 9018 version 1, reserved bytes zero"
    assert abs(int.from_bytes(c[12:16], "big") - time.time()) < 300, "timestamp is the server's clock"

    r = ask(server, c, transport, family)
    assert answered(r)
    assert cookie_of(r) == c, "a fresh valid cookie comes back unchanged"

    r = ask(server, corrupt(c), transport, family)
    assert answered(r), "a cookie that does not verify is not an error (cookies not required)"
    fresh = cookie_of(r)
    assert fresh is not None and fresh[:8] == CLIENT and fresh != corrupt(c), \
        "a bad server cookie is replaced by a fresh one"


def test_cookie_is_per_client_address(server):
    """The cookie covers the client address: one from 127.0.0.1 is bad from ::1 (and IPv4 is
    checked against IPv6 with the hash, not a table)."""
    if not sk.have_ipv6():
        pytest.skip("IPv6 unavailable")
    c4 = cookie_of(ask(server, CLIENT, "udp", 4))
    c6 = cookie_of(ask(server, CLIENT, "udp", 6))
    assert c4[8:] != c6[8:] or c4[12:16] != c6[12:16]
    r = ask(server, c4, "udp", 6)
    assert cookie_of(r) != c4, "a cookie made for 127.0.0.1 is not valid from ::1"


@pytest.mark.parametrize("length", [1, 7, 9, 15, 41])
def test_malformed_length_is_formerr(server, transport, length):
    r = ask(server, bytes(range(length)), transport)
    assert r.rcode() == dns.rcode.FORMERR, f"a {length}-byte COOKIE: {dns.rcode.to_text(r.rcode())}"


@pytest.mark.parametrize("length", [8, 16, 24, 40])
def test_well_formed_lengths_are_answered(server, length):
    r = ask(server, bytes(range(1, length + 1)))
    assert answered(r)
    assert cookie_of(r)[:8] == bytes(range(1, 9))


def test_query_without_question(server, transport):
    """RFC 7873 s5.4: QDCOUNT 0 and a COOKIE: NOERROR with just the cookie; with a server cookie
    that does not verify, BADCOOKIE."""
    wire = sk.header(qd=0, ar=1) + sk.opt_rr(rdata=sk.edns_option(COOKIE, CLIENT))
    reply = sk.ask_raw(server, wire, transport)
    assert reply is not None
    r = dns.message.from_wire(reply)
    assert r.rcode() == dns.rcode.NOERROR and not r.question and not r.answer
    c = cookie_of(r)
    assert c is not None and len(c) == 24 and c[:8] == CLIENT
    wire = sk.header(qd=0, ar=1) + sk.opt_rr(rdata=sk.edns_option(COOKIE, corrupt(c)))
    r = dns.message.from_wire(sk.ask_raw(server, wire, transport))
    assert r.rcode() == BADCOOKIE, dns.rcode.to_text(r.rcode())
    assert cookie_of(r)[:8] == CLIENT
    no_cookie = sk.header(qd=0, ar=1) + sk.opt_rr()
    r = dns.message.from_wire(sk.ask_raw(server, no_cookie, transport))
    assert r.rcode() == dns.rcode.FORMERR, "no question and no cookie stays malformed"


# -- dig and kdig ----------------------------------------------------------------------------

DIG_COOKIE = re.compile(r"^; COOKIE: ([0-9a-f]+)(?: \((\w+)\))?", re.M)
KDIG_COOKIE = re.compile(r"^;; COOKIE: ([0-9A-Fa-f]+)", re.M)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, f"{cmd}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def dig(srv, *opts, transport="udp"):
    cmd = ["dig", "@" + sk.V4, "-p", str(srv.port), "+tries=1", "+time=2"]
    if transport == "tcp":
        cmd.append("+tcp")
    return run(cmd + list(opts) + ["www.sinkhole.test", "A"])


def kdig(srv, *opts):
    return run(["kdig", "@" + sk.V4, "-p", str(srv.port), "+retry=0", "+timeout=2", *opts,
                "www.sinkhole.test", "A"])


def test_dig_cookie(server, transport):
    out = dig(server, "+cookie", transport=transport)
    assert "status: NOERROR" in out
    m = DIG_COOKIE.search(out)
    assert m, f"dig shows no COOKIE:\n{out}"
    first = m.group(1)
    assert len(first) == 48 and m.group(2) == "good", f"dig: {m.group(0)}"
    out = dig(server, f"+cookie={first}", transport=transport)
    m = DIG_COOKIE.search(out)
    assert "status: NOERROR" in out and m and m.group(2) == "good", out
    assert m.group(1) == first, "the server cookie dig sent back was accepted and returned as it was"
    bad = first[:-2] + ("00" if first[-2:] != "00" else "11")
    out = dig(server, f"+cookie={bad}", transport=transport)
    m = DIG_COOKIE.search(out)
    assert "status: NOERROR" in out and "ANSWER SECTION" in out, "a corrupted cookie is answered"
    assert m and m.group(1)[:16] == first[:16] and m.group(1) != bad, "with a fresh server cookie"


def test_kdig_cookie(server):
    out = kdig(server, "+cookie")
    m = KDIG_COOKIE.search(out)
    assert "status: NOERROR" in out and m, out
    first = m.group(1).lower()
    assert len(first) == 48
    out = kdig(server, f"+cookie={first}")
    m = KDIG_COOKIE.search(out)
    assert "status: NOERROR" in out and m and m.group(1).lower() == first, out


# -- cookies.require -------------------------------------------------------------------------

def test_require_udp_badcookie_tcp_answered(make_server):
    srv = make_server(extra=cookies_yaml(require=True))
    r = ask(srv, CLIENT, "udp")
    assert r.rcode() == BADCOOKIE, f"client cookie only over UDP: {dns.rcode.to_text(r.rcode())}"
    assert not r.answer and r.question, "BADCOOKIE: the question, no answer"
    c = cookie_of(r)
    assert c is not None and len(c) == 24 and c[:8] == CLIENT, "BADCOOKIE carries a cookie to retry with"
    assert answered(ask(srv, c, "udp")), "the retry with that cookie is answered over UDP"
    assert ask(srv, corrupt(c), "udp").rcode() == BADCOOKIE, "a bad server cookie over UDP: BADCOOKIE"
    r = ask(srv, CLIENT, "tcp")
    assert answered(r) and cookie_of(r)[:8] == CLIENT, "TCP never needs a server cookie"
    assert answered(ask(srv, None, "udp")), "a query without any cookie is answered"


def test_require_with_real_clients(make_server):
    """dig and kdig both handle BADCOOKIE by retrying with the cookie they got."""
    srv = make_server(extra=cookies_yaml(require=True))
    out = dig(srv, "+cookie", "+nobadcookie")
    assert "status: BADCOOKIE" in out, out
    out = dig(srv, "+cookie")
    assert "BADCOOKIE, retrying" in out and "status: NOERROR" in out and "ANSWER SECTION" in out, out
    out = kdig(srv, "+cookie")
    assert "status: NOERROR" in out, out


# -- secrets and reloads ---------------------------------------------------------------------

def valid(srv, cookie):
    """With cookies.require on: the cookie verifies (answered) or not (BADCOOKIE)."""
    r = ask(srv, cookie, "udp")
    if r.rcode() == BADCOOKIE:
        return False
    assert answered(r), dns.rcode.to_text(r.rcode())
    return True


def test_rotation_by_sighup(make_server):
    srv = make_server(extra=cookies_yaml(secret=SECRET_A, require=True))
    c = cookie_of(ask(srv, CLIENT, "tcp"))
    assert valid(srv, c)

    srv.write_config(extra=cookies_yaml(secret=SECRET_B, previous=[SECRET_A], require=True))
    log = srv.reload()
    assert "reloaded" in log and "new server secret" in log, log
    r = ask(srv, c, "udp")
    assert answered(r), "a cookie of the previous secret is still valid"
    renewed = cookie_of(r)
    assert renewed != c and renewed[:8] == CLIENT, "and is renewed under the new secret"

    srv.write_config(extra=cookies_yaml(secret=SECRET_B, require=True))
    srv.reload()
    r = ask(srv, c, "udp")
    assert r.rcode() == BADCOOKIE, "once the old secret is dropped, its cookies are bad"
    fresh = cookie_of(r)
    assert fresh is not None and fresh[:8] == CLIENT and fresh != c, "with a fresh cookie to retry with"
    assert valid(srv, fresh), "made with the new secret"
    assert valid(srv, renewed), "the cookie made with the new secret stays valid"


def test_same_secret_shared_by_two_servers(make_server):
    """RFC 9018's point: servers with one secret accept each other's cookies (anycast)."""
    a = make_server(extra=cookies_yaml(secret=SECRET_A, require=True))
    b = make_server(extra=cookies_yaml(secret=SECRET_A, require=True))
    c = cookie_of(ask(a, CLIENT, "tcp"))
    assert valid(b, c)
    other = make_server(extra=cookies_yaml(secret=SECRET_B, require=True))
    assert not valid(other, c)


def test_random_secret_kept_across_reload(make_server):
    srv = make_server(extra=cookies_yaml(require=True))
    c = cookie_of(ask(srv, CLIENT, "tcp"))
    assert valid(srv, c)
    srv.reload()
    assert valid(srv, c), "without cookies.secret the server's own secret survives a reload"


def test_bad_secret_at_sighup_keeps_old(make_server):
    srv = make_server(extra=cookies_yaml(secret=SECRET_A, require=True))
    c = cookie_of(ask(srv, CLIENT, "tcp"))
    assert valid(srv, c)
    srv.write_config(extra=cookies_yaml(secret="not-hex-" + SECRET_B[8:], require=True))
    lines = srv.conf.read_text().splitlines()
    n = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("secret:"))
    log = srv.reload()
    assert re.search(rf"sinkholed\.yml:{n}: cookies\.secret: expected 32 hexadecimal digits", log), log
    assert "reload failed" in log
    assert SECRET_B[8:] not in log, "the secret is never written to the log"
    assert valid(srv, c), "the old config (and secret) keeps serving"


def test_bad_secret_at_start(make_server):
    srv = make_server(start=False, extra=cookies_yaml(secret=SECRET_A[:30]))
    srv.port = sk.free_port()
    srv.write_config()
    p = subprocess.run([str(sk.sinkholed_path()), "--check", "-c", str(srv.conf)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert re.search(r"sinkholed\.yml:\d+: cookies\.secret: expected 32 hexadecimal digits .*got 30 characters",
                     p.stderr), p.stderr


def test_cookies_disabled(make_server):
    srv = make_server(extra=cookies_yaml(enabled=False))
    r = ask(srv, CLIENT, "udp")
    assert answered(r) and cookie_of(r) is None, "disabled: the option is ignored"


# -- telemetry -------------------------------------------------------------------------------

def test_telemetry_cookie_state(make_server):
    srv = make_server(extra=cookies_yaml(secret=SECRET_A) + "telemetry:\n  flush_ms: 50\n"
                      "  jsonl: {path: events.jsonl}\n")
    c = cookie_of(ask(srv, CLIENT, "udp", name="one.sinkhole.test"))
    ask(srv, c, "udp", name="two.sinkhole.test")
    ask(srv, corrupt(c), "udp", name="three.sinkhole.test")
    ask(srv, None, "udp", name="four.sinkhole.test")
    ask(srv, c, "tcp", name="five.sinkhole.test")
    path = srv.workdir / "events.jsonl"
    assert tm.wait_for(lambda: tm.count_lines(path) >= 5), "five records"
    recs = {r["qname"]: r for r in tm.read_jsonl(path)}
    state = {n.split(".")[0]: (recs[n]["edns"]["cookie"], recs[n]["edns"]["cookie_state"])
             for n in recs}
    assert state == {"one": (True, "client"), "two": (True, "valid"), "three": (True, "bad"),
                     "four": (False, None), "five": (True, "valid")}, state
    assert list(recs["one.sinkhole.test."]["edns"]) == ["size", "do", "ecs", "cookie", "cookie_state", "nsid"]
