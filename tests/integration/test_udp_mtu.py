"""UDP replies never fragment (RFC 9715): DF set, and a reply larger than the interface carries goes
out truncated (TC) instead, so the client asks again over TCP.

The client sits in a network namespace this test creates, behind a veth pair whose MTU is 1280;
the server listens on the host end. The answer is huge.sinkhole.test TXT (12 strings, ~2,400
bytes) asked for with an EDNS payload of 4096, which the server (edns_size 4096) would send whole.
"""
import json
import shutil
import tempfile
from pathlib import Path

import pytest

import ctlhelpers as ch
import skhelpers as sk
import tmhelpers as tm

HOST4, NS4 = "198.51.100.1", "198.51.100.2"      # TEST-NET-2, only on the veth pair
HOST6, NS6 = "2001:db8:53::1", "2001:db8:53::2"  # documentation prefix, only on the veth pair
MTU = 1280

# Runs in the namespace (Debian's python3 and dnspython). Captures the server's datagrams with an
# AF_PACKET socket of the namespace, so the IP header of each reply is seen as it arrived.
NS_CLIENT = r"""
import json, socket, struct, sys, time
import dns.flags, dns.message, dns.query
host4, host6, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
cap.settimeout(0.2)

def captured_reply(qid, v6):
    # The IP packet that carried the reply with this DNS id, from the server's port.
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            pkt, addr = cap.recvfrom(65535)
        except socket.timeout:
            continue
        if not v6 and addr[1] == 0x0800 and pkt[9] == 17:
            hl = (pkt[0] & 0x0f) * 4
            sport, = struct.unpack("!H", pkt[hl:hl + 2])
            if sport == port and struct.unpack("!H", pkt[hl + 8:hl + 10])[0] == qid:
                frag, = struct.unpack("!H", pkt[6:8])
                return {"len": len(pkt), "df": bool(frag & 0x4000), "mf": bool(frag & 0x2000),
                        "offset": frag & 0x1fff}
        if v6 and addr[1] == 0x86dd:
            nxt, body = pkt[6], pkt[40:]
            if nxt == 44:   # a fragment header: the reply was split
                return {"len": len(pkt), "fragment": True}
            if nxt == 17 and struct.unpack("!H", body[0:2])[0] == port and \
                    struct.unpack("!H", body[8:10])[0] == qid:
                return {"len": len(pkt), "fragment": False}
    return None

def ask(name, rdtype, qid, host, v6, tcp=False, payload=4096):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=payload)
    q.id = qid
    q.flags = 0
    if tcp:
        r = dns.query.tcp(q, host, port=port, timeout=3)
    else:
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q.to_wire(), (host, port))
        r = dns.message.from_wire(s.recvfrom(65535)[0])
        s.close()
    got = {"tc": bool(r.flags & dns.flags.TC), "answers": sum(len(s) for s in r.answer),
           "edns": r.edns, "payload": r.payload, "rcode": r.rcode()}
    if not tcp:
        got["ip"] = captured_reply(qid, v6)
    return got

out = {}
out["small4"] = ask("a.sinkhole.test.", "A", 7001, host4, False)
out["huge4"] = ask("huge.sinkhole.test.", "TXT", 7002, host4, False)
out["huge4_tcp"] = ask("huge.sinkhole.test.", "TXT", 7003, host4, False, tcp=True)
out["small6"] = ask("a.sinkhole.test.", "A", 7004, host6, True)
out["huge6"] = ask("huge.sinkhole.test.", "TXT", 7005, host6, True)
print(json.dumps(out))
"""


@pytest.fixture
def mtu_netns():
    try:
        ctx = tm.veth_netns(HOST4, NS4, 30, mtu=MTU, v6=(HOST6, NS6, 64))
        ns = ctx.__enter__()
    except tm.NetnsUnavailable as e:
        print(f"SKIP: cannot create a network namespace: {e}")
        pytest.skip(f"cannot create a network namespace: {e}")
    try:
        yield ns
    finally:
        ctx.__exit__(None, None, None)


def test_replies_never_fragment_and_too_large_ones_are_truncated(tmp_path, mtu_netns):
    sockdir = Path(tempfile.mkdtemp(prefix="skmtu-", dir="/tmp"))  # sun_path holds 107 bytes
    sock = sockdir / "c.sock"
    d = tmp_path / "srv"
    sk.copy_zones(d)
    srv = tm.TmServer(d, listen_extra=[HOST4, HOST6], edns_size=4096, workers=1,
                      extra=f"control:\n  socket: {sock}\n")
    try:
        srv.start()
        # On loopback (MTU 65536) the same question gets the whole answer over UDP: what follows is
        # the interface's doing, not the answer's.
        q = sk.make_query("huge.sinkhole.test", "TXT", edns=True, payload=4096)
        r = sk.ask(srv, q)
        assert not (r.flags & 0x0200) and sum(len(s) for s in r.answer) == 12, r
        assert len(r.to_wire()) > MTU

        p = None
        for _ in range(3):  # the veth may need a moment before the first packet gets through
            p = tm.netns_run(mtu_netns, [tm.PY, "-c", NS_CLIENT, HOST4, HOST6, str(srv.port)])
            if p.returncode == 0:
                break
        assert p.returncode == 0, f"client in {mtu_netns} failed: {p.stderr[-1500:]}"
        got = json.loads(p.stdout)

        small = got["small4"]
        assert small["answers"] == 1 and not small["tc"]
        assert small["ip"] and small["ip"]["df"], f"IPv4 reply without DF: {small}"

        huge = got["huge4"]
        assert huge["tc"] and huge["answers"] == 0 and huge["rcode"] == 0, huge
        assert huge["edns"] == 0 and huge["payload"] == 4096, f"the OPT is kept: {huge}"
        ip = huge["ip"]
        assert ip and ip["len"] <= MTU and ip["df"] and not ip["mf"] and ip["offset"] == 0, \
            f"the truncated reply, whole and unfragmented: {ip}"
        assert got["huge4_tcp"]["answers"] == 12 and not got["huge4_tcp"]["tc"], "TCP has it all"

        assert got["small6"]["answers"] == 1 and got["small6"]["ip"] == {
            "len": got["small6"]["ip"]["len"], "fragment": False}
        huge6 = got["huge6"]
        assert huge6["tc"] and huge6["answers"] == 0, huge6
        assert huge6["ip"] and not huge6["ip"]["fragment"] and huge6["ip"]["len"] <= MTU, huge6

        st = ch.kv(ch.ctl_ok(sock, "stats"))
        assert st["udp_cut"] == "2", f"two replies cut (IPv4 and IPv6): {st}"
        assert st["udp_send_errors"] == "0", st
    finally:
        srv.kill()
        shutil.rmtree(sockdir, ignore_errors=True)
