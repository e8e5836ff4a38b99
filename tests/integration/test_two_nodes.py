"""Two sinkholed nodes, NS9 and NS10, as docs/deploy.md sets them up (cluster issue, parts 1 and 6):
each on its own loopback address (127.0.0.9 and 127.0.0.10, the same port), with its own
identity, the same zones and seized list, one shared cookie secret, its own telemetry file,
control socket and /metrics. Both answer the same, and every trace of a query names the node
that saw it: NSID, CH TXT id.server and hostname.bind, the JSON lines' `node`, the dnstap
identity, /metrics' sinkholed_info and `sinkholectl status`.

Both nodes also publish to one bus (a nats-server with JetStream), each to its own subject
sinkhole.events.<node>; a durable consumer per subject reads back exactly the records of the
queries sent to that node.
"""
import json
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import dns.edns
import pytest

import ctlhelpers as ch
import natshelpers as nh
import skhelpers as sk
import tmhelpers as tm

NODES = {"ns9": "127.0.0.9", "ns10": "127.0.0.10"}
IDENT = {"ns9": "ns9.sinkhole.example", "ns10": "ns10.sinkhole.example"}
SECRET = "445536bcd2513298075a5d379663c962"
TAGS = {"case": "1:24-cv-2323", "operation": "Two nodes"}
LIST_TAGS = {"case": "1:20-cv-01217", "family": "necurs"}
COOKIE = 10
NSID = 3


def port_free_on_both():
    """A port free for UDP and TCP on both node addresses."""
    for _ in range(200):
        port = sk.free_port(False)
        held = []
        try:
            for addr in NODES.values():
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind((addr, port))
            return port
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no port free on 127.0.0.9 and 127.0.0.10")


class Node(sk.SinkServer):
    """One node: listens on its own address only; the config is the deploy document's."""

    def __init__(self, workdir, name, port, sockdir, bus=None):
        super().__init__(workdir, zones=[], port=port)
        self.name = name
        self.bus = bus          # a nats:// URL: telemetry.nats as docs/deploy.md has it
        self.ip = NODES[name]
        self.sock = sockdir / f"{name}.sock"
        self.mport = sk.free_port(False)

    def write_config(self, **override):
        zones = "".join(f"  - file: {f}\n" + (f"    name: {n}\n" if n else "") +
                        (f"    tags: {sk.yaml_tags(TAGS)}\n" if f == "sinkhole.test.zone" else "")
                        for f, n in sk.DEFAULT_ZONES)
        self.conf.write_text(
            "server:\n"
            f"  listen: [\"{self.ip}@{self.port}\"]\n"
            "  workers: 2\n"
            f"  identity: {IDENT[self.name]}\n"
            f"zones:\n{zones}"
            "seized:\n"
            "  - list: necurs.list\n"
            "    template: sinkhole.zone\n"
            f"    tags: {sk.yaml_tags(LIST_TAGS)}\n"
            f"cookies:\n  secret: {SECRET}\n"
            "telemetry:\n  stats_interval_s: 0\n  flush_ms: 100\n"
            "  jsonl: {path: events.jsonl}\n"
            "  dnstap: {file: events.tap}\n"
            + (f"  nats: {{servers: [\"{self.bus}\"], spool: {{path: {self.workdir / 'nats.spool'}}}}}\n"
               if self.bus else "") +
            f"control:\n  socket: {self.sock}\n"
            f"metrics:\n  listen: 127.0.0.1@{self.mport}\n")

    def start(self, timeout=10.0):
        # The port is shared by design: no retry on another one.
        self.write_config()
        self._logf = open(self.log, "ab")
        self._log_start = self.log.stat().st_size
        self.proc = subprocess.Popen([str(sk.sinkholed_path()), "-c", str(self.conf)], cwd="/",
                                     stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=subprocess.STDOUT)
        if not self._wait_ready(timeout):
            self.kill()
            raise RuntimeError(f"{self.name} did not start:\n{self.log_text()[-3000:]}")
        return self

    def addr(self, family=4):
        return self.ip

    def _answers(self):
        return False


def _start_nodes(tmp_path, bus=None):
    """Start NS9 and NS10 (publishing to `bus` when given); yields {name: Node}, kills both."""
    if not all(_bindable(a) for a in NODES.values()):
        pytest.skip("127.0.0.9 / 127.0.0.10 cannot be bound")
    sockdir = Path(tempfile.mkdtemp(prefix="sk2n-", dir="/tmp"))
    port = port_free_on_both()
    started = []
    try:
        for name in NODES:
            d = tmp_path / name
            sk.copy_zones(d)
            for f in ("necurs.list", "sinkhole.zone"):
                shutil.copy(sk.HERE / "seized" / f, d / f)
            started.append(Node(d, name, port, sockdir, bus=bus).start())
        yield {n.name: n for n in started}
    finally:
        for n in started:
            n.kill()
        shutil.rmtree(sockdir, ignore_errors=True)


@pytest.fixture
def nodes(tmp_path):
    yield from _start_nodes(tmp_path)


@pytest.fixture
def bus(tmp_path):
    """One nats-server with JetStream on a free loopback port, killed at teardown."""
    b = nh.NatsServer(tmp_path / "bus")
    try:
        yield b.start()
    finally:
        b.kill()


@pytest.fixture
def bus_nodes(tmp_path, bus):
    yield from _start_nodes(tmp_path, bus=bus.url)


def _bindable(addr):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((addr, 0))
        return True
    except OSError:
        return False


def ask(node, name, qtype="A", qclass="IN", transport="udp", options=None):
    q = sk.make_query(name, qtype, qclass, edns=bool(options), options=options)
    return sk.ask(node, q, transport)


def txt(r):
    return [b"".join(rd.strings) for rrset in r.answer for rd in rrset]


QUERIES = [("www.sinkhole.test", "A"), ("x7.sinkhole.test", "AAAA"), ("target.other.test", "A"),
           ("nope.other.test", "MX"), ("a.necurs-a.test", "TXT"), ("named.test", "NS"),
           ("nowhere.example", "A")]


def test_ns9_and_ns10_answer_alike_each_as_itself(nodes):
    ns9, ns10 = nodes["ns9"], nodes["ns10"]
    assert ns9.port == ns10.port, "both nodes on the same port, each on its own address"
    # The same answers for the same zones and seized list, over UDP and TCP.
    for name, qtype in QUERIES:
        for transport in ("udp", "tcp"):
            a, b = (ask(n, name, qtype, transport=transport) for n in (ns9, ns10))
            assert (a.rcode(), a.flags) == (b.rcode(), b.flags), (name, qtype, transport)
            for sec in ("answer", "authority", "additional"):
                assert sk.rrset_texts(getattr(a, sec)) == sk.rrset_texts(getattr(b, sec)), \
                    (name, qtype, transport, sec)
    # ... and each says who it is: NSID, id.server, hostname.bind.
    for name, node in nodes.items():
        r = ask(node, "www.sinkhole.test", options=[dns.edns.GenericOption(NSID, b"")])
        opt = sk.get_option(r, NSID)
        assert opt is not None and sk.option_bytes(opt) == IDENT[name].encode(), name
        for q in ("id.server", "hostname.bind"):
            for transport in ("udp", "tcp"):
                assert txt(ask(node, q, "TXT", "CH", transport)) == [IDENT[name].encode()], (name, q)
        st = ch.kv(ch.ctl_ok(node.sock, "status"))
        assert st["identity"] == IDENT[name] and st["listen"] == f"{node.ip}@{node.port}"
        s = ch.parse_metrics(ch.scrape("127.0.0.1", node.mport))
        assert ch.value(s, "sinkholed_info", identity=IDENT[name], version="0.1.0") == 1


def test_records_name_the_node_that_saw_them(nodes):
    """Each node's JSON lines and dnstap frames carry its identity and its own address, and only
    the queries sent to it; the shared cookie secret makes a cookie from NS9 valid at NS10."""
    sent = {"ns9": [], "ns10": []}
    for i in range(12):
        name = "ns9" if i % 3 else "ns10"
        qname = f"r{i}.{name}-probe.sinkhole.test."
        r = ask(nodes[name], qname, transport="tcp" if i % 2 else "udp")
        sent[name].append((qname, r.id))
    # A cookie made by NS9 for this client, then presented to NS10: valid there (same secret).
    client = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    r = ask(nodes["ns9"], "cookie.sinkhole.test.", options=[dns.edns.GenericOption(COOKIE, client)])
    full = sk.option_bytes(sk.get_option(r, COOKIE))
    assert len(full) == 24
    r = ask(nodes["ns10"], "cookie.sinkhole.test.", options=[dns.edns.GenericOption(COOKIE, full)])
    assert sk.option_bytes(sk.get_option(r, COOKIE)) == full, "NS10 accepts and reuses NS9's cookie"
    sent["ns9"].append(("cookie.sinkhole.test.", None))
    sent["ns10"].append(("cookie.sinkhole.test.", None))

    for name, node in nodes.items():
        assert node.stop() == 0
        recs = tm.read_jsonl(node.workdir / "events.jsonl")
        assert len(recs) == len(sent[name]), f"{name}: {len(recs)} records, {len(sent[name])} sent"
        assert {r["node"] for r in recs} == {IDENT[name]}, name
        assert {r["dst"] for r in recs} == {node.ip}, name
        other = "ns10" if name == "ns9" else "ns9"
        assert not any(f".{other}-probe." in r["qname"] for r in recs), f"{name} saw {other}'s queries"
        assert {r["qname"] for r in recs} == {q for q, _ in sent[name]}
        tagged = [r for r in recs if r["qname"].endswith(".sinkhole.test.")]
        assert all(r["tags"] == TAGS for r in tagged), name
        if name == "ns10":
            (c,) = [r for r in recs if r["qname"] == "cookie.sinkhole.test."]
            assert c["edns"]["cookie_state"] == "valid", c
        _, raw = tm.fstrm_file_frames((node.workdir / "events.tap").read_bytes())
        frames = [tm.decode_dnstap(f) for f in raw]
        assert frames and {d["identity"] for d in frames} == {IDENT[name]}, name


def node_subject(name):
    return "sinkhole.events." + IDENT[name].replace(".", "_")


def test_both_nodes_reach_the_bus(bus_nodes, bus, tmp_path):
    """NS9 and NS10 publish to one JetStream stream, each on sinkhole.events.<node>: a durable
    consumer per node's subject reads one message per query sent to that node (counted by
    record_id), each naming its node in `node`, `record_id` and subject; each node's /metrics
    counts as written exactly what it sent to the bus, and the ids are those of its JSON lines."""
    (tmp_path / "consumer").mkdir()
    consumer = nh.Consumer(tmp_path / "consumer")
    counts = {"ns9": 240, "ns10": 130}
    for name, n in counts.items():
        node = bus_nodes[name]
        wires = []
        for i in range(n):
            q = sk.make_query(f"q{i}.{name}-bus.sinkhole.test.")
            q.id = i + 1
            wires.append(q.to_wire())
        half = n // 2
        got, _ = tm.udp_exchange(node.ip, node.port, wires[:half])
        got2, _ = tm.tcp_exchange(node.ip, node.port, wires[half:])
        assert len(got) + len(got2) == n, f"{name}: {len(got) + len(got2)} answers to {n} queries"

    def written(node):
        s = ch.parse_metrics(ch.scrape("127.0.0.1", node.mport))
        return ch.value(s, "sinkholed_telemetry_records_total", sink="nats", result="written")

    for name, n in counts.items():
        assert tm.wait_for(lambda: written(bus_nodes[name]) >= n, timeout=60, step=0.3), \
            f"{name}: the bus acknowledged {written(bus_nodes[name])} of {n}"
    by_node = {}
    for name, n in counts.items():
        msgs = consumer.read([bus.url], f"reader_{name}", subject=node_subject(name))
        ids = [m[0] for m in msgs]
        assert len(ids) == len(set(ids)) == n, f"{name}: {len(ids)} messages, {len(set(ids))} ids, {n} sent"
        for mid, subj, body in msgs:
            rec = json.loads(body)
            assert subj == node_subject(name), (name, subj)
            assert rec["record_id"] == mid and nh.parse_id(mid)[0] == IDENT[name], (name, mid)
            assert rec["node"] == IDENT[name] and rec["dst"] == bus_nodes[name].ip, (name, rec)
            assert f".{name}-bus." in rec["qname"], (name, rec["qname"])
        by_node[name] = set(ids)
    # The whole stream holds both nodes' records and nothing else.
    everything = consumer.read([bus.url], "reader_all")
    assert {m[0] for m in everything} == by_node["ns9"] | by_node["ns10"]
    assert len(everything) == sum(counts.values())
    for name, n in counts.items():
        node = bus_nodes[name]
        s = ch.parse_metrics(ch.scrape("127.0.0.1", node.mport))
        assert written(node) == n, f"{name}: /metrics says {written(node)} written, {n} sent"
        assert ch.value(s, "sinkholed_telemetry_records_total", sink="nats", result="failed") == 0
        assert node.stop() == 0
        jsonl = {r["record_id"] for r in tm.read_jsonl(node.workdir / "events.jsonl")}
        assert jsonl == by_node[name], f"{name}: the bus and the JSON lines hold other records"
