"""Response rate limiting over UDP (server/rrl/): per source prefix and kind of answer.

Each test starts its own sinkholed with an `rrl:` section (rates of a few per second) and, where
records are checked, a JSON lines or dnstap sink. Floods come from client sockets bound to other
loopback addresses (127.0.1.1, 127.0.2.1, ...: every 127/8 address is local), so that sources
fall in different /24 prefixes. A flood is sent at once and its replies gathered until the server
has been quiet for a while.

No assertion is about time. A fresh account answers at least its rate at once (its bucket holds
one second), and at most rate x (1 + seconds the flood took to send): both hold on any machine.
What is exact: every query is either answered, answered truncated (TC) or dropped; the slip
cadence (every 2nd limited reply truncated); the server's counters and the telemetry records match
what the clients saw, one record per query.
"""
import socket
import subprocess
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

import skhelpers as sk
import tmhelpers as tm

RATE = 5


def rrl_yaml(**keys):
    """An `rrl:` section from keyword arguments (lists become YAML flow lists)."""
    lines = ["rrl:"]
    for k, v in keys.items():
        if isinstance(v, (list, tuple)):
            v = "[" + ", ".join(sk.yaml_str(x) for x in v) + "]"
        lines.append(f"  {k}: {v}")
    return "\n".join(lines) + "\n"


class RrlServer(tm.TmServer):
    """A TmServer with an `rrl`
    section, or other raw text, appended to its config; change `rrl` and reload to apply."""

    def __init__(self, workdir, rrl="", **kw):
        super().__init__(workdir, **kw)
        self.rrl = rrl

    def write_config(self, **override):
        super().write_config(**override)
        self.conf.write_text(self.conf.read_text() + self.rrl)


@pytest.fixture
def rrl_server(tmp_path):
    """rrl_server(rrl_text, telemetry=None, start=True, **server_conf) -> RrlServer."""
    if not sk.sinkholed_path().exists():
        pytest.fail(f"sinkholed not built: {sk.sinkholed_path()}", pytrace=False)
    started = []

    def factory(rrl, telemetry=None, start=True, **conf):
        d = tmp_path / f"rrl{len(started)}"
        sk.copy_zones(d)
        srv = RrlServer(d, rrl=rrl, telemetry=telemetry, geoip=None, **conf)
        started.append(srv)
        if start:
            try:
                srv.start()
            except tm.DnstapUnsupported as e:
                pytest.skip(f"sinkholed was built without dnstap: {e}")
        return srv

    yield factory
    for srv in started:
        srv.kill()


def query(qname, qid, qtype="A", edns=True):
    q = dns.message.make_query(qname, qtype)
    q.id = qid
    q.flags = 0
    if edns:
        q.use_edns(0, 0, 1232)
    return q


class Flood:
    """What one source got back: answered in full, truncated (TC), nothing; and the time it took
    to send. replies: {id: dns.message.Message}; sizes: {id: bytes received}."""

    def __init__(self, sent, replies, send_s, sizes=None):
        self.sent = sent
        self.replies = replies
        self.sizes = sizes or {}
        self.send_s = send_s
        self.full = sorted(i for i, m in replies.items() if not m.flags & dns.flags.TC)
        self.tc = sorted(i for i, m in replies.items() if m.flags & dns.flags.TC)
        self.none = sorted(set(sent) - set(replies))

    def __repr__(self):
        return (f"Flood({len(self.sent)} sent in {self.send_s:.2f}s: {len(self.full)} answered, "
                f"{len(self.tc)} truncated, {len(self.none)} without reply)")

    def max_answered(self, rate):
        """The most a fresh account can answer: one second of credit, and the rate since."""
        return rate * (1 + int(self.send_s) + 1)


def flood(srv, src, queries, quiet=1.0, limit=15.0):
    """Send every query at once from a UDP socket bound to `src`, then read replies until none
    came for `quiet` seconds (at most `limit`). Each query is sent once, never retried."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        t0 = time.monotonic()
        sent = {}
        for q in queries:
            s.sendto(q.to_wire(), (sk.V4, srv.port))
            sent[q.id] = q
        send_s = time.monotonic() - t0
        replies, sizes = {}, {}
        deadline = time.monotonic() + limit
        s.settimeout(quiet)
        while len(replies) < len(sent) and time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                break
            m = dns.message.from_wire(data)
            assert m.id in sent and m.id not in replies, f"unexpected or repeated reply id {m.id}"
            replies[m.id] = m
            sizes[m.id] = len(data)
    return Flood(sent, replies, send_s, sizes)


def names_flood(names, first_id, qtype="A"):
    return [query(n, first_id + i, qtype) for i, n in enumerate(names)]


def same_flood(name, n, first_id):
    return names_flood([name] * n, first_id)


def rrl_counters(log):
    """(dropped, slipped) from the `stopped: ...; rrl N dropped, N slipped` line."""
    st = tm.stopped_stats(log)
    assert st, f"no stopped line in:\n{log[-2000:]}"
    line = next(l for l in log.splitlines() if "stopped: udp" in l)
    tail = line.split("; rrl ")
    assert len(tail) == 2, f"no rrl counters in the stopped line: {line}"
    d, s = tail[1].replace(" dropped,", "").replace(" slipped", "").split()
    return int(d), int(s)


def check_limited(f, rate, slip=2):
    """A flood from a fresh account: at least `rate` answered, at most what the time allows, the
    rest limited, every `slip`-th limited reply truncated and the others dropped."""
    assert rate <= len(f.full) <= f.max_answered(rate), f
    limited = len(f.sent) - len(f.full)
    assert len(f.tc) == (limited // slip if slip else 0), f"slip {slip}: {f}"
    assert len(f.none) == limited - len(f.tc), f


# -- the main scenario ---------------------------------------------------------------------------

def test_flood_limited_other_source_answered_telemetry_every_query(rrl_server):
    srv = rrl_server(rrl_yaml(responses_per_second=RATE, slip=2, window=15),
                     telemetry={"flush_ms": 50, "jsonl": {"path": "events.jsonl"}})
    # The flood from 127.0.1.1 and a polite client in another /24 at the same time: the polite
    # one's queries are interleaved with the flood's, and no more than its own rate.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as polite:
        polite.bind(("127.0.2.1", 0))
        polite.settimeout(2.0)
        flood_q = same_flood("www.sinkhole.test.", 60, 1000)
        polite_got = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.1.1", 0))
            t0 = time.monotonic()
            for k, q in enumerate(flood_q):
                a.sendto(q.to_wire(), (sk.V4, srv.port))
                if k % 12 == 0:
                    p = query("www.sinkhole.test.", 5000 + k)
                    polite.sendto(p.to_wire(), (sk.V4, srv.port))
                    polite_got[p.id] = dns.message.from_wire(polite.recvfrom(65535)[0])
            send_s = time.monotonic() - t0
            replies, sizes = {}, {}
            a.settimeout(1.0)
            while len(replies) < len(flood_q):
                try:
                    data = a.recvfrom(65535)[0]
                except socket.timeout:
                    break
                m = dns.message.from_wire(data)
                replies[m.id] = m
                sizes[m.id] = len(data)
    f = Flood({q.id: q for q in flood_q}, replies, send_s, sizes)
    check_limited(f, RATE)
    assert len(f.tc) >= 20, f"a 60-query flood at 5/s must be mostly limited: {f}"
    assert len(polite_got) == 5 and all(not m.flags & dns.flags.TC and m.answer for m in polite_got.values()), \
        f"127.0.2.1 (another /24) must get every answer: {[(i, m.flags) for i, m in polite_got.items()]}"

    # A slipped reply: the header as the answer would have had it (AA, NOERROR) with TC, the
    # question, no records, and EDNS.
    for i in f.tc:
        m = f.replies[i]
        assert m.flags & dns.flags.AA and m.flags & dns.flags.QR and m.rcode() == dns.rcode.NOERROR, m
        assert m.question and m.question[0].name.to_text() == "www.sinkhole.test.", m
        assert not m.answer and not m.authority and not m.additional, m
        assert m.edns == 0 and m.payload == 1232, f"OPT kept: {m.edns} {m.payload}"
    for i in f.full:
        assert f.replies[i].answer, f"answered in full: {f.replies[i]}"

    tel, stopped = srv.stop_ok()
    assert rrl_counters(srv.final_log) == (len(f.none), len(f.tc)), srv.final_log[-600:]
    recs = tm.read_jsonl(srv.path("events.jsonl"))
    assert len(recs) == 60 + 5, f"one record per query, dropped ones included: {len(recs)}"
    assert tel["dropped"] == 0, tel["line"]
    by = {}
    for r in recs:
        by.setdefault(r["src"], []).append(r)
    flood_recs = {r["id"]: r for r in by.get("127.0.1.1", [])}
    assert len(flood_recs) == 60 and len(by.get("127.0.2.1", [])) == 5
    for i in f.full:
        r = flood_recs[i]
        assert r["rrl"] == "pass" and r["rcode"] == "NOERROR" and not r["tc"] and r["size"] > 40, r
    for i in f.tc:
        r = flood_recs[i]
        assert r["rrl"] == "slip" and r["tc"] and r["aa"] and r["rcode"] == "NOERROR", r
        assert r["size"] == f.sizes[i], f"recorded size is the truncated reply's ({f.sizes[i]}): {r}"
    for i in f.none:
        r = flood_recs[i]
        assert r["rrl"] == "drop" and r["size"] == 0 and r["rcode"] is None and not r["tc"], r
        assert r["qname"] == "www.sinkhole.test." and r["zone"] == "sinkhole.test.", r
    assert all(r["rrl"] == "pass" for r in by["127.0.2.1"]), by["127.0.2.1"]


def test_slip_cadence_and_error_kinds(rrl_server):
    """slip 3: every 3rd limited reply truncated; kinds have their own rates and accounts."""
    srv = rrl_server(rrl_yaml(responses_per_second=50, nxdomains_per_second=3, errors_per_second=2,
                              slip=3))
    # NXDOMAIN: per zone, whatever the name (other.test has no wildcard).
    nx = flood(srv, "127.0.1.1", names_flood([f"nx{i}.other.test." for i in range(30)], 100))
    check_limited(nx, 3, slip=3)
    for i in nx.tc:
        assert nx.replies[i].rcode() == dns.rcode.NXDOMAIN and not nx.replies[i].authority
    # REFUSED: per prefix alone.
    ref = flood(srv, "127.0.1.1", names_flood([f"n{i}.elsewhere.example." for i in range(30)], 200))
    check_limited(ref, 2, slip=3)
    for i in ref.tc:
        assert ref.replies[i].rcode() == dns.rcode.REFUSED
    # Distinct names from the wildcard: one account at 50/s, so 30 at once are all answered; the
    # errors and NXDOMAINs of this prefix did not use it up.
    wild = flood(srv, "127.0.1.1", names_flood([f"dga{i}.sinkhole.test." for i in range(30)], 300))
    assert len(wild.full) == 30, wild


def test_wildcard_names_share_one_account(rrl_server):
    """Random subdomains answered by one wildcard (a DGA, or a reflection attack) count as one."""
    srv = rrl_server(rrl_yaml(responses_per_second=RATE, slip=2))
    f = flood(srv, "127.0.1.1", names_flood([f"r{i}x.sinkhole.test." for i in range(40)], 1))
    check_limited(f, RATE)
    # An exact name is an account of its own.
    g = flood(srv, "127.0.1.1", same_flood("www.sinkhole.test.", RATE, 100))
    assert len(g.full) == RATE, g


def test_exempt_prefix_never_limited(rrl_server):
    srv = rrl_server(rrl_yaml(responses_per_second=RATE, exempt=["127.0.3.0/24", "2001:db8::/32"]),
                     telemetry={"flush_ms": 50, "jsonl": {"path": "events.jsonl"}})
    ex = flood(srv, "127.0.3.9", same_flood("www.sinkhole.test.", 40, 1))
    assert len(ex.full) == 40, f"exempt 127.0.3.0/24: {ex}"
    ctl = flood(srv, "127.0.4.1", same_flood("www.sinkhole.test.", 40, 100))
    check_limited(ctl, RATE)
    srv.stop_ok()
    recs = tm.read_jsonl(srv.path("events.jsonl"))
    assert len(recs) == 80
    assert all(r["rrl"] is None for r in recs if r["src"] == "127.0.3.9"), "exempt: not accounted"
    assert {r["rrl"] for r in recs if r["src"] == "127.0.4.1"} == {"pass", "slip", "drop"}


def test_valid_server_cookie_never_limited(rrl_server):
    """A client that sends back a valid server cookie has proven its address (RFC 7873 5.3): its
    replies are not counted, while the same flood with a client cookie alone is limited."""
    srv = rrl_server(rrl_yaml(responses_per_second=RATE))
    client_cookie = bytes.fromhex("0102030405060708")
    first = query("www.sinkhole.test.", 1)
    first.use_edns(0, 0, 1232, options=[dns.edns.GenericOption(10, client_cookie)])
    got = flood(srv, "127.0.5.1", [first])
    assert len(got.full) == 1, got
    opts = [o for o in got.replies[1].options if o.otype == 10]
    assert opts and len(opts[0].data) == 24, f"no server cookie in the reply: {got.replies[1].options}"
    full_cookie = opts[0].data

    def with_cookie(cookie, first_id):
        qs = same_flood("www.sinkhole.test.", 40, first_id)
        for q in qs:
            q.use_edns(0, 0, 1232, options=[dns.edns.GenericOption(10, cookie)])
        return qs
    proven = flood(srv, "127.0.5.1", with_cookie(full_cookie, 100))
    assert len(proven.full) == 40, f"valid server cookie: {proven}"
    unproven = flood(srv, "127.0.6.1", with_cookie(client_cookie, 200))
    check_limited(unproven, RATE)


def test_tcp_never_limited(rrl_server):
    srv = rrl_server(rrl_yaml(responses_per_second=RATE),
                     telemetry={"flush_ms": 50, "jsonl": {"path": "events.jsonl"}})
    wires = [query("www.sinkhole.test.", i).to_wire() for i in range(1, 41)]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.1.1", 0))
        s.settimeout(5)
        s.connect((sk.V4, srv.port))
        for k in range(0, 40, 10):
            s.sendall(b"".join(sk.frame(w) for w in wires[k:k + 10]))
            for _ in range(10):
                m = dns.message.from_wire(sk.recv_frame(s, 5))
                assert not m.flags & dns.flags.TC and m.answer, f"TCP reply limited: {m}"
    # TCP did not charge the account: the same source over UDP still has its full bucket.
    f = flood(srv, "127.0.1.1", same_flood("www.sinkhole.test.", 20, 100))
    check_limited(f, RATE)
    srv.stop_ok()
    recs = tm.read_jsonl(srv.path("events.jsonl"))
    assert len(recs) == 60
    assert all(r["rrl"] is None for r in recs if r["transport"] == "tcp")
    assert sum(1 for r in recs if r["transport"] == "udp" and r["rrl"] in ("slip", "drop")) == 20 - len(f.full)


def test_dnstap_drop_has_no_response(rrl_server):
    srv = rrl_server(rrl_yaml(responses_per_second=RATE, slip=2),
                     telemetry={"flush_ms": 50, "jsonl": {"path": "events.jsonl"},
                                "dnstap": {"file": "events.tap"}})
    f = flood(srv, "127.0.1.1", same_flood("www.sinkhole.test.", 30, 1))
    check_limited(f, RATE)
    srv.stop_ok()
    _, frames = tm.fstrm_file_frames(srv.path("events.tap").read_bytes())
    decoded = [tm.decode_dnstap(x) for x in frames]
    aq = {d["id"]: d for d in decoded if d["mtype"] == "AUTH_QUERY"}
    ar = {d["id"]: d for d in decoded if d["mtype"] == "AUTH_RESPONSE"}
    assert set(aq) == set(f.sent), "an AUTH_QUERY for every query"
    assert set(ar) == set(f.full) | set(f.tc), "an AUTH_RESPONSE for every reply sent, none for a drop"
    for i in f.none:
        assert aq[i]["extra"].get("rrl") == "drop" and "rsize" not in aq[i]["extra"], aq[i]["extra"]
    for i in f.tc:
        hdr = sk.parse_header(ar[i]["response_message"])
        assert hdr["tc"] and hdr["aa"] and hdr["an"] == 0, hdr
        # the AUTH_QUERY carries the record's extra; the AUTH_RESPONSE joins it by seq
        assert aq[i]["extra"]["rrl"] == "slip" and aq[i]["extra"]["rsize"] == f.sizes[i]
        assert ar[i]["extra"] == {"seq": aq[i]["extra"]["seq"]}
    for i in f.full:
        assert aq[i]["extra"]["rrl"] == "pass"


# -- reload and configuration --------------------------------------------------------------------

def test_reload_changes_rates_and_exemptions(rrl_server):
    srv = rrl_server(rrl_yaml(responses_per_second=100, table_size=1024))
    f = flood(srv, "127.0.1.1", same_flood("www.sinkhole.test.", 30, 1))
    assert len(f.full) == 30, f"100/s: a burst of 30 is answered: {f}"

    srv.rrl = rrl_yaml(responses_per_second=2, exempt=["127.0.1.0/24"], table_size=1024)
    srv.write_config()
    log = srv.reload()
    assert "reloaded: generation 2" in log and "per second: 2 responses" in log, log
    g = flood(srv, "127.0.5.1", same_flood("www.sinkhole.test.", 30, 100))
    check_limited(g, 2)
    h = flood(srv, "127.0.1.1", same_flood("www.sinkhole.test.", 30, 200))
    assert len(h.full) == 30, f"exempt since the reload: {h}"

    srv.rrl = rrl_yaml(responses_per_second=2, table_size=2048)
    srv.write_config()
    log = srv.reload()
    assert "rrl.table_size changed (1024 running): takes effect after a restart" in log, log

    srv.rrl = ""
    srv.write_config()
    log = srv.reload()
    assert "rrl: off" in log and "reloaded: generation 4" in log, log
    k = flood(srv, "127.0.6.1", same_flood("www.sinkhole.test.", 30, 300))
    assert len(k.full) == 30, f"section removed: nothing limited: {k}"

    srv.rrl = rrl_yaml(responses_per_second=2)
    srv.write_config()
    srv.reload()
    m = flood(srv, "127.0.7.1", same_flood("www.sinkhole.test.", 30, 400))
    check_limited(m, 2)

    # A bad value at reload: file:line, and the running settings stay.
    srv.rrl = "rrl:\n  responses_per_second: 2\n  slip: 11\n"
    srv.write_config()
    log = srv.reload()
    line = srv.conf.read_text().splitlines().index("  slip: 11") + 1
    assert f"{srv.conf}:{line}: rrl.slip: expected a whole number from 0 to 10, got '11'" in log, log
    assert "reload failed, keeping generation 5" in log, log
    n = flood(srv, "127.0.8.1", same_flood("www.sinkhole.test.", 30, 500))
    check_limited(n, 2)
    assert srv.stop() == 0


def test_rrl_added_at_reload_needs_restart(rrl_server):
    srv = rrl_server("")
    srv.rrl = rrl_yaml(responses_per_second=2)
    srv.write_config()
    log = srv.reload()
    assert "rrl was off at start: rate limiting starts after a restart" in log, log
    f = flood(srv, "127.0.1.1", same_flood("www.sinkhole.test.", 30, 1))
    assert len(f.full) == 30, f


@pytest.mark.parametrize("text, key, message", [
    ("rrl:\n  window: 0\n", "  window: 0", "rrl.window: expected a whole number from 1 to 3600, got '0'"),
    ("rrl:\n  exempt: [192.0.2.1/24]\n", "  exempt: [192.0.2.1/24]",
     "rrl.exempt: '192.0.2.1/24' has address bits set past its length"),
    ("rrl:\n  table_size: 100\n", "  table_size: 100",
     "rrl.table_size: expected a power of two from 64 to 16777216, got '100'"),
    ("rrl:\n  responses_per_secnd: 5\n", "  responses_per_secnd: 5",
     "rrl: unknown key 'responses_per_secnd'"),
])
def test_config_errors_name_file_and_line(rrl_server, text, key, message):
    srv = rrl_server(text, start=False)
    srv.port = sk.free_port()
    srv.write_config()
    line = srv.conf.read_text().splitlines().index(key) + 1
    where = f"{srv.conf}:{line}: {message}"
    p = subprocess.run([str(sk.sinkholed_path()), "--check", "-c", str(srv.conf)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and where in p.stderr, f"--check: {p.returncode}\n{p.stderr}"
    with pytest.raises(RuntimeError):
        srv.start(timeout=5)
    assert where in srv.log_text(), srv.log_text()[-2000:]
    assert srv.proc.returncode == 1
