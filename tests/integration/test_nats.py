"""test_nats -- the NATS JetStream telemetry sink against real nats-server processes.

Every nats-server and sinkholed runs on loopback ports of its own, with its store and spool in the
test's tmp folder, and is stopped by the test (or its fixture when the test fails). Records are
read back from JetStream with a durable pull consumer (nats/consume.c, libnats) and counted by
record id. Each wait is bounded; the file takes about two minutes.
"""
import json
import signal
import subprocess
import threading
import time

import pytest

import ctlhelpers as ch
import natshelpers as nh
import skhelpers as sk
import tmhelpers as tm

SUBJECT = "sinkhole.events." + sk.IDENTITY.replace(".", "_")
NAMES = [f"h{i}.sinkhole.test." for i in range(200)] + [f"x{i}.other.test." for i in range(50)]


@pytest.fixture(scope="module")
def consumer(tmp_path_factory):
    return nh.Consumer(tmp_path_factory.mktemp("consumer"))


@pytest.fixture
def buses():
    """A list the test appends its NatsServers to; all are stopped at teardown."""
    started = []
    yield started
    for s in started:
        s.kill()


@pytest.fixture
def sinkholed(tmp_path):
    """sinkholed(nats_conf, **server_conf) -> a started TmServer with jsonl + nats sinks."""
    if not sk.sinkholed_path().exists():
        pytest.fail(f"sinkholed not built: {sk.sinkholed_path()} (build it or set SINKHOLED)", pytrace=False)
    started = []

    def factory(nats, start=True, **conf):
        d = tmp_path / f"sk{len(started)}"
        sk.copy_zones(d)
        tel = {"flush_ms": 100, "stats_interval_s": 1, "jsonl": {"path": str(d / "events.jsonl")},
               "nats": nats}
        srv = tm.TmServer(d, telemetry=tel, geoip=None, **conf)
        started.append(srv)
        if start:
            start_checked(srv)
        return srv

    yield factory
    for srv in started:
        srv.kill()


def start_checked(srv):
    try:
        srv.start()
    except RuntimeError:
        if "without NATS support" in srv.log_text():
            pytest.fail("sinkholed was built without NATS support: install libnats-dev and "
                        "configure with -Dnats=enabled", pytrace=False)
        raise


def wires_for(n):
    """n queries with distinct ids (1..n), names from NAMES."""
    out = []
    for i in range(n):
        q = sk.make_query(NAMES[i % len(NAMES)])
        q.id = i + 1
        out.append(q.to_wire())
    return out


def nats_conf(servers, spool, **kw):
    c = {"servers": list(servers), "ack_timeout_ms": 2000, "drain_ms": 5000,
         "spool": {"path": str(spool), "fsync_ms": 100}}
    c.update(kw)
    return c


def stats(srv):
    """The last telemetry counters line as a dict (None before the first)."""
    return tm.last_tel_stats(srv.log_text(getattr(srv, "_log_start", 0)))


def wait_delivered(srv, want=None, timeout=90.0):
    """Until the nats sink counts every processed record written (or, given `want`, at least that
    many) and the count stopped moving between two counter lines. Returns the last counters."""
    last = None

    def done():
        nonlocal last
        st = stats(srv)
        if not st or "nats" not in st:
            return False
        written = st["nats"][0]
        target = want if want is not None else st["processed"]
        ok = written >= target and last == (written, st["processed"])
        last = (written, st["processed"])
        return st if ok else False

    st = tm.wait_for(done, timeout=timeout, step=1.1)
    assert st, f"not everything was acknowledged within {timeout}s: {stats(srv)}"
    return st


def run_dnsperf(srv, qfile, queries, rate):
    """dnsperf for exactly `queries` queries (len(NAMES) per pass) at `rate` per second."""
    return tm.dnsperf("127.0.0.1", srv.port, qfile, runs=queries // len(NAMES), rate=rate,
                      outstanding=200, timeout=queries / rate + 60)


def check_ids(msgs, n, where):
    """Every record 1..n of one run arrived; returns (unique ids, total messages)."""
    ids = {m[0] for m in msgs}
    runs = {nh.parse_id(i)[1] for i in ids}
    seqs = sorted(nh.parse_id(i)[2] for i in ids)
    missing = sorted(set(range(1, n + 1)) - set(seqs))
    assert not missing, f"{where}: {len(missing)} of {n} records never arrived, e.g. seq {missing[:10]}"
    assert seqs == list(range(1, n + 1)), f"{where}: unexpected seqs {seqs[-5:]}"
    assert len(runs) == 1, f"{where}: records of {len(runs)} runs"
    for mid, subj, body in msgs[:50] + msgs[-50:]:
        assert json.loads(body)["record_id"] == mid and subj == SUBJECT, f"{where}: {mid} {subj}"
    return len(ids), len(msgs)


# -- one server: what a message is ---------------------------------------------------------------

def test_records_published_with_id_and_read_back(tmp_path, consumer, buses, sinkholed):
    """Each record is one acknowledged message: body = its JSON line, Nats-Msg-Id = record_id,
    subject sinkhole.events.<node>; the stream is created when missing; a durable consumer reads
    every record once."""
    bus = nh.NatsServer(tmp_path / "bus").start()
    buses.append(bus)
    spool = tmp_path / "nats.spool"
    srv = sinkholed(nats_conf([bus.url], spool))
    wires = wires_for(1000)
    for k in range(0, len(wires), 250):
        replies, _ = tm.udp_exchange("127.0.0.1", srv.port, wires[k:k + 250])
        assert len(replies) >= 1, "no answers"
    wait_delivered(srv)
    # The sink's settings are fixed at start: a reload says so and keeps publishing.
    srv.telemetry["nats"]["max_pending"] = 10
    srv.write_config()
    text = srv.reload()
    assert "telemetry.nats changed; the running value is kept until a restart" in text, text
    tel, stopped = srv.stop_ok()
    n = tel["processed"]
    assert n == stopped["udp_queries"] and n > 0, tel["line"]
    assert tel["nats"] == (n, 0), f"nats (written, failed) != ({n}, 0): {tel['line']}"
    assert tel["spooled"]["nats"] == 0 and tel["replayed"]["nats"] == 0, tel["line"]
    assert "nats: created stream SINKHOLE" in srv.final_log

    lines = srv.path("events.jsonl").read_bytes().splitlines()
    jsonl = {json.loads(l)["record_id"]: l for l in lines}
    msgs = consumer.read([bus.url], "reader")
    assert len(msgs) == n == len(jsonl), f"{len(msgs)} messages, {n} records, {len(jsonl)} JSON lines"
    for mid, subj, body in msgs:
        assert subj == SUBJECT, subj
        assert body == jsonl.get(mid), f"{mid}: the body is not the record's JSON line"
    check_ids(msgs, n, "single server")
    assert consumer.read([bus.url], "reader", idle_ms=1000) == [], \
        "the durable consumer acknowledged everything: a second read gets nothing"
    info = nh.stream_info(bus)
    assert info and info["state"]["messages"] == n, info
    assert info["config"]["subjects"] == ["sinkhole.events.>"], info["config"]
    assert info["config"]["duplicate_window"] == 120 * 10**9, info["config"]
    assert spool.stat().st_size == 0, "the spool stays empty while the bus takes everything"


# -- one server, down for 30 s -------------------------------------------------------------------

def test_bus_down_30s_spools_then_delivers(tmp_path, consumer, buses, sinkholed):
    """The only server stops (SIGKILL) for 30 s in the middle of a dnsperf run: records go to the
    spool (counted, file not empty), and once it is back the spool is replayed and emptied: every
    record id arrives, the duplicate window keeps each once."""
    bus = nh.NatsServer(tmp_path / "bus").start()
    buses.append(bus)
    spool = tmp_path / "nats.spool"
    srv = sinkholed(nats_conf([bus.url], spool))
    qfile = tm.write_qfile(tmp_path / "q.txt", NAMES)
    result = {}
    perf = threading.Thread(target=lambda: result.update(run_dnsperf(srv, qfile, 40000, 1000)))
    perf.start()
    try:
        time.sleep(4)
        bus.kill()
        down_at = time.monotonic()
        spooling = tm.wait_for(lambda: (stats(srv) or {}).get("spooled", {}).get("nats", 0) > 100,
                               timeout=20, step=0.5)
        assert spooling, f"nothing spooled while the bus is down: {stats(srv)}"
        assert spool.stat().st_size > 0, "the spool file is empty while the bus is down"
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
        held = spool.stat().st_size
        bus.start()
    finally:
        perf.join(timeout=120)
    assert not perf.is_alive() and result.get("sent") == 40000, result.get("output", "")[-500:]
    st = wait_delivered(srv)
    tel, stopped = srv.stop_ok()
    n = tel["processed"]
    assert n == stopped["udp_queries"] == 40000, tel["line"]
    assert tel["nats"] == (n, 0), tel["line"]
    assert tel["spooled"]["nats"] >= 25000, f"30 s at 1000 a second should spool about 30000: {tel['line']}"
    assert tel["replayed"]["nats"] >= tel["spooled"]["nats"], tel["line"]
    assert tel["reconnects"]["nats"] >= 1, tel["line"]
    assert held > 25000 * 300, f"the spool held only {held} bytes before the bus came back"
    assert spool.stat().st_size == 0, "the spool is emptied once it was replayed"
    msgs = consumer.read([bus.url], "reader")
    unique, total = check_ids(msgs, n, "30 s outage")
    assert unique == n and total == n, \
        f"{total} messages for {n} records: copies sent again within the duplicate window must be dropped"
    assert st is not None


# -- a restart with a spool left behind ----------------------------------------------------------

def test_restart_replays_spool(tmp_path, consumer, buses, sinkholed):
    """sinkholed stops (SIGTERM) while no server answers: what it took stays in the spool. Started
    again, still without a bus, it keeps the spool; once the server starts, it connects by itself
    and replays it: every record of the first run arrives."""
    bus = nh.NatsServer(tmp_path / "bus")   # not started yet: refused connections
    buses.append(bus)
    spool = tmp_path / "nats.spool"
    srv = sinkholed(nats_conf([bus.url], spool))
    wires = wires_for(600)
    replies, _ = tm.udp_exchange("127.0.0.1", srv.port, wires)
    tel, _ = srv.stop_ok()
    n = tel["processed"]
    assert n == len(replies) and tel["nats"] == (0, 0), tel["line"]
    assert tel["spooled"]["nats"] == n, tel["line"]
    assert f"{n} left in the spool for the next start" in srv.final_log
    assert tm.count_lines(spool) == n, "the spool holds one line per record"

    start_checked(srv)
    assert f"holds {n} records from before" in srv.log_text(srv._log_start)
    time.sleep(1)
    assert tm.count_lines(spool) == n, "without a bus the spool is kept"
    bus.start()
    wait_delivered(srv, want=n)
    tel2, _ = srv.stop_ok()
    assert tel2["nats"] == (n, 0) and tel2["replayed"]["nats"] == n and tel2["processed"] == 0, tel2["line"]
    assert spool.stat().st_size == 0
    msgs = consumer.read([bus.url], "reader")
    check_ids(msgs, n, "replayed at restart")
    assert len(msgs) == n


# -- the figures on /metrics and in sinkholectl -------------------------------------------------

def bus_figures(sock, mport):
    """The nats sink's figures from both readers: `sinkholectl telemetry` and a curl of /metrics
    (checked by promtool). Returns (ctl dict, metrics dict), the same keys in both."""
    text = ch.ctl_ok(sock, "telemetry")
    line = next((l for l in text.splitlines() if l.startswith("sink nats ")), None)
    assert line, f"no nats row in sinkholectl telemetry:\n{text}"
    words = line.split()[2:]
    ctl = {k: int(v) for k, v in zip(words[::2], words[1::2])}
    ctl["processed"] = int(ch.kv(text)["processed"])
    body = ch.scrape("127.0.0.1", mport)
    ch.promtool_check(body)
    s = ch.parse_metrics(body)
    rec = ch.series(s, "sinkholed_telemetry_records_total")
    met = {}
    for result in ("written", "failed", "spooled", "replayed"):
        key = frozenset({("sink", "nats"), ("result", result)})
        assert key in rec, f"/metrics has no nats {result} series: {sorted(map(sorted, rec))}"
        met[result] = int(rec[key])
    spool = ch.series(s, "sinkholed_telemetry_spool_records")
    assert set(spool) == {frozenset({("sink", "nats")})}, spool
    met["in_spool"] = int(spool[frozenset({("sink", "nats")})])
    met["reconnects"] = int(ch.value(s, "sinkholed_telemetry_reconnects_total", sink="nats"))
    met["processed"] = int(ch.value(s, "sinkholed_telemetry_events_processed_total"))
    # jsonl has no spool: no spooled/replayed rows for it, written and failed as before.
    assert frozenset({("sink", "jsonl"), ("result", "spooled")}) not in rec
    assert frozenset({("sink", "jsonl"), ("result", "written")}) in rec
    return ctl, met


def wait_figures(sock, mport, want, timeout=60.0):
    """Until both readers show at least the figures in `want` and agree with each other. Returns
    the /metrics figures."""
    last = {}

    def settled():
        ctl, met = bus_figures(sock, mport)
        last.update(ctl=ctl, met=met)
        return met if all(met[k] >= v for k, v in want.items()) and ctl == met else None

    got = tm.wait_for(settled, timeout=timeout, step=0.5)
    assert got, f"figures never reached {want}: {last}"
    return got


def test_metrics_and_ctl_count_written_spooled_replayed(tmp_path, consumer, buses, sinkholed):
    """The nats sink's figures on /metrics (curl, promtool) and in `sinkholectl telemetry`: N
    queries -> N written; with the bus killed, the next M records spooled (M in the spool, none
    written); with the bus back, all M replayed and written, the spool empty, one reconnect; the
    stream holds each record id once."""
    sock = tmp_path / "ctl.sock"
    mport = sk.free_port(False)
    bus = nh.NatsServer(tmp_path / "bus").start()
    buses.append(bus)
    spool = tmp_path / "nats.spool"
    srv = sinkholed(nats_conf([bus.url], spool),
                    extra=f"control:\n  socket: {sock}\nmetrics:\n  listen: 127.0.0.1@{mport}\n")
    wires = wires_for(700)
    first, second = wires[:300], wires[300:]

    replies, _ = tm.udp_exchange("127.0.0.1", srv.port, first)
    n1 = len(replies)
    assert n1 == len(first), f"{n1} answers to {len(first)} queries"
    met = wait_figures(sock, mport, {"written": n1})
    assert met == {"written": n1, "failed": 0, "spooled": 0, "replayed": 0, "in_spool": 0,
                   "reconnects": 0, "processed": n1}, met

    bus.kill()
    replies, _ = tm.udp_exchange("127.0.0.1", srv.port, second)
    n2 = len(replies)
    assert n2 == len(second), f"{n2} answers to {len(second)} queries"
    met = wait_figures(sock, mport, {"spooled": n2, "in_spool": n2, "processed": n1 + n2})
    assert met == {"written": n1, "failed": 0, "spooled": n2, "replayed": 0, "in_spool": n2,
                   "reconnects": 0, "processed": n1 + n2}, met
    assert tm.count_lines(spool) == n2, "the spool holds one line per record spooled"

    bus.start()
    met = wait_figures(sock, mport, {"written": n1 + n2, "replayed": n2, "reconnects": 1}, timeout=90)
    assert met == {"written": n1 + n2, "failed": 0, "spooled": n2, "replayed": n2, "in_spool": 0,
                   "reconnects": 1, "processed": n1 + n2}, met
    tel, _ = srv.stop_ok()
    assert tel["nats"] == (n1 + n2, 0) and tel["spooled"]["nats"] == tel["replayed"]["nats"] == n2, \
        f"the log's counters disagree with /metrics: {tel['line']}"
    msgs = consumer.read([bus.url], "reader")
    unique, total = check_ids(msgs, n1 + n2, "metrics")
    assert unique == total == n1 + n2


# -- a three-node cluster: one node killed, another restarted ------------------------------------

def test_cluster_node_killed_another_restarted(tmp_path, consumer, buses, sinkholed):
    """Three nats-servers, a stream of 3 replicas (created by sinkholed); 100,000 queries with
    dnsperf; mid-run the node sinkholed is connected to is killed (SIGKILL, stays down) and
    another restarted (SIGTERM, then started again; meanwhile one node alone has no quorum).
    Every record arrives, counted by record id."""
    nodes = nh.cluster(tmp_path / "cluster")
    buses.extend(nodes)
    nh.start_cluster(nodes)
    nh.wait_meta_leader(nodes)
    spool = tmp_path / "nats.spool"
    srv = sinkholed(nats_conf([s.url for s in nodes], spool, replicas=3))
    assert tm.wait_for(lambda: "nats: created stream SINKHOLE" in srv.log_text() or
                       "nats: stream SINKHOLE:" in srv.log_text(), timeout=30), srv.log_text()[-2000:]
    qfile = tm.write_qfile(tmp_path / "q.txt", NAMES)
    result = {}
    perf = threading.Thread(target=lambda: result.update(run_dnsperf(srv, qfile, 100000, 8000)))
    perf.start()
    try:
        time.sleep(3)
        killed = nh.serving(nodes)
        assert killed, "sinkholed is connected to no node"
        restarted = next(s for s in nodes if s is not killed)
        killed.kill()
        time.sleep(3)
        restarted.stop(signal.SIGTERM)
        time.sleep(1)
        restarted.start()
    finally:
        perf.join(timeout=120)
    assert not perf.is_alive() and result.get("sent") == 100000, result.get("output", "")[-500:]
    live = [s for s in nodes if s.alive()]
    assert len(live) == 2
    nh.wait_meta_leader(live)
    wait_delivered(srv, timeout=120)
    tel, stopped = srv.stop_ok()
    n = tel["processed"]
    assert n == stopped["udp_queries"] and n >= 99000, tel["line"]
    assert tel["nats"] == (n, 0), tel["line"]
    assert tel["reconnects"]["nats"] >= 1, f"the client must have moved to another node: {tel['line']}"
    msgs = consumer.read([s.url for s in live], "reader", timeout=240)
    unique, total = check_ids(msgs, n, "cluster")
    print(f"cluster: {n} records, {total} messages, {unique} unique ids; "
          f"spooled {tel['spooled']['nats']}, replayed {tel['replayed']['nats']}, "
          f"reconnects {tel['reconnects']['nats']}")
    assert unique == n


# -- config ---------------------------------------------------------------------------------------

def test_bad_nats_config_names_file_and_line(tmp_path):
    """A wrong telemetry.nats value stops --check (and the start) with file:line."""
    d = tmp_path / "bad"
    sk.copy_zones(d)
    srv = tm.TmServer(d, telemetry={"nats": {"servers": ["127.0.0.1:4222"], "spool": {"path": "s"}}},
                      geoip=None)
    srv.port = sk.free_port()
    srv.write_config()
    text = srv.conf.read_text()
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "nats:" in l)
    p = subprocess.run([str(sk.sinkholed_path()), "--check", "-c", str(srv.conf)],
                       capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert f"{srv.conf}:{line}: telemetry.nats.servers: expected nats://host:port" in out, out
