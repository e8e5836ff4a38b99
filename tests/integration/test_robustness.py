"""test_robustness -- 10,000 random and mutated datagrams, and a sample as TCP frames: the server
stays up, every reply it sends is a well-formed response to the message that caused it, and it
still answers correctly afterwards. The seed is printed so a failure can be replayed
(SK_FUZZ_SEED=...)."""
import os
import random
import select
import socket
import struct
import time

import dns.edns
import dns.message
import pytest

import skhelpers as sk
from skhelpers import rrset_texts

TOTAL_UDP = 10000
TOTAL_TCP = 1000
WWW = {"www.sinkhole.test. 3600 IN A 192.0.2.80"}


def seeds():
    """Valid queries to mutate: plain, EDNS with options, odd types and classes, raw tricks."""
    out = []
    for name, qtype in [("www.sinkhole.test", "A"), ("sinkhole.test", "ANY"), ("big.sinkhole.test", "TXT"),
                        ("x.sub.sinkhole.test", "A"), ("cname1.sinkhole.test", "A"), ("nothere.other.test", "MX"),
                        ("loop1.sinkhole.test", "A"), ("x.wc.sinkhole.test", "AAAA"), ("example.com", "A"),
                        ("sinkhole.test", "AXFR"), ("huge.sinkhole.test", "TXT")]:
        out.append(sk.make_query(name, qtype).to_wire())
        out.append(sk.make_query(name, qtype, do=True, payload=4096, options=[
            dns.edns.ECSOption("192.0.2.0", 24), dns.edns.GenericOption(dns.edns.NSID, b""),
            dns.edns.GenericOption(10, bytes(8))]).to_wire())
    out.append(sk.make_query("id.server", "TXT", "CH").to_wire())
    out.append(sk.make_query("version.bind", "TXT", "CH", edns=True).to_wire())
    out.append(sk.raw_query("www.sinkhole.test", opt=sk.opt_rr(version=1)))
    out.append(sk.raw_query("sinkhole.test", 6, flags=4 << 11))                       # NOTIFY
    out.append(sk.header(1, 0, 1) + b"\xc0\x0c\x00\x01\x00\x01")                      # pointer loop
    out.append(sk.header(1, 0, 1) + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63
               + b"\x3f" + b"d" * 63 + b"\x00\x00\x01\x00\x01")                        # name > 255
    out.append(sk.header(1, 0, 1) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01")     # label > 63
    out.append(sk.header(1, 0, 1, 0, 0, 1) + sk.question("www.sinkhole.test") + b"\xc0\x0c" +
               struct.pack("!HHIH", 41, 1232, 0, 0))                                  # OPT, pointer owner
    return out


def mutate(rng, base):
    m = bytearray(base)
    kind = rng.randrange(8)
    if kind == 0:                                   # flip bytes
        for _ in range(rng.randint(1, 6)):
            if m:
                m[rng.randrange(len(m))] = rng.randrange(256)
    elif kind == 1:                                 # truncate
        del m[rng.randrange(len(m) + 1):]
    elif kind == 2:                                 # extend
        m += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == 3:                                 # random header counts
        if len(m) >= 12:
            m[4:12] = struct.pack("!HHHH", *(rng.choice([0, 1, 2, 3, 0xffff, rng.randrange(65536)])
                                             for _ in range(4)))
    elif kind == 4:                                 # random flags/opcode/rcode
        if len(m) >= 4:
            m[2:4] = struct.pack("!H", rng.randrange(65536) & ~0x8000)
    elif kind == 5:                                 # flip bits inside the question/OPT area
        for _ in range(rng.randint(1, 4)):
            if len(m) > 12:
                i = rng.randrange(12, len(m))
                m[i] ^= 1 << rng.randrange(8)
    elif kind == 6:                                 # splice two seeds
        cut = rng.randrange(len(m) + 1)
        m = m[:cut] + bytearray(rng.choice(SEEDS)[rng.randrange(12, 20):])
    else:                                           # pure random, header-sized or bigger
        m = bytearray(rng.randrange(256) for _ in range(rng.choice([0, 1, 11, 12, 13, 17, 40, 300, 600])))
    return bytes(m)


SEEDS = seeds()


def check_reply(reply, sent_ids, problems, what):
    if len(reply) < 12:
        problems.append(f"{what}: reply shorter than a header ({len(reply)} bytes)")
        return
    h = sk.parse_header(reply)
    if not h["qr"]:
        problems.append(f"{what}: reply without QR: {reply[:32].hex()}")
    if h["id"] not in sent_ids:
        problems.append(f"{what}: reply ID {h['id']} matches no query sent")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    sk.copy_zones(d)
    srv = sk.SinkServer(d)
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


def still_answers(srv):
    for transport in ("udp", "tcp"):
        r = sk.ask(srv, sk.make_query("www.sinkhole.test", "A"), transport)
        assert rrset_texts(r.answer) == WWW, transport
    r = sk.ask(srv, sk.make_query("www.sinkhole.test", "A", do=True, options=[dns.edns.ECSOption("192.0.2.0", 24)]))
    assert rrset_texts(r.answer) == WWW


def test_udp_random_and_mutated(fuzz_server):
    """Bursts of 100 datagrams, each burst from its own socket, so that every reply can be checked
    against the IDs of exactly the burst that caused it, even when it arrives late."""
    seed = int(os.environ.get("SK_FUZZ_SEED", random.randrange(1 << 32)))
    print(f"SK_FUZZ_SEED={seed}")
    rng = random.Random(seed)
    problems = []
    replies = 0
    deadline = time.monotonic() + 60
    burst = 100
    live = []  # (socket, ids) of the last few bursts

    def drain(wait):
        nonlocal replies
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            r, _, _ = select.select([s for s, _ in live], [], [], wait)
            if not r:
                return
            for sock in r:
                ids = dict(live)[sock]
                try:
                    reply = sock.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                replies += 1
                check_reply(reply, ids, problems, f"udp burst from port {sock.getsockname()[1]}")

    try:
        for start in range(0, TOTAL_UDP, burst):
            assert time.monotonic() < deadline, "fuzz loop over its time budget"
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.connect((sk.V4, fuzz_server.port))
            s.setblocking(False)
            sent_ids = set()
            live.append((s, sent_ids))
            for i in range(burst):
                msg = mutate(rng, rng.choice(SEEDS)) if (start + i) % 5 else mutate(rng, b"")
                if len(msg) >= 2:
                    sent_ids.add(struct.unpack("!H", msg[:2])[0])
                try:
                    s.send(msg)
                except (BlockingIOError, ConnectionRefusedError):
                    pass
            drain(0.03)
            if len(live) > 8:
                live.pop(0)[0].close()
            if not fuzz_server.alive():
                break
        drain(0.1)
    finally:
        for s, _ in live:
            s.close()
    assert fuzz_server.alive(), f"server died (seed {seed}); log:\n{fuzz_server.log_text()[-3000:]}"
    assert not problems, f"{len(problems)} bad replies (seed {seed}): {problems[:10]}"
    assert replies > 0, "not a single reply: the server answered none of the valid-looking messages"
    still_answers(fuzz_server)


def test_tcp_random_and_mutated(fuzz_server):
    seed = int(os.environ.get("SK_FUZZ_SEED", random.randrange(1 << 32)))
    print(f"SK_FUZZ_SEED={seed}")
    rng = random.Random(seed ^ 0x7c9)
    problems = []
    per_conn = 50
    deadline = time.monotonic() + 60
    for c in range(TOTAL_TCP // per_conn):
        assert time.monotonic() < deadline, "fuzz loop over its time budget"
        msgs = [mutate(rng, rng.choice(SEEDS)) for _ in range(per_conn)]
        msgs = [m[:65535] for m in msgs]
        sent_ids = {struct.unpack("!H", m[:2])[0] for m in msgs if len(m) >= 2}
        blob = b"".join(sk.frame(m) for m in msgs)
        if c % 10 == 9:  # a frame whose length lies: longer than what follows
            blob += struct.pack("!H", 500) + b"\x00" * 20
        with sk.tcp_connect(fuzz_server, 4) as s:
            try:
                s.sendall(blob)
                s.shutdown(socket.SHUT_WR)
            except OSError:  # the server may close on garbage: EPIPE, ECONNRESET, ENOTCONN
                pass
            end = time.monotonic() + 3
            while time.monotonic() < end:
                try:
                    reply = sk.recv_frame(s, max(0.01, end - time.monotonic()))
                except (socket.timeout, EOFError, OSError):
                    break
                check_reply(reply, sent_ids, problems, f"tcp conn {c}")
        if not fuzz_server.alive():
            break
    assert fuzz_server.alive(), f"server died (seed {seed}); log:\n{fuzz_server.log_text()[-3000:]}"
    assert not problems, f"{len(problems)} bad replies (seed {seed}): {problems[:10]}"
    still_answers(fuzz_server)
