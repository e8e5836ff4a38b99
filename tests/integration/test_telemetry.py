"""Telemetry (issue 3): JSON lines and dnstap records of every answered query, with geolocation.

Each test starts its own sinkholed (tmhelpers.TmServer) with `telemetry:` and `geoip:` sections
pointing at ../shared/testdata/geoip, sends queries, stops it with SIGTERM (which drains every ring
and flushes every sink) and reads the records back with real parsers: json.loads, the `dnstap` CLI,
`fstrm_dump`, `fstrm_capture`, and a protobuf decoder for dnstap's `extra`. Counters come from the
server's `telemetry: ... written N failed N; dropped (ring full) N; processed N` log line.

No assertion is about time; every wait is bounded. Skips (dnstap not built in, no namespaces, no
tmpfs mount) print their reason.
"""
import json
import os
import random
import re
import signal
import stat
import sys
import time

import dns.edns
import dns.flags
import dns.message
import pytest

import skhelpers as sk
import tmhelpers as tm

FIELDS = ["time", "node", "seq", "record_id", "transport", "src", "sport", "dst", "dport", "id", "opcode", "flags",
          "qname", "qtype", "qclass", "edns", "rcode", "aa", "tc", "size", "zone", "tags", "geo",
          "ecs_geo", "rrl"]
GEO_MEMBERS = {"country", "region_code", "region", "city", "lat", "lon", "asn", "as_org"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
GEOIP = {"city": str(tm.CITY_DB), "asn": str(tm.ASN_DB)}
MiB = 1024 * 1024


def skip(msg):
    print(f"SKIP: {msg}", file=sys.stderr)
    pytest.skip(msg)


@pytest.fixture
def tm_server(tmp_path):
    """tm_server(telemetry, geoip=GEOIP, start=True, listen_extra=(), **server_conf) -> TmServer."""
    if not sk.sinkholed_path().exists():
        pytest.fail(f"sinkholed not built: {sk.sinkholed_path()} (build it or set SINKHOLED)", pytrace=False)
    started = []

    def factory(telemetry, geoip=GEOIP, start=True, listen_extra=(), subdir=None, **conf):
        d = tmp_path / (subdir or f"tm{len(started)}")
        sk.copy_zones(d)
        srv = tm.TmServer(d, telemetry=telemetry, geoip=geoip, listen_extra=listen_extra, **conf)
        started.append(srv)
        if start:
            try:
                srv.start()
            except tm.DnstapUnsupported as e:
                skip(f"sinkholed was built without dnstap: {e}")
        return srv

    yield factory
    for srv in started:
        srv.kill()


def query(qname, qid, *, ecs=None, edns=True, rd=False, qtype="A", do=False):
    q = dns.message.make_query(qname, qtype)
    q.id = qid
    q.flags = dns.flags.RD if rd else 0
    if edns:
        opts = [dns.edns.ECSOption(*ecs)] if ecs else []
        q.use_edns(0, dns.flags.DO if do else 0, 1232, options=opts)
    return q


def families():
    return [4, 6] if sk.have_ipv6() else [4]


def approx_geo(got, want, where):
    """got must hold exactly the members in want (documented members only), numbers to 1e-4."""
    assert isinstance(got, dict), f"{where}: geo is {got!r}"
    assert set(got) <= GEO_MEMBERS, f"{where}: undocumented members {set(got) - GEO_MEMBERS}"
    assert set(got) == set(want), f"{where}: members {sorted(got)} != expected {sorted(want)}: {got}"
    for k, v in want.items():
        if isinstance(v, float):
            assert got[k] == pytest.approx(v, abs=1e-4), f"{where}: {k} {got[k]} != {v}"
        else:
            assert got[k] == v, f"{where}: {k} {got[k]!r} != {v!r}"


def by_id(records):
    out = {}
    for r in records:
        out.setdefault(r["id"], []).append(r)
    return out


# -- 1. ECS geolocation and the record's fields ----------------------------------------------------

BOXFORD_FULL = dict(tm.GEO_GB_BOXFORD)

ECS_CASES = [
    # qname as sent (case kept), ECS (addr, prefix) or None, edns?, rd, transport, family,
    # expected ecs text, expected ecs_geo (None: null), zone, rcode
    ("WwW.SinkHole.TeSt.", ("81.2.69.142", 31), True, True, "udp", 4, "81.2.69.142/31",
     tm.GEO_GB_LONDON, "sinkhole.test.", "NOERROR"),
    ("bOxFoRd.SINKHOLE.test.", ("2.125.160.216", 29), True, False, "tcp", 4, "2.125.160.216/29",
     "BOXFORD", "sinkhole.test.", "NOERROR"),
    ("HoSt.Named.TEST.", ("89.160.20.112", 28), True, True, "udp", 6, "89.160.20.112/28",
     tm.GEO_SE, "named.test.", "NOERROR"),
    ("WwW.Child.Sinkhole.Test.", ("216.160.83.56", 29), True, False, "tcp", 6, "216.160.83.56/29",
     tm.GEO_US, "child.sinkhole.test.", "NOERROR"),
    ("NoSuch.Other.TEST.", ("89.160.20.112", 28), True, False, "udp", 4, "89.160.20.112/28",
     tm.GEO_SE, "other.test.", "NXDOMAIN"),
    ("Out.Side.EXAMPLE.", ("216.160.83.56", 29), True, False, "tcp", 4, "216.160.83.56/29",
     tm.GEO_US, None, "REFUSED"),
    ("Jp.sinkhole.test.", ("2001:218::", 32), True, False, "udp", 4, "2001:218::/32",
     {"country": "JP", "lat": 35.6854, "lon": 139.7531}, "sinkhole.test.", "NOERROR"),
    ("zero.sinkhole.test.", ("0.0.0.0", 0), True, False, "udp", 4, "0.0.0.0/0",
     None, "sinkhole.test.", "NOERROR"),
    ("Private.sinkhole.test.", ("10.0.0.0", 8), True, False, "udp", 4, "10.0.0.0/8",
     {}, "sinkhole.test.", "NOERROR"),
    ("NoEcs.sinkhole.test.", None, True, False, "tcp", 4, None, None, "sinkhole.test.", "NOERROR"),
    ("NoEdns.SinkHole.test.", None, False, True, "udp", 4, None, None, "sinkhole.test.", "NOERROR"),
]


def test_ecs_geolocation_and_fields(tm_server):
    srv = tm_server({"flush_ms": 100, "jsonl": {"path": "events.jsonl"}})
    sent = {}
    for n, (qname, ecs, edns, rd, transport, fam, *_rest) in enumerate(ECS_CASES):
        if fam == 6 and not sk.have_ipv6():
            fam = 4
        qid = 4242 + 1000 * n
        q = query(qname, qid, ecs=ecs, edns=edns, rd=rd)
        replies, sport = tm.exchange(srv.addr(fam), srv.port, [q.to_wire()], transport)
        assert qid in replies, f"no answer to {qname} over {transport}{fam}"
        sent[qid] = (n, fam, sport, replies[qid])
    _, stopped = srv.stop_ok()
    recs = tm.read_jsonl(srv.path("events.jsonl"))
    assert len(recs) == len(ECS_CASES), f"{len(recs)} records for {len(ECS_CASES)} queries"
    ids = by_id(recs)
    for qid, (n, fam, sport, reply) in sent.items():
        qname, ecs, edns, rd, transport, _f, ecs_text, ecs_geo, zone, rcode = ECS_CASES[n]
        where = f"record for {qname} ({transport}{fam}, id {qid})"
        assert len(ids.get(qid, [])) == 1, f"{where}: {len(ids.get(qid, []))} records with this id"
        r = ids[qid][0]
        assert list(r) == FIELDS, f"{where}: fields/order {list(r)}"
        assert TIME_RE.match(r["time"]), f"{where}: time {r['time']!r}"
        assert r["node"] == sk.IDENTITY
        node, run, seq = r["record_id"].rsplit(":", 2)
        assert (node, seq) == (sk.IDENTITY, str(r["seq"])) and run.isdigit(), \
            f"{where}: record_id {r['record_id']!r} is not node:run:seq"
        assert r["transport"] == transport, where
        addr = srv.addr(fam)
        assert (r["src"], r["sport"], r["dst"], r["dport"]) == (addr, sport, addr, srv.port), where
        assert r["id"] == qid, where
        assert r["opcode"] == "QUERY" and r["qtype"] == "A" and r["qclass"] == "IN", where
        assert r["flags"] == ("rd" if rd else ""), f"{where}: flags {r['flags']!r}"
        assert r["rrl"] is None, f"{where}: rrl {r['rrl']!r} without rate limiting"
        assert r["qname"] == qname, f"{where}: qname {r['qname']!r} (client's case must be kept)"
        if edns:
            assert r["edns"] == {"size": 1232, "do": False, "ecs": ecs_text, "cookie": False,
                                 "cookie_state": None, "nsid": False}, f"{where}: edns {r['edns']}"
        else:
            assert r["edns"] is None, f"{where}: edns {r['edns']}"
        assert r["rcode"] == rcode == tm.rcode_of(reply), f"{where}: rcode {r['rcode']}"
        assert r["aa"] is (rcode != "REFUSED") and r["tc"] is False, where
        assert r["size"] == len(reply), f"{where}: size {r['size']} != reply of {len(reply)} bytes"
        assert r["zone"] == zone, f"{where}: zone {r['zone']!r}"
        if zone is None:
            assert r["tags"] is None, f"{where}: tags {r['tags']!r}"
        else:
            want = tm.ZONE_TAGS[zone]
            assert list(r["tags"].items()) == list(want.items()), f"{where}: tags {r['tags']} != {want}"
        assert r["geo"] == {}, f"{where}: loopback source must be looked up and unknown: {r['geo']}"
        if ecs_geo is None:
            assert r["ecs_geo"] is None, f"{where}: ecs_geo {r['ecs_geo']}"
        elif ecs_geo == "BOXFORD":
            g = r["ecs_geo"]
            assert g.get("region_code") in ("ENG", "WBK"), f"{where}: {g}"
            want = dict(tm.GEO_GB_BOXFORD, region_code=g["region_code"],
                        region={"ENG": "England", "WBK": "West Berkshire"}[g["region_code"]])
            approx_geo(g, want, where)
        else:
            approx_geo(r["ecs_geo"], ecs_geo, where)
    assert stopped["replies"] == len(ECS_CASES)


# -- 2. exactly N records ----------------------------------------------------------------------------

def test_exactly_n_records(tm_server):
    srv = tm_server({"flush_ms": 100, "jsonl": {"path": "events.jsonl"}}, workers=2)
    rng = random.Random(3)
    per = 150
    combos = [(t, f) for f in families() for t in ("udp", "tcp")]
    ids = rng.sample(range(1, 65536), per * len(combos))
    names = [("h{}.SinkHole.test.", "NOERROR"), ("n{}.Other.Test.", "NXDOMAIN"),
             ("r{}.Not-Ours.example.", "REFUSED"), ("Named.TEST.", "NOERROR")]
    expected = {}  # id -> (transport, src, qname, rcode)
    k = 0
    for transport, fam in combos:
        wires = []
        for i in range(per):
            qid = ids[k]
            k += 1
            pat, rcode = names[i % len(names)]
            qname = pat.format(i)
            wires.append(query(qname, qid, rd=bool(i % 2), edns=bool(i % 3)).to_wire())
            expected[qid] = (transport, srv.addr(fam), qname, rcode)
        replies, _ = tm.exchange(srv.addr(fam), srv.port, wires, transport)
        missing = [struct_id for struct_id in (int.from_bytes(w[:2], "big") for w in wires)
                   if struct_id not in replies]
        assert not missing, f"{transport}{fam}: {len(missing)} queries unanswered"
        for qid, rep in replies.items():
            assert tm.rcode_of(rep) == expected[qid][3], f"id {qid}: reply rcode"
    n = len(expected)
    tel, stopped = srv.stop_ok()
    data = srv.path("events.jsonl").read_bytes()
    recs = tm.read_jsonl(srv.path("events.jsonl"))  # every line through json.loads
    assert len(recs) == n, f"{len(recs)} records for {n} answered queries"
    assert data.count(b"\n") == n
    got = {(r["id"], r["transport"], r["src"]) for r in recs}
    want = {(qid, t, src) for qid, (t, src, _q, _r) in expected.items()}
    assert got == want, f"missing {sorted(want - got)[:5]}, unexpected {sorted(got - want)[:5]}"
    for r in recs:
        t, src, qname, rcode = expected[r["id"]]
        assert r["qname"] == qname and r["rcode"] == rcode, f"record {r['seq']}: {r['qname']} {r['rcode']}"
    seqs = [r["seq"] for r in recs]
    assert sorted(seqs) == list(range(1, n + 1)), "seq must run 1..N without gaps or repeats"
    assert seqs == list(range(1, n + 1)), "records must be written in seq order"
    assert stopped["replies"] == n, stopped["line"]
    assert tel is not None, "no 'telemetry: ... processed N' line at exit"
    assert tel["jsonl"] == (n, 0) and tel["dropped"] == 0 and tel["processed"] == n, tel["line"]


# -- 3. rotation by size, keep, SIGUSR1 reopen --------------------------------------------------------

def _chain(srv, keep):
    base = srv.path("events.jsonl")
    files = [base] + [base.with_name(f"events.jsonl.{i}") for i in range(1, keep + 2)]
    return [f for f in files if f.exists()]


def _check_file(f):
    size = f.stat().st_size
    assert size <= MiB, f"{f.name}: {size} bytes > rotate_mb 1 MiB"
    mode = stat.S_IMODE(f.stat().st_mode)
    assert mode == 0o640, f"{f.name}: mode {oct(mode)} != 0o640"
    recs = tm.read_jsonl(f)  # ends with a newline and every line is whole JSON: no split record
    seqs = [r["seq"] for r in recs]
    if seqs:
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{f.name}: seq not contiguous"
    return recs


def test_rotation_and_reopen(tm_server, tmp_path):
    keep = 3
    srv = tm_server({"flush_ms": 100, "stats_interval_s": 1,
                     "jsonl": {"path": "events.jsonl", "rotate_mb": 1, "keep": keep}}, workers=2)
    # phase A: ~1.7 MB of records -> at least one rotation, nothing deleted yet
    qa = tm.write_qfile(tmp_path / "qa.txt", [f"a{i}.sinkhole.test" for i in range(4000)])
    res = tm.dnsperf(sk.V4, srv.port, qa, runs=1)
    assert res["lost"] == 0 and res["completed"] == 4000, res["output"][-800:]
    total = lambda: sum(tm.count_lines(f) for f in _chain(srv, keep))
    assert tm.wait_for(lambda: total() >= 4000, 15), f"only {total()} lines after flushes"
    files = _chain(srv, keep)
    assert srv.path("events.jsonl.1").exists(), f"no rotation after {4000} records: {files}"
    recs = []
    for f in reversed(files):  # oldest first
        recs += _check_file(f)
    assert [r["seq"] for r in recs] == list(range(1, 4001)), \
        "rotated files together must hold seq 1..4000 exactly once, in order"
    assert {r["qname"] for r in recs} == {f"a{i}.sinkhole.test." for i in range(4000)}

    # SIGUSR1 after moving the file away: a new file at the path gets the later records
    moved = srv.path("moved.jsonl")
    os.rename(srv.path("events.jsonl"), moved)
    srv.proc.send_signal(signal.SIGUSR1)
    tm.wait_for(lambda: srv.path("events.jsonl").exists(), 5)
    wires = [query(f"after-usr1-{i}.sinkhole.test.", 100 + i).to_wire() for i in range(20)]
    replies, _ = tm.udp_exchange(sk.V4, srv.port, wires)
    assert len(replies) == 20
    after = lambda: [r for r in tm.read_jsonl(srv.path("events.jsonl"))
                     if r["qname"].startswith("after-usr1-")] if srv.path("events.jsonl").exists() else []
    got = tm.wait_for(lambda: len(after()) == 20 and after(), 10)
    assert got, (f"after SIGUSR1: new file exists={srv.path('events.jsonl').exists()}, "
                 f"{len(after())}/20 later records in it")
    assert not [r for r in tm.read_jsonl(moved) if r["qname"].startswith("after-usr1-")], \
        "records after the reopen went to the moved file"
    assert stat.S_IMODE(srv.path("events.jsonl").stat().st_mode) == 0o640
    assert srv.alive()

    # phase C: ~3.4 MB more -> several rotations; only `keep` rotated files remain
    qc = tm.write_qfile(tmp_path / "qc.txt", [f"c{i}.sinkhole.test" for i in range(8000)])
    res = tm.dnsperf(sk.V4, srv.port, qc, runs=1)
    assert res["lost"] == 0 and res["completed"] == 8000, res["output"][-800:]
    tel, stopped = srv.stop_ok()
    n_total = 4000 + 20 + 8000
    assert stopped["replies"] == n_total, stopped["line"]
    assert tel["jsonl"] == (n_total, 0) and tel["dropped"] == 0, tel["line"]
    files = _chain(srv, keep)
    names = [f.name for f in files]
    assert not srv.path(f"events.jsonl.{keep + 1}").exists(), f"more than keep={keep} rotated files: {names}"
    assert names == ["events.jsonl"] + [f"events.jsonl.{i}" for i in range(1, keep + 1)], names
    leftovers = sorted(p.name for p in srv.workdir.iterdir() if p.name.startswith("events.jsonl"))
    assert leftovers == sorted(names), f"unexpected files: {leftovers}"
    chain = []
    for f in reversed(files):
        chain += _check_file(f)
    seqs = [r["seq"] for r in chain]
    assert seqs == list(range(seqs[0], n_total + 1)), \
        f"the kept files must hold the newest records contiguously up to {n_total}: {seqs[0]}..{seqs[-1]}"
    assert len(chain) >= 3 * 2000, "kept files hold too few records"
    # nothing written twice: the moved file and the chain do not overlap
    moved_seqs = {r["seq"] for r in tm.read_jsonl(moved)}
    assert not moved_seqs & set(seqs)


# -- 4. dnstap to a file and to a unix socket ----------------------------------------------------------

def _dnstap_queries(srv, n):
    """n queries: UDP/TCP, v4/v6, some with ECS; returns {id: (transport, qname, ecs_text)}."""
    combos = [(t, f) for f in families() for t in ("udp", "tcp")]
    per = n // len(combos)
    sent = {}
    k = 1
    ecs_cycle = [("89.160.20.112", 28), ("216.160.83.56", 29), ("81.2.69.142", 31), None]
    for transport, fam in combos:
        wires = []
        count = per if (transport, fam) != combos[-1] else n - per * (len(combos) - 1)
        for i in range(count):
            ecs = ecs_cycle[i % len(ecs_cycle)]
            qname = ["Tap{}.SinkHole.test.", "t{}.Named.TEST.", "x{}.other.test.", "y{}.elsewhere.example."][i % 4].format(i)
            wires.append(query(qname, k, ecs=ecs, rd=True).to_wire())
            sent[k] = (transport, qname, f"{ecs[0]}/{ecs[1]}" if ecs else None)
            k += 1
        replies, _ = tm.exchange(srv.addr(fam), srv.port, wires, transport)
        assert len(replies) == len(wires), f"{transport}{fam}: {len(wires) - len(replies)} unanswered"
    return sent


def _check_dnstap_frames(frames, sent, recs, messages):
    jsonl_by_seq = {r["seq"]: r for r in recs}
    decoded = [tm.decode_dnstap(f) for f in frames]
    q = [d for d in decoded if d["mtype"] == "AUTH_QUERY"]
    a = [d for d in decoded if d["mtype"] == "AUTH_RESPONSE"]
    assert len(q) == len(sent), f"{len(q)} AUTH_QUERY for {len(sent)} queries"
    assert len(a) == (len(sent) if messages == "all" else 0), f"{len(a)} AUTH_RESPONSE"
    assert {d["id"] for d in q} == set(sent)
    for d in decoded:
        assert d["identity"] == sk.IDENTITY, d["identity"]
        assert d["version"].startswith("sinkholed"), d["version"]
        ex = d["extra"]
        assert isinstance(ex, dict) and "seq" in ex, f"extra is not the documented JSON: {d['extra_raw']!r}"
        r = jsonl_by_seq[ex["seq"]]
        assert r["id"] == d["id"], f"seq {ex['seq']}: dnstap id {d['id']} != jsonl id {r['id']}"
        assert d["protocol"] == r["transport"]
        assert (d["query_address"], d["query_port"]) == (r["src"], r["sport"])
        assert (d["response_address"], d["response_port"]) == (r["dst"], r["dport"])
        if d["mtype"] == "AUTH_RESPONSE":
            # the enrichment travels once, with the query; the response joins it by seq
            assert set(ex) == {"seq"}, f"AUTH_RESPONSE extra carries more than seq: {ex}"
            continue
        assert ex.get("zone") == r["zone"], f"seq {ex['seq']}: extra zone {ex.get('zone')} != {r['zone']}"
        if r["tags"]:
            assert list(ex.get("tags", {}).items()) == list(r["tags"].items()), f"extra tags {ex.get('tags')}"
        else:
            assert not ex.get("tags"), f"extra tags {ex.get('tags')} for zone {r['zone']}"
        assert ex.get("geo", {}) == r["geo"]
        transport, qname, ecs_text = sent[d["id"]]
        assert ex.get("ecs") == ecs_text, f"extra ecs {ex.get('ecs')} != {ecs_text}"
        assert ex.get("ecs_geo") == r["ecs_geo"], f"extra ecs_geo {ex.get('ecs_geo')} != {r['ecs_geo']}"
        if ecs_text and ecs_text.startswith("89.160.20.112"):
            assert ex["ecs_geo"]["country"] == "SE" and ex["ecs_geo"]["asn"] == 29518
        want = dns.message.make_query(qname, "A").question[0].name.to_wire()
        assert want in d["query_message"], f"query_message lost the client's case for {qname}"
        assert "rsize" in ex and ex["rsize"] == r["size"]
    return q, a


@pytest.mark.parametrize("messages", ["all", "queries"])
def test_dnstap_file(tm_server, messages):
    n = 200
    srv = tm_server({"flush_ms": 100, "jsonl": {"path": "events.jsonl"},
                     "dnstap": {"file": "events.tap", "messages": messages}})
    sent = _dnstap_queries(srv, n)
    tel, stopped = srv.stop_ok()
    per = 2 if messages == "all" else 1
    recs = tm.read_jsonl(srv.path("events.jsonl"))
    assert len(recs) == n
    tap = srv.path("events.tap")
    counts, ids, _ = tm.dnstap_cli_yaml_counts(tap)
    assert counts.get("AUTH_QUERY", 0) == n, f"dnstap -y: {counts}"
    assert counts.get("AUTH_RESPONSE", 0) == (n if messages == "all" else 0), f"dnstap -y: {counts}"
    assert counts.get("MESSAGE", 0) == n * per, f"dnstap -y: {counts}"
    assert set(ids) == set(sent), "dnstap -y: query ids differ from those sent"
    assert len(tm.dnstap_cli_quiet_lines(tap)) == n * per
    frames_dump, _ = tm.fstrm_dump_data_frames(tap)
    assert frames_dump == n * per, f"fstrm_dump shows {frames_dump} data frames, expected {n * per}"
    ctype, frames = tm.fstrm_file_frames(tap.read_bytes())
    assert ctype == tm.CONTENT_TYPE
    _check_dnstap_frames(frames, sent, recs, messages)
    assert stat.S_IMODE(tap.stat().st_mode) == 0o640
    assert tel["jsonl"] == (n, 0) and tel["dropped"] == 0, tel["line"]
    closed = tm.dnstap_closed(srv.final_log)
    if closed is not None:
        assert closed == (n, 0), f"dnstap close line: {closed}"
    # the counters line at exit is the documented one (stats_interval_s): it must be final
    assert tel["dnstap"] == (n, 0), f"stop log counters are not final for dnstap: {tel['line']}"


def test_dnstap_unix_socket_fstrm_capture(tm_server, tmp_path):
    n = 120
    sock = tmp_path / "tap.sock"
    out = tmp_path / "captured.tap"
    with tm.fstrm_capture(sock, out):
        srv = tm_server({"flush_ms": 100, "jsonl": {"path": "events.jsonl"},
                         "dnstap": {"unix": str(sock)}})
        sent = _dnstap_queries(srv, n)
        tel, stopped = srv.stop_ok()
    assert out.exists(), f"fstrm_capture wrote nothing; its log: {(tmp_path / 'captured.tap.log').read_text()}"
    counts, ids, _ = tm.dnstap_cli_yaml_counts(out)
    assert counts.get("AUTH_QUERY", 0) == n and counts.get("AUTH_RESPONSE", 0) == n, f"dnstap -y: {counts}"
    assert set(ids) == set(sent)
    frames_dump, _ = tm.fstrm_dump_data_frames(out)
    assert frames_dump == 2 * n
    _, frames = tm.fstrm_file_frames(out.read_bytes())
    _check_dnstap_frames(frames, sent, tm.read_jsonl(srv.path("events.jsonl")), "all")
    closed = tm.dnstap_closed(srv.final_log)
    if closed is not None:
        assert closed == (n, 0), f"dnstap close line: {closed}"
    assert tel["dnstap"] == (n, 0), f"stop log counters are not final for dnstap: {tel['line']}"


# -- 5. source-address geolocation from a network namespace --------------------------------------------

NS_CLIENT = r"""
import json, socket, struct, sys
import dns.edns, dns.message, dns.query
host, port = sys.argv[1], int(sys.argv[2])
out = {}
q = dns.message.make_query("NetNS.SinkHole.Test.", "A"); q.id = 5001; q.flags = 0
r = dns.query.udp(q, host, port=port, timeout=3, source="89.160.20.112")
out["udp"] = r.id
q = dns.message.make_query("Ecs.NetNS.sinkhole.test.", "A"); q.id = 5002; q.flags = 0
q.use_edns(0, 0, 1232, options=[dns.edns.ECSOption("216.160.83.56", 29)])
r = dns.query.tcp(q, host, port=port, timeout=3, source="89.160.20.112")
out["tcp"] = r.id
print(json.dumps(out))
"""


def test_source_geolocation_netns(tm_server):
    host_addr, client_addr = "89.160.20.113", "89.160.20.112"  # both in 89.160.20.112/28 (SE, AS29518)
    try:
        ctx = tm.veth_netns(host_addr, client_addr, 28)
        ns = ctx.__enter__()
    except tm.NetnsUnavailable as e:
        skip(f"cannot create a network namespace: {e}")
    try:
        srv = tm_server({"flush_ms": 100, "jsonl": {"path": "events.jsonl"}}, listen_extra=[host_addr])
        p = None
        for _ in range(3):  # the veth may need a moment before the first packet gets through
            p = tm.netns_run(ns, [tm.PY, "-c", NS_CLIENT, host_addr, str(srv.port)])
            if p.returncode == 0:
                break
            time.sleep(0.5)
        assert p.returncode == 0, f"client in {ns} failed: {p.stderr[-1500:]}"
        assert json.loads(p.stdout) == {"udp": 5001, "tcp": 5002}
        _, stopped = srv.stop_ok()
    finally:
        ctx.__exit__(None, None, None)
    recs = [r for r in tm.read_jsonl(srv.path("events.jsonl")) if r["src"] == client_addr]
    ids = by_id(recs)
    assert set(ids) >= {5001, 5002}, f"records from {client_addr}: {[(r['id'], r['qname']) for r in recs]}"
    for qid, transport in ((5001, "udp"), (5002, "tcp")):
        r = ids[qid][-1]
        where = f"record {qid} ({transport})"
        assert r["transport"] == transport and r["dst"] == host_addr and r["dport"] == srv.port, where
        approx_geo(r["geo"], tm.GEO_SE, f"{where} geo")
    assert ids[5001][-1]["qname"] == "NetNS.SinkHole.Test."
    assert ids[5001][-1]["ecs_geo"] is None
    approx_geo(ids[5002][-1]["ecs_geo"], tm.GEO_US, "record 5002 ecs_geo (must differ from geo)")
    assert not [l for l in tm._ip("netns", "list").stdout.splitlines() if l.startswith(ns)], \
        "namespace left behind"


# -- 6. stalled sinks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["stall", "stall-hs"],
                         ids=["reader-stops-after-handshake", "reader-never-reads"])
def test_stalled_dnstap_reader(tm_server, tmp_path, mode):
    sock = tmp_path / "stalled.sock"
    reader = tm.FstrmSocketReader(sock, mode)
    live = None
    try:
        srv = tm_server({"flush_ms": 100, "stats_interval_s": 1, "jsonl": {"path": "events.jsonl"},
                         "dnstap": {"unix": str(sock)}}, workers=2)
        qf = tm.write_qfile(tmp_path / "q.txt", [f"s{i}.sinkhole.test" for i in range(2000)])
        res = tm.dnsperf(sk.V4, srv.port, qf, limit_s=4, rate=5000, outstanding=100)
        assert res["completed"] >= 15000, f"dnsperf completed only {res['completed']}: {res['output'][-600:]}"
        # loopback, 5000 q/s, 100 outstanding: nothing is lost unless the server stalls
        assert res["lost"] == 0, f"answers lost while the dnstap reader stalled: {res['output'][-800:]}"
        assert reader.connections >= 1, "the server never connected to the dnstap socket"
        # the reader recovers: a reading collector at the same path gets new records
        reader.close()
        live = tm.FstrmSocketReader(sock, "read")
        marker = b"\x06resume"
        seen = lambda: any(marker in f for f in list(live.frames))
        for i in range(60):  # bounded: 60 x 0.25 s
            tm.udp_exchange(sk.V4, srv.port, [query(f"resume.r{i}.sinkhole.test.", 60000 + i).to_wire()])
            if tm.wait_for(seen, 0.25):
                break
        assert seen(), f"dnstap did not resume after the reader recovered (live reader got {live.frame_count()} frames, errors {live.errors})"
        tel, stopped = srv.stop_ok()
    finally:
        reader.close()
        if live:
            live.close()
    answered = stopped["replies"]
    assert tel["dnstap"][1] > 0, f"a stalled reader must show up as dnstap failed > 0: {tel['line']}"
    assert tel["jsonl"] == (answered, 0), f"jsonl must be unaffected: {tel['line']} vs {stopped['line']}"
    assert tel["dropped"] == 0 and tel["processed"] == answered, tel["line"]
    assert tm.count_lines(srv.path("events.jsonl")) == answered
    final = tm.dnstap_closed(srv.final_log) or tel["dnstap"]
    assert final[1] > 0 and sum(final) == answered, \
        f"dnstap written {final[0]} + failed {final[1]} must account for all {answered} records"


def test_dnstap_reader_goes_away_reconnects_with_backoff(tm_server, tmp_path):
    """The dnstap reader goes away and a broken one takes its place: the server keeps answering,
    retries with a growing pause (1, 2, 4 ... s, not every second), and when a real collector
    (fstrm_capture) comes back it reconnects by itself; the reconnect is counted and every
    answered query is accounted for as written or failed."""
    sock = tmp_path / "tap.sock"
    out = tmp_path / "after.tap"
    first = tm.FstrmSocketReader(sock, "read")
    srv = tm_server({"flush_ms": 100, "stats_interval_s": 1, "dnstap": {"unix": str(sock)}})
    try:
        assert tm.wait_for(lambda: first.handshakes >= 1, 10), "never connected to the first reader"
        for i in range(20):
            tm.udp_exchange(sk.V4, srv.port, [query(f"before{i}.sinkhole.test.", 100 + i).to_wire()])
        assert tm.wait_for(lambda: first.frame_count() >= 20, 10), f"first reader got {first.frame_count()}"
        first.close()
        # A reader that accepts and hangs up at once: each attempt of the server is counted here.
        broken = tm.FstrmSocketReader(sock, "refuse")
        window = 7.0
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < window:      # queries keep the sink trying; all answered
            got, _ = tm.udp_exchange(sk.V4, srv.port, [query(f"gone{i}.sinkhole.test.", 1000 + i).to_wire()])
            assert len(got) == 1, "an answer went missing while the dnstap reader was away"
            i += 1
            time.sleep(0.05)
        attempts = broken.connections
        broken.close()
        # 1 + 2 + 4 s of pauses fit in 7 s: at most 4 attempts (a fixed 1 s pause would make ~7)
        assert 1 <= attempts <= 4, f"{attempts} connection attempts in {window} s: no backoff?"
        assert srv.alive()
        with tm.fstrm_capture(sock, out):
            marker = "comeback.sinkhole.test."
            for j in range(80):     # bounded: the pause is at most 8 s; 80 x 0.25 s = 20 s
                tm.udp_exchange(sk.V4, srv.port, [query(f"r{j}.{marker}", 5000 + j).to_wire()])
                time.sleep(0.25)
                tel = tm.last_tel_stats(srv.log_text())
                if tel and tel["reconnects"].get("dnstap", 0) >= 1 and tel["dnstap"][0] > 20:
                    break
            tel, stopped = srv.stop_ok()
    finally:
        first.close()
    assert tel["reconnects"]["dnstap"] >= 1, f"no reconnect counted: {tel['line']}"
    answered = stopped["replies"]
    assert sum(tel["dnstap"]) == answered, f"written + failed != {answered}: {tel['line']}"
    assert tel["dnstap"][1] > 0, f"records sent while the reader was away must count as failed: {tel['line']}"
    counts, ids, _ = tm.dnstap_cli_yaml_counts(out)
    assert counts.get("AUTH_QUERY", 0) >= 1, f"the collector that came back got nothing: {counts}"
    assert all(i >= 5000 for i in ids), "records from before the outage showed up after it"


@pytest.fixture
def small_fs(tmp_path):
    """A 256 KiB tmpfs of the test's own (skipped where none can be mounted). Servers appended to
    the yielded list are killed before it is unmounted: they hold files open on it."""
    mnt = tmp_path / "small"
    try:
        ctx = tm.small_tmpfs(mnt, "256k")
        ctx.__enter__()
    except tm.MountUnavailable as e:
        skip(f"cannot mount a tmpfs: {e}")
    servers = []
    try:
        yield mnt, servers
    finally:
        for srv in servers:
            srv.kill()
        ctx.__exit__(None, None, None)


def _queries_on_full_fs(srv, mnt, tmp_path):
    """Fill the filesystem, then 3000 queries with dnsperf: every one answered. Returns the filler."""
    filler = tm.fill_fs(mnt)
    qf = tm.write_qfile(tmp_path / "q.txt", [f"full{i}.sinkhole.test" for i in range(3000)])
    res = tm.dnsperf(sk.V4, srv.port, qf, runs=1, rate=10000)
    assert res["completed"] == 3000 and res["lost"] == 0, \
        f"answers lost while the disk was full: {res['output'][-800:]}"
    return filler


def test_jsonl_full_filesystem(tm_server, tmp_path, small_fs):
    mnt, servers = small_fs
    events = mnt / "events.jsonl"
    srv = tm_server({"flush_ms": 100, "stats_interval_s": 1, "jsonl": {"path": str(events)}}, workers=2)
    servers.append(srv)
    assert tm.wait_for(events.exists, 5), "jsonl file not created at start"
    filler = _queries_on_full_fs(srv, mnt, tmp_path)
    failed = lambda: (tm.last_tel_stats(srv.log_text()) or {}).get("jsonl", (0, 0))[1]
    assert tm.wait_for(lambda: failed() > 0, 5), \
        f"no failed records counted with a full disk: {tm.last_tel_stats(srv.log_text())}"
    # recovery: free the space; later records are written again
    filler.unlink()
    wires = [query(f"resume{i}.sinkhole.test.", 1 + i).to_wire() for i in range(50)]
    replies, _ = tm.udp_exchange(sk.V4, srv.port, wires)
    assert len(replies) == 50
    resumed = lambda: {r["qname"] for r in tm.read_jsonl(events)} >= \
        {f"resume{i}.sinkhole.test." for i in range(50)}
    assert tm.wait_for(resumed, 10, 0.2), "writing did not resume after space was freed"
    tel, stopped = srv.stop_ok()
    recs = tm.read_jsonl(events)  # whole lines only, also around the failures
    answered = stopped["replies"]
    assert answered == 3050, stopped["line"]
    written, failed_n = tel["jsonl"]
    assert failed_n > 0, f"stop log must count failed records: {tel['line']}"
    assert written + failed_n == tel["processed"] == answered and tel["dropped"] == 0, tel["line"]
    assert len(recs) == written, f"{len(recs)} lines in the file, {written} counted written"


def test_dnstap_file_full_filesystem_then_sigusr1(tm_server, tmp_path, small_fs):
    """A dnstap file on a filesystem that fills up: answers go on, records count as failed, a new
    file is started once there is room (the broken one kept aside), and SIGUSR1 after the file was
    moved away starts another; every answered query is written or failed, and the files written
    after the outage are complete Frame Streams files with their records."""
    mnt, servers = small_fs
    tap = mnt / "events.tap"
    srv = tm_server({"flush_ms": 100, "stats_interval_s": 1, "dnstap": {"file": str(tap)}}, workers=2)
    servers.append(srv)
    filler = _queries_on_full_fs(srv, mnt, tmp_path)
    failed = lambda: (tm.last_tel_stats(srv.log_text()) or {}).get("dnstap", (0, 0))[1]
    assert tm.wait_for(lambda: failed() > 0, 10), tm.last_tel_stats(srv.log_text())
    filler.unlink()
    written = lambda: (tm.last_tel_stats(srv.log_text()) or {}).get("dnstap", (0, 0))[0]
    w0 = written()
    for i in range(60):     # bounded: the retry pause is at most 8 s
        tm.udp_exchange(sk.V4, srv.port, [query(f"resume{i}.sinkhole.test.", 20000 + i).to_wire()])
        if tm.wait_for(lambda: written() > w0, 0.25):
            break
    assert written() > w0, "dnstap did not resume after space was freed"
    # logrotate: move the file away, SIGUSR1, later records go to a new file at the path
    moved = mnt / "events.tap.rotated"
    os.rename(tap, moved)
    srv.proc.send_signal(signal.SIGUSR1)
    assert tm.wait_for(tap.exists, 10), "SIGUSR1 did not start a new dnstap file"
    wires = [query(f"after{i}.sinkhole.test.", 30000 + i).to_wire() for i in range(40)]
    replies, _ = tm.udp_exchange(sk.V4, srv.port, wires)
    assert len(replies) == 40
    tel, stopped = srv.stop_ok()
    _, after = tm.fstrm_file_frames(tap.read_bytes())
    _, rotated = tm.fstrm_file_frames(moved.read_bytes())
    answered = stopped["replies"]
    w, f = tel["dnstap"]
    assert f > 0 and w + f == answered, f"written {w} + failed {f} != answered {answered}: {tel['line']}"
    ids_after = {tm.decode_dnstap(x)["id"] for x in after}
    assert ids_after == set(range(30000, 30040)), "the file after SIGUSR1 holds exactly the later queries"
    assert len(after) == 80, "an AUTH_QUERY and an AUTH_RESPONSE each"
    assert any(tm.decode_dnstap(x)["id"] >= 20000 for x in rotated), "the resumed records were written"


# -- 7. reload with a corrupt geo database --------------------------------------------------------------

def test_reload_corrupt_geo_keeps_old(tm_server, tmp_path):
    srv = tm_server({"flush_ms": 100, "jsonl": {"path": "events.jsonl"}})
    # bad/libmaxminddb-corrupt-search-tree.mmdb has database type "Test": a server may refuse it
    # for its type alone. This one is a real City database with its search tree destroyed.
    crafted = tm.make_corrupt_city(tmp_path / "GeoIP2-City-corrupt-tree.mmdb")
    se = ("89.160.20.112", 28)
    next_id = iter(range(1, 60000))

    def ask_se(label):
        qid = next(next_id)
        replies, _ = tm.udp_exchange(sk.V4, srv.port, [query(f"{label}.sinkhole.test.", qid, ecs=se).to_wire()])
        assert qid in replies, f"no answer to {label}: the server must keep answering"
        return qid

    before = ask_se("before")
    after_bad = []
    must_refuse = (tm.CORRUPT_DB, crafted)
    cases = [("city", tm.CORRUPT_DB), ("asn", tm.CORRUPT_DB), ("city", crafted)] + \
        [("city", p) for p in sorted(tm.BAD_DIR.glob("*.mmdb")) if p != tm.CORRUPT_DB]
    for key, bad in cases:
        srv.geoip = dict(GEOIP, **{key: str(bad)})
        srv.write_config()
        text = srv.reload()
        assert srv.alive(), f"sinkholed died reloading {bad.name}"
        if bad in must_refuse:
            err = [l for l in text.splitlines() if str(bad) in l]
            assert err, f"reload with a corrupt {key} database ({bad.name}) must name the file; log:\n{text}"
            after_bad.append((ask_se(f"after-{key}-corrupt"), bad.name))
        elif str(bad) in text:  # the others: never a crash; if rejected, the old data stays
            after_bad.append((ask_se(f"after-{bad.stem[:40]}"), bad.name))
        else:
            ask_se("accepted")
            srv.geoip = dict(GEOIP)  # it was taken: back to the good ones before the next case
            srv.write_config()
            srv.reload()
    # a good reload takes effect (and the geo cache does not keep the old answer): Country DB
    srv.geoip = {"city": str(tm.COUNTRY_DB), "asn": str(tm.ASN_DB)}
    srv.write_config()
    srv.reload()
    newer = None
    for _ in range(20):  # bounded: the telemetry thread takes the new databases at its next pass
        qid = ask_se("country-db")
        rec = tm.wait_for(lambda: by_id(tm.read_jsonl(srv.path("events.jsonl"))).get(qid), 3)
        if rec and "city" not in rec[0]["ecs_geo"]:
            newer = rec[0]
            break
        time.sleep(0.1)
    tel, _ = srv.stop_ok()
    recs = by_id(tm.read_jsonl(srv.path("events.jsonl")))
    approx_geo(recs[before][0]["ecs_geo"], tm.GEO_SE, "before any reload")
    for qid, name in after_bad:
        approx_geo(recs[qid][0]["ecs_geo"], tm.GEO_SE, f"record after a reload with {name} (old databases kept)")
    assert newer is not None, "after reloading with the Country database, records still carry city data"
    approx_geo(newer["ecs_geo"], {"country": "SE", "asn": 29518, "as_org": "Bredband2 AB"},
               "after reload to Country DB")
    assert tel["jsonl"][1] == 0 and tel["dropped"] == 0
