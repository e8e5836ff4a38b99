"""tmhelpers -- helpers for the telemetry integration tests (test_telemetry.py).

A sinkholed with `telemetry:` and `geoip:` sections, readers for what it writes (JSON lines, dnstap
files and Frame Streams sockets, decoded here from the bytes), counters from its log, fast query
senders, dnsperf, a network namespace with a veth pair, and a small tmpfs. Every wait is bounded.
Traffic goes to loopback and to namespaces created here only; everything created is removed at
teardown, also when a test fails.
"""
import errno
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import dns.message
import dns.rcode

import skhelpers as sk

PY = "/usr/bin/python3"

# $SK_GEOIP_DIR (as for tests/unit/test_geo.c), else ../shared/testdata/geoip from the repository root
GEO_DIR = Path(os.environ.get("SK_GEOIP_DIR") or sk.REPO.parent / "shared" / "testdata" / "geoip")
CITY_DB = GEO_DIR / "GeoIP2-City-Test.mmdb"
ASN_DB = GEO_DIR / "GeoLite2-ASN-Test.mmdb"
COUNTRY_DB = GEO_DIR / "GeoLite2-Country-Test.mmdb"
BAD_DIR = GEO_DIR / "bad"
CORRUPT_DB = BAD_DIR / "libmaxminddb-corrupt-search-tree.mmdb"

TAGS_SINKHOLE = {"case": "1:24-cv-2323", "operation": "Azure Abuse Enterprise", "family": "Lumma"}
TAGS_NAMED = {"operation": "Op \u00c9toile", "n": "42"}
TAGS_CHILD = {"case": "child-7"}

# zone file, name, tags. other.test has no tags ({} in records).
TM_ZONES = [
    ("sinkhole.test.zone", None, TAGS_SINKHOLE),
    ("other.test.zone", None, None),
    ("named.test.zone", "named.test", TAGS_NAMED),
    ("child.sinkhole.test.zone", None, TAGS_CHILD),
]
ZONE_TAGS = {"sinkhole.test.": TAGS_SINKHOLE, "other.test.": {}, "named.test.": TAGS_NAMED,
             "child.sinkhole.test.": TAGS_CHILD}

# Known answers of the test databases (checked with mmdblookup; see GEO_DIR/README.md). The ECS
# subnets lie inside the networks the databases hold: 81.2.69.142/31, 2.125.160.216/29,
# 89.160.20.112/28, 216.160.83.56/29 (City); 89.160.20.112/28 -> AS29518, 216.160.83.56/29 -> AS209.
GEO_SE = {"country": "SE", "region_code": "E", "region": "\u00d6sterg\u00f6tland County",
          "city": "Link\u00f6ping", "lat": 58.4167, "lon": 15.6167, "asn": 29518,
          "as_org": "Bredband2 AB"}
GEO_US = {"country": "US", "region_code": "WA", "region": "Washington", "city": "Milton",
          "lat": 47.2513, "lon": -122.3149, "asn": 209}
GEO_GB_LONDON = {"country": "GB", "region_code": "ENG", "region": "England", "city": "London",
                 "lat": 51.5142, "lon": -0.0931}
# Boxford has two subdivisions (ENG, then WBK); which one a record names is not fixed by the docs,
# so only country and city are compared.
GEO_GB_BOXFORD = {"country": "GB", "city": "Boxford", "lat": 51.75, "lon": -1.25}

TEL_LINE = re.compile(r"telemetry: ((?:\w+ written \d+ failed \d+ reconnects \d+(?: spooled \d+ replayed \d+)?; )*)"
                      r"dropped \(ring full\) (\d+); processed (\d+)")
SINK_PART = re.compile(r"(\w+) written (\d+) failed (\d+) reconnects (\d+)(?: spooled (\d+) replayed (\d+))?")
STOPPED_LINE = re.compile(r"stopped: udp (\d+) queries, (\d+) replies, (\d+) dropped, (\d+) send errors; "
                          r"tcp (\d+) connections, (\d+) rejected, (\d+) timed out, (\d+) queries, (\d+) replies")
NO_DNSTAP = re.compile(r"without dnstap support", re.I)


class DnstapUnsupported(Exception):
    """The binary under test was built without dnstap."""


def yq(s):
    return sk.yaml_str(s)


def yaml_flow(v):
    """A value in YAML flow style: strings and paths quoted, lists and dicts nested, booleans as
    true/false, numbers as they are."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (str, Path)):
        return yq(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_flow(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_flow(x)}" for k, x in v.items()) + "}"
    return str(v)


def telemetry_yaml(tel, geoip):
    """The `telemetry:` and `geoip:` sections. tel: dict with flush_ms, ring_size, stats_interval_s,
    jsonl (dict), dnstap (dict), nats (dict, may nest: servers list, spool dict); geoip: dict with
    city/asn (paths) or None."""
    out = []
    if tel is not None:
        out.append("telemetry:")
        for k in ("ring_size", "flush_ms", "stats_interval_s"):
            if k in tel:
                out.append(f"  {k}: {tel[k]}")
        for sink in ("jsonl", "dnstap", "nats"):
            if tel.get(sink):
                out.append(f"  {sink}: {yaml_flow(tel[sink])}")
    if geoip:
        out.append("geoip:")
        for k, v in geoip.items():
            out.append(f"  {k}: {yq(v)}")
    return "\n".join(out) + "\n"


class TmServer(sk.SinkServer):
    """A SinkServer whose config also has telemetry/geoip sections and optional extra listen
    addresses."""

    def __init__(self, workdir, zones=None, telemetry=None, geoip=None, listen_extra=(), **conf):
        super().__init__(workdir, zones=zones if zones is not None else TM_ZONES, **conf)
        self.telemetry = telemetry
        self.geoip = geoip
        self.listen_extra = list(listen_extra)

    def write_config(self, **override):
        super().write_config(**override)
        text = self.conf.read_text()
        if self.listen_extra:
            extra = ", ".join(yq(f"{a}@{self.port}") for a in self.listen_extra)
            text = re.sub(r"^(  listen: \[)(.*)\]$", lambda m: f"{m.group(1)}{m.group(2)}, {extra}]",
                          text, count=1, flags=re.M)
        self.conf.write_text(text + telemetry_yaml(self.telemetry, self.geoip))

    def start(self, timeout=10.0):
        try:
            return super().start(timeout)
        except RuntimeError:
            if NO_DNSTAP.search(self.log_text()):
                raise DnstapUnsupported(next(l for l in self.log_text().splitlines()
                                             if NO_DNSTAP.search(l)))
            raise

    def path(self, name):
        return self.workdir / name

    def stop_ok(self, timeout=30.0):
        """SIGTERM; assert exit code 0; return (telemetry counters, stopped counters)."""
        start = getattr(self, "_log_start", 0)
        rc = self.stop(signal.SIGTERM, timeout=timeout)
        log = self.log_text(start)
        assert rc == 0, f"sinkholed exit code {rc} after SIGTERM; log tail:\n{log[-3000:]}"
        self.final_log = log
        return last_tel_stats(log), stopped_stats(log)


def last_tel_stats(text):
    """The last `telemetry: <sink> written N failed N reconnects N[ spooled N replayed N]; ...;
    dropped (ring full) N; processed N` line as {"jsonl": (written, failed), "dnstap": (...),
    "reconnects": {sink: N}, "spooled": {sink: N}, "replayed": {sink: N}, "dropped": N,
    "processed": N}, or None. Sinks without a spool have no entry in spooled/replayed."""
    found = None
    for line in text.splitlines():
        m = TEL_LINE.search(line)
        if m:
            parts = SINK_PART.findall(m.group(1))
            d = {s: (int(w), int(f)) for s, w, f, _, _, _ in parts}
            d["reconnects"] = {s: int(r) for s, _, _, r, _, _ in parts}
            d["spooled"] = {s: int(sp) for s, _, _, _, sp, _ in parts if sp}
            d["replayed"] = {s: int(rp) for s, _, _, _, _, rp in parts if rp}
            d["dropped"], d["processed"] = int(m.group(2)), int(m.group(3))
            d["line"] = line
            found = d
    return found


DNSTAP_CLOSED = re.compile(r"dnstap: (.*): closed; (\d+) records written, (\d+) failed")


def dnstap_closed(text):
    """(written, failed) from the dnstap sink's own last line at close (see server/telemetry/
    dnstap.h: "close() drains the queue and logs the final counts"), or None."""
    m = None
    for m in DNSTAP_CLOSED.finditer(text):
        pass
    return (int(m.group(2)), int(m.group(3))) if m else None


def stopped_stats(text):
    m = None
    for m in STOPPED_LINE.finditer(text):
        pass
    if not m:
        return None
    v = [int(x) for x in m.groups()]
    return {"udp_queries": v[0], "udp_replies": v[1], "udp_dropped": v[2], "send_errors": v[3],
            "tcp_queries": v[7], "tcp_replies": v[8], "replies": v[1] + v[8], "line": m.group(0)}


# -- JSON lines ---------------------------------------------------------------------------------

def read_jsonl(path):
    """Every line parsed with json.loads (strict UTF-8). The file must end with a newline (no
    record cut in the middle). Returns the list of objects."""
    data = Path(path).read_bytes()
    if not data:
        return []
    assert data.endswith(b"\n"), f"{path}: last line is not terminated: {data[-200:]!r}"
    out = []
    for n, raw in enumerate(data[:-1].split(b"\n"), 1):
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise AssertionError(f"{path}:{n}: not a JSON line ({e}): {raw[:300]!r}") from None
        assert isinstance(obj, dict), f"{path}:{n}: not an object: {raw[:200]!r}"
        out.append(obj)
    return out


def count_lines(path):
    try:
        return Path(path).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for(pred, timeout=10.0, step=0.05):
    """Poll pred() until true or timeout; returns its last value. Bounded."""
    deadline = time.monotonic() + timeout
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(step)
        v = pred()
    return v


# -- sending queries ----------------------------------------------------------------------------

def udp_exchange(addr, port, wires, timeout=3.0, window=32):
    """Send each wire query over one UDP socket, at most `window` outstanding. Returns
    ({id: reply wire}, local port). Never retries (a retry would be a second record)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    replies = {}
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.bind(("::1" if fam == socket.AF_INET6 and addr == "::1" else "", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sport = s.getsockname()[1]
        i = 0
        deadline = time.monotonic() + timeout + len(wires) * 0.01
        while len(replies) < len(wires) and time.monotonic() < deadline:
            while i < len(wires) and i - len(replies) < window:
                s.sendto(wires[i], (addr, port))
                i += 1
            s.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            if len(data) >= 2:
                replies[struct.unpack("!H", data[:2])[0]] = data
    return replies, sport


def tcp_exchange(addr, port, wires, timeout=5.0, chunk=16):
    """Send the wire queries pipelined on one TCP connection, `chunk` at a time (below the server's
    tcp_max_pending). Returns ({id: reply wire}, local port)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    replies = {}
    deadline = time.monotonic() + timeout + len(wires) * 0.01
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((addr, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sport = s.getsockname()[1]
        for k in range(0, len(wires), chunk):
            part = wires[k:k + chunk]
            s.sendall(b"".join(sk.frame(w) for w in part))
            for _ in part:
                data = sk.recv_frame(s, max(0.1, deadline - time.monotonic()))
                replies[struct.unpack("!H", data[:2])[0]] = data
    return replies, sport


def exchange(addr, port, wires, transport):
    return (udp_exchange if transport == "udp" else tcp_exchange)(addr, port, wires)


def rcode_of(wire):
    return dns.rcode.to_text(dns.message.from_wire(wire).rcode())


# -- dnsperf ------------------------------------------------------------------------------------

def dnsperf(addr, port, qfile, *, limit_s=None, runs=None, rate=20000, clients=1, outstanding=100,
            tcp=False, timeout=60):
    """Run dnsperf (bounded by -l or -n and by `timeout`); returns {"sent", "completed", "lost",
    "output"}."""
    cmd = ["dnsperf", "-s", addr, "-p", str(port), "-d", str(qfile), "-c", str(clients),
           "-q", str(outstanding), "-Q", str(rate), "-t", "2"]
    if limit_s:
        cmd += ["-l", str(limit_s)]
    if runs:
        cmd += ["-n", str(runs)]
    if tcp:
        cmd += ["-m", "tcp"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = p.stdout + p.stderr
    res = {"output": out}
    for key, name in (("sent", "Queries sent"), ("completed", "Queries completed"), ("lost", "Queries lost")):
        m = re.search(rf"{name}:\s+(\d+)", out)
        assert m, f"dnsperf output without '{name}' (exit {p.returncode}):\n{out[-2000:]}"
        res[key] = int(m.group(1))
    return res


def write_qfile(path, names, qtype="A"):
    Path(path).write_text("".join(f"{n} {qtype}\n" for n in names))
    return path


# -- Frame Streams / dnstap decoding ------------------------------------------------------------

FSTRM_ACCEPT, FSTRM_START, FSTRM_STOP, FSTRM_READY, FSTRM_FINISH = 1, 2, 3, 4, 5
CONTENT_TYPE = b"protobuf:dnstap.Dnstap"


def fstrm_file_frames(data):
    """Parse a Frame Streams file: (content type, [data frames]); asserts START and STOP."""
    off = 0
    frames, ctype, started, stopped = [], None, False, False
    while off < len(data):
        (n,) = struct.unpack_from("!I", data, off)
        off += 4
        if n:
            frames.append(data[off:off + n])
            assert off + n <= len(data), "truncated data frame"
            off += n
            continue
        (clen,) = struct.unpack_from("!I", data, off)
        off += 4
        ctl = data[off:off + clen]
        off += clen
        (ctype_code,) = struct.unpack_from("!I", ctl, 0)
        if ctype_code == FSTRM_START:
            started = True
            if len(ctl) >= 12:
                (_, flen) = struct.unpack_from("!II", ctl, 4)
                ctype = ctl[12:12 + flen]
        elif ctype_code == FSTRM_STOP:
            stopped = True
    assert started, "no START control frame"
    assert stopped, "no STOP control frame (file not finished)"
    return ctype, frames


def _varint(buf, off):
    shift = val = 0
    while True:
        b = buf[off]
        off += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, off
        shift += 7


def pb_fields(buf):
    """Decode a protobuf message into {field number: [values]} (bytes or ints)."""
    out = {}
    off = 0
    while off < len(buf):
        key, off = _varint(buf, off)
        fno, wt = key >> 3, key & 7
        if wt == 0:
            v, off = _varint(buf, off)
        elif wt == 1:
            v = struct.unpack_from("<Q", buf, off)[0]
            off += 8
        elif wt == 2:
            n, off = _varint(buf, off)
            v = bytes(buf[off:off + n])
            off += n
        elif wt == 5:
            v = struct.unpack_from("<I", buf, off)[0]
            off += 4
        else:
            raise ValueError(f"protobuf wire type {wt}")
        out.setdefault(fno, []).append(v)
    return out


MSG_TYPES = {1: "AUTH_QUERY", 2: "AUTH_RESPONSE"}


def decode_dnstap(frame):
    """One dnstap.Dnstap protobuf -> dict with identity, version, extra (parsed JSON), type, and
    the message's type, addresses, ports, query/response wire."""
    top = pb_fields(frame)
    d = {"identity": top.get(1, [b""])[0].decode(), "version": top.get(2, [b""])[0].decode(),
         "extra_raw": top.get(3, [None])[0], "dtype": top.get(15, [None])[0]}
    d["extra"] = json.loads(d["extra_raw"].decode("utf-8")) if d["extra_raw"] is not None else None
    m = pb_fields(top[14][0]) if 14 in top else {}
    d["mtype"] = MSG_TYPES.get(m.get(1, [0])[0], str(m.get(1, [0])[0]))
    d["family"] = m.get(2, [None])[0]
    d["protocol"] = {1: "udp", 2: "tcp"}.get(m.get(3, [0])[0])
    for k, f in (("query_address", 4), ("response_address", 5)):
        raw = m.get(f, [None])[0]
        d[k] = socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw) if raw else None
    d["query_port"] = m.get(6, [None])[0]
    d["response_port"] = m.get(7, [None])[0]
    d["query_message"] = m.get(10, [None])[0]
    d["query_zone"] = m.get(11, [None])[0]
    d["response_message"] = m.get(14, [None])[0]
    wire = d["query_message"] or d["response_message"]
    d["id"] = struct.unpack("!H", wire[:2])[0] if wire and len(wire) >= 2 else None
    return d


def dnstap_cli_yaml_counts(path):
    """Run the real consumer `dnstap -y -r FILE`; count message types; also the DNS ids it shows."""
    p = subprocess.run(["dnstap", "-y", "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"dnstap -y -r {path} failed ({p.returncode}): {p.stderr[-2000:]}"
    counts = {}
    for m in re.finditer(r"^\s*type: (\w+)\s*$", p.stdout, re.M):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    ids = [int(x) for x in re.findall(r"status: \w+, id: (\d+)", p.stdout)]
    return counts, ids, p.stdout


def dnstap_cli_quiet_lines(path):
    p = subprocess.run(["dnstap", "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"dnstap -r {path} failed: {p.stderr[-2000:]}"
    return [l for l in p.stdout.splitlines() if re.match(r"^\S+ (AQ|AR) ", l)]


def fstrm_dump_data_frames(path):
    """Run `fstrm_dump FILE` and count its "Data frame (N) bytes." lines."""
    p = subprocess.run(["fstrm_dump", str(path)], capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert p.returncode == 0, f"fstrm_dump {path} failed ({p.returncode}): {out[-2000:]}"
    assert "FSTRM_CONTROL_START" in out and "protobuf:dnstap.Dnstap" in out, out[:500]
    return len(re.findall(r"^Data frame \(\d+\) bytes\.", out, re.M)), out


def _ctl(ctype, content=True):
    body = struct.pack("!I", ctype)
    if content:
        body += struct.pack("!II", 1, len(CONTENT_TYPE)) + CONTENT_TYPE
    return struct.pack("!II", 0, len(body)) + body


def _read_exact(conn, n, stop):
    buf = b""
    while len(buf) < n:
        if stop.is_set():
            raise EOFError("stopped")
        try:
            chunk = conn.recv(n - len(buf))
        except socket.timeout:
            continue
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    return buf


class FstrmSocketReader:
    """A Frame Streams reader on a unix socket, in a thread.

    mode "read":       a normal bidirectional reader; data frames are collected in .frames.
    mode "stall":      accepts, completes the handshake (READY -> ACCEPT, START), then never reads.
    mode "stall-hs":   accepts and never reads anything, not even the handshake.
    mode "refuse":     accepts and closes at once (the writer's handshake fails); counts attempts.
    Connections are kept open until close(). Every loop checks a stop event (bounded by close())."""

    def __init__(self, path, mode="read"):
        self.path = str(path)
        self.mode = mode
        self.frames = []
        self.connections = 0
        self.handshakes = 0
        self.errors = []
        self._stop = threading.Event()
        self._conns = []
        self._lock = threading.Lock()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if mode.startswith("stall"):
            # a small receive buffer, so a stalled reader backs the writer up quickly
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        workers = []
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            conn.settimeout(0.1)
            with self._lock:
                self.connections += 1
                if self.mode == "refuse":
                    conn.close()
                    continue
                self._conns.append(conn)
            if self.mode == "stall-hs":
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            workers.append(t)
        for t in workers:
            t.join(2)

    def _serve(self, conn):
        try:
            (z,) = struct.unpack("!I", _read_exact(conn, 4, self._stop))
            (n,) = struct.unpack("!I", _read_exact(conn, 4, self._stop))
            ctl = _read_exact(conn, n, self._stop)
            if z != 0 or struct.unpack_from("!I", ctl)[0] != FSTRM_READY:
                self.errors.append(f"expected READY, got {ctl[:16]!r}")
                return
            conn.sendall(_ctl(FSTRM_ACCEPT))
            with self._lock:
                self.handshakes += 1
            while not self._stop.is_set():
                if self.mode == "stall":
                    time.sleep(0.05)
                    continue
                (n,) = struct.unpack("!I", _read_exact(conn, 4, self._stop))
                if n:
                    data = _read_exact(conn, n, self._stop)
                    with self._lock:
                        self.frames.append(data)
                    continue
                (clen,) = struct.unpack("!I", _read_exact(conn, 4, self._stop))
                ctl = _read_exact(conn, clen, self._stop)
                code = struct.unpack_from("!I", ctl)[0]
                if code == FSTRM_STOP:
                    conn.sendall(_ctl(FSTRM_FINISH, content=False))
                    return
        except (EOFError, OSError) as e:
            if not self._stop.is_set():
                self.errors.append(repr(e))

    def frame_count(self):
        with self._lock:
            return len(self.frames)

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(5)
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except OSError:
                    pass
            self._conns.clear()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


# -- fstrm_capture -------------------------------------------------------------------------------

@contextmanager
def fstrm_capture(sock_path, out_path):
    """Run `fstrm_capture -t protobuf:dnstap.Dnstap -u SOCK -w OUT`; at exit SIGINT it (it then
    finishes the file), bounded waits; killed if it does not stop."""
    log = open(str(out_path) + ".log", "wb")
    p = subprocess.Popen(["fstrm_capture", "-t", CONTENT_TYPE.decode(), "-u", str(sock_path),
                          "-w", str(out_path)], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    try:
        ok = wait_for(lambda: os.path.exists(sock_path) or p.poll() is not None, 5)
        if not ok or p.poll() is not None:
            raise RuntimeError(f"fstrm_capture did not start: {Path(str(out_path) + '.log').read_text()}")
        yield p
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        log.close()


# -- network namespace with a veth pair ----------------------------------------------------------

class NetnsUnavailable(Exception):
    pass


def _ip(*args, check=True, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return p


@contextmanager
def veth_netns(host_addr, ns_addr, prefix, mtu=None, v6=None):
    """A namespace holding one end of a veth pair. Host end: host_addr/prefix, namespace end:
    ns_addr/prefix; no default route anywhere, only the connected /prefix. mtu: both ends' MTU.
    v6: (host address, namespace address, prefix) added too, without duplicate address
    detection (usable at once). Everything is deleted at exit. Raises NetnsUnavailable when a
    namespace cannot be made."""
    tag = f"{os.getpid() % 100000}"
    ns, hv, nv = f"sktm{tag}", f"sktH{tag}", f"sktN{tag}"
    if not shutil.which("ip"):
        raise NetnsUnavailable("the `ip` command (iproute2) is not installed")
    # Addresses the host already reaches other than by its default route (a network of its own)
    # would take traffic meant for the namespace elsewhere: refuse them.
    for a in [ns_addr] + ([v6[1]] if v6 else []):
        routes = _ip("-6" if ":" in a else "-4", "route", "show", "match", a).stdout.splitlines()
        taken = [r for r in routes if r.strip() and not r.startswith("default")]
        if taken:
            raise NetnsUnavailable(f"{a} is already routed on this host ({taken[0]}): pick another")
    p = _ip("netns", "add", ns, check=False)
    if p.returncode != 0:
        raise NetnsUnavailable(f"`ip netns add` failed: {p.stderr.strip()}")
    try:
        _ip("link", "add", hv, "type", "veth", "peer", "name", nv)
        _ip("link", "set", nv, "netns", ns)
        _ip("addr", "add", f"{host_addr}/{prefix}", "dev", hv)
        _ip("link", "set", hv, "up")
        _ip("addr", "add", f"{ns_addr}/{prefix}", "dev", nv, ns=ns)
        if mtu:
            _ip("link", "set", hv, "mtu", str(mtu))
            _ip("link", "set", nv, "mtu", str(mtu), ns=ns)
        if v6:
            _ip("addr", "add", f"{v6[0]}/{v6[2]}", "dev", hv, "nodad")
            _ip("addr", "add", f"{v6[1]}/{v6[2]}", "dev", nv, "nodad", ns=ns)
        _ip("link", "set", nv, "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)
        routes = _ip("route", "show", ns=ns).stdout
        assert "default" not in routes, f"unexpected default route in {ns}: {routes}"
        yield ns
    finally:
        _ip("link", "del", hv, check=False)  # removes the peer too
        _ip("netns", "del", ns, check=False)


def netns_run(ns, args, timeout=20):
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True,
                          timeout=timeout)


# -- a small tmpfs -------------------------------------------------------------------------------

class MountUnavailable(Exception):
    pass


@contextmanager
def small_tmpfs(path, size="256k"):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                       capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        raise MountUnavailable(f"mount -t tmpfs failed: {p.stderr.strip()}")
    try:
        yield path
    finally:
        for attempt in range(20):
            if subprocess.run(["umount", str(path)], capture_output=True, timeout=10).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


def fill_fs(path):
    """Write a filler file in `path` until the filesystem is full (ENOSPC). Bounded."""
    filler = Path(path) / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            for _ in range(100000):
                try:
                    f.write(b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return filler


def make_corrupt_city(dest):
    """A copy of the City test database whose metadata is intact (type GeoIP2-City, so it passes a
    type check) but whose whole search tree is overwritten with 0xFF: every record points past
    the data section, so a lookup fails with MMDB_CORRUPT_SEARCH_TREE_ERROR (mmdblookup: "search
    tree is corrupt"). Node count and record size come from `mmdblookup -v`."""
    p = subprocess.run(["mmdblookup", "-v", "-f", str(CITY_DB), "-i", "127.0.0.1"],
                       capture_output=True, text=True, timeout=10)
    nodes = int(re.search(r"Node count:\s+(\d+)", p.stdout + p.stderr).group(1))
    bits = int(re.search(r"Record size:\s+(\d+)", p.stdout + p.stderr).group(1))
    data = bytearray(CITY_DB.read_bytes())
    tree = nodes * bits * 2 // 8
    data[:tree] = b"\xff" * tree
    Path(dest).write_bytes(bytes(data))
    return Path(dest)
