"""skhelpers -- start a real sinkholed on free ports, query it, build raw DNS packets by hand.

Imported by conftest.py and by the test modules (pytest puts this folder on sys.path).
Every wait here is bounded; traffic goes only to 127.0.0.1 and ::1.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ZONES = HERE / "zones"

V4 = "127.0.0.1"
V6 = "::1"

# The zone files every default server loads: (file, name for `name:` or None).
DEFAULT_ZONES = [
    ("sinkhole.test.zone", None),
    ("other.test.zone", None),
    ("named.test.zone", "named.test"),
    ("child.sinkhole.test.zone", None),
]

IDENTITY = "ns9.test.example"
VERSION = "sinkholed 0.1.0"

# -- sanitized binaries (tests/run.sh's second integration run, from build-ci/asan) -----------------
# SK_SANITIZED: the binaries under test were built with ASan+UBSan. Tests that cannot run so (an
# LD_PRELOADed allocator, say) skip with the reason; every wait on the server is multiplied by
# SK_TIMEOUT_FACTOR; and a server or tool that printed a sanitizer report, or exited with the
# sanitizers' exit code (SK_SAN_EXITCODE, set in ASAN_OPTIONS/UBSAN_OPTIONS by tests/run.sh), fails
# the test that ran it.
SANITIZED = bool(os.environ.get("SK_SANITIZED"))
SAN_EXITCODE = int(os.environ.get("SK_SAN_EXITCODE", "86"))
TIMEOUT_FACTOR = max(1.0, float(os.environ.get("SK_TIMEOUT_FACTOR", "1")))
SAN_REPORT = re.compile(r"ERROR: AddressSanitizer|WARNING: AddressSanitizer|LeakSanitizer|runtime error:|"
                        r"UndefinedBehaviorSanitizer")


def scaled(seconds):
    """A wait on the server, longer for sanitized binaries (SK_TIMEOUT_FACTOR)."""
    return seconds * TIMEOUT_FACTOR


def sanitizer_report(text, rc=None):
    """The sanitizer report in a process's output (from a line or two before it, at most 6000
    characters), or a note when only the exit code tells; None when there is neither."""
    m = SAN_REPORT.search(text or "")
    if m:
        start = text.rfind("\n", 0, max(0, m.start() - 200)) + 1   # a line or two before it
        return text[start:start + 6000]
    if rc == SAN_EXITCODE and SANITIZED:
        return f"exit code {rc} (the sanitizers' exit code) and no report in the output"
    return None


def check_sanitizer(text, rc, what):
    """Fail (AssertionError) when `text`, the output of `what`, holds a sanitizer report or rc is
    the sanitizers' exit code."""
    report = sanitizer_report(text, rc)
    assert report is None, f"{what}: sanitizer report (exit code {rc}):\n{report}"


def run_binary(cmd, **kw):
    """subprocess.run() of one of our binaries (sinkholed, sinkhole-check) with its output
    captured as text, failing the test on a sanitizer report. Returns the CompletedProcess."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    p = subprocess.run([str(c) for c in cmd], **kw)
    check_sanitizer((p.stdout or "") + (p.stderr or ""), p.returncode, " ".join(str(c) for c in cmd))
    return p


def skip_if_sanitized(reason):
    """Skip, with the reason printed, when the binaries under test are sanitized."""
    if SANITIZED:
        msg = f"not under ASan/UBSan: {reason}"
        print(f"SKIP: {msg}", file=sys.stderr)
        pytest.skip(msg)


def sinkholed_path():
    """The binary under test: $SINKHOLED, else build/server/sinkholed under the repo root."""
    p = Path(os.environ.get("SINKHOLED", "build/server/sinkholed"))
    if not p.is_absolute():
        p = REPO / p
    return p


_v6_cache = None


def have_ipv6():
    """True when a UDP and a TCP socket can be bound to ::1."""
    global _v6_cache
    if _v6_cache is None:
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET6, kind) as s:
                    s.bind((V6, 0))
            _v6_cache = True
        except OSError:
            _v6_cache = False
    return _v6_cache


def free_port(v6=None):
    """A port free for UDP and TCP on 127.0.0.1 (and ::1 when available). Bounded tries."""
    if v6 is None:
        v6 = have_ipv6()
    for _ in range(200):
        held = []
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(s)
            s.bind((V4, 0))
            port = s.getsockname()[1]
            wanted = [(socket.AF_INET, socket.SOCK_STREAM, V4)]
            if v6:
                wanted += [(socket.AF_INET6, socket.SOCK_DGRAM, V6),
                           (socket.AF_INET6, socket.SOCK_STREAM, V6)]
            for fam, kind, addr in wanted:
                t = socket.socket(fam, kind)
                held.append(t)
                if fam == socket.AF_INET6:
                    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                t.bind((addr, port))
            return port
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port found for UDP+TCP on loopback")


def yaml_str(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path, port, zones, *, v6=None, workers=2, identity=IDENTITY, version=VERSION,
                 edns_size=None, tcp_max_clients=None, tcp_idle_timeout_ms=None,
                 tcp_max_pending=None, extra_server="", seized=None, extra=""):
    """Write a sinkholed YAML config. zones: list of (file, name or None, tags dict or None).
    seized: None, or a list of (list file, template file, tags dict or None) for `seized:`; when
    it is given and zones is empty, the `zones:` key is left out altogether. extra: YAML text
    appended at the top level (more sections, such as `cookies:`)."""
    if v6 is None:
        v6 = have_ipv6()
    listen = [f"{V4}@{port}"] + ([f"{V6}@{port}"] if v6 else [])
    lines = ["server:",
             "  listen: [" + ", ".join(yaml_str(x) for x in listen) + "]",
             f"  workers: {workers}"]
    if identity is not None:
        lines.append(f"  identity: {yaml_str(identity)}")
    lines.append("  version: false" if version is False else f"  version: {yaml_str(version)}")
    if edns_size is not None:
        lines.append(f"  edns_size: {edns_size}")
    if tcp_max_clients is not None:
        lines.append(f"  tcp_max_clients: {tcp_max_clients}")
    if tcp_idle_timeout_ms is not None:
        lines.append(f"  tcp_idle_timeout_ms: {tcp_idle_timeout_ms}")
    if tcp_max_pending is not None:
        lines.append(f"  tcp_max_pending: {tcp_max_pending}")
    if extra_server:
        lines.append(extra_server.rstrip("\n"))
    if zones or not seized:
        lines.append("zones:")
    for z in zones:
        f, name, tags = (tuple(z) + (None, None))[:3]
        lines.append(f"  - file: {yaml_str(f)}")
        if name:
            lines.append(f"    name: {yaml_str(name)}")
        if tags:
            lines.append(f"    tags: {yaml_tags(tags)}")
    if seized:
        lines.append("seized:")
    for s in seized or []:
        lst, template, tags = (tuple(s) + (None,))[:3]
        lines.append(f"  - list: {yaml_str(lst)}")
        lines.append(f"    template: {yaml_str(template)}")
        if tags:
            lines.append(f"    tags: {yaml_tags(tags)}")
    if extra:
        lines.append(extra.rstrip("\n"))
    Path(path).write_text("\n".join(lines) + "\n")


def yaml_tags(tags):
    """A tags dict as a YAML flow mapping, in the dict's order."""
    return "{" + ", ".join(f"{k}: {yaml_str(v)}" for k, v in tags.items()) + "}"


def copy_zones(dest, names=None):
    """Copy test zone files into dest (a folder); returns dest."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in names or [z[0] for z in DEFAULT_ZONES]:
        shutil.copy(ZONES / f, dest / f)
    return dest


class SinkServer:
    """One sinkholed process started from a config in `workdir`. Always call kill() at the end."""

    def __init__(self, workdir, zones=None, port=None, **conf):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.zones = zones if zones is not None else [(f, n, None) for f, n in DEFAULT_ZONES]
        self.conf_kw = conf
        self.v6 = have_ipv6()
        self.port = port
        self.conf = self.workdir / "sinkholed.yml"
        self.log = self.workdir / "sinkholed.log"
        self.proc = None
        self._logf = None
        self.wrapper = []       # a command to run sinkholed under (valgrind ...), or nothing

    # -- process control -------------------------------------------------------------------
    def write_config(self, **override):
        kw = dict(self.conf_kw)
        kw.update(override)
        write_config(self.conf, self.port, self.zones, v6=self.v6, **kw)

    def start(self, timeout=10.0):
        timeout = scaled(timeout)
        binary = sinkholed_path()
        if not binary.exists():
            raise RuntimeError(f"sinkholed binary not found at {binary} (set SINKHOLED or build it)")
        for attempt in range(3):
            if self.port is None or attempt:
                self.port = free_port(self.v6)
            self.write_config()
            self._logf = open(self.log, "ab")
            self._log_start = self.log.stat().st_size
            self._san_checked = False
            # cwd is "/" so that relative zone paths must be resolved from the config folder
            self.proc = subprocess.Popen(self.wrapper + [str(binary), "-c", str(self.conf)], cwd="/",
                                         stdin=subprocess.DEVNULL, stdout=self._logf,
                                         stderr=subprocess.STDOUT)
            if self._wait_ready(timeout):
                return self
            text = self.log_text()
            self.kill()
            if "in use" not in text.lower():
                break
        raise RuntimeError(f"sinkholed did not become ready in {timeout}s; log:\n{self.log_text()[-3000:]}")

    def _wait_ready(self, timeout):
        """Ready when the log says so. No probe query: it would become a telemetry record, a
        stats count and an RRL account, and spoil every exact count a test makes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if READY.search(self.log_text(self._log_start)):
                return True
            time.sleep(0.05)
        return False

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, start=0):
        try:
            with open(self.log, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def reload(self, timeout=10.0):
        """Send SIGHUP and wait for the log line that reports the reload's outcome.
        Returns the log text written since the signal."""
        start = self.log_size()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            text = self.log_text(start)
            for line in text.splitlines():
                if RELOAD_DONE.search(line):
                    time.sleep(0.05)  # let the publish reach every worker's next batch
                    return self.log_text(start)
            if not self.alive():
                raise RuntimeError("sinkholed died on SIGHUP; log:\n" + self.log_text()[-3000:])
            time.sleep(0.02)
        raise RuntimeError(f"no reload log line within {timeout}s; new log:\n{self.log_text(start)}")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the server and return its exit code (None if it had to be killed). Fails
        (AssertionError) when the server printed a sanitizer report."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        rc = self.proc.returncode
        self._close_log()
        self.check_sanitizer(rc)
        return rc

    def kill(self):
        """End the server. A sanitized one gets SIGTERM first, so that LeakSanitizer runs at its
        exit; then, as for stop(), a sanitizer report fails the test."""
        if self.proc is not None and self.proc.poll() is None and SANITIZED:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._close_log()
        if self.proc is not None and self.proc.returncode is not None:
            self.check_sanitizer(self.proc.returncode)

    def check_sanitizer(self, rc):
        """Once per process: a sanitizer report in its log, or the sanitizers' exit code, fails."""
        if getattr(self, "_san_checked", True):
            return
        self._san_checked = True
        check_sanitizer(self.log_text(getattr(self, "_log_start", 0)), rc,
                        f"sinkholed (log {self.log})")

    def _close_log(self):
        if self._logf:
            self._logf.close()
            self._logf = None

    # -- addresses -------------------------------------------------------------------------
    def addr(self, family=4):
        return V4 if family == 4 else V6


# The start-up line once every socket listens: "<time> sinkholed[pid]: info: ready: ...".
READY = re.compile(r"sinkholed\[\d+\]: \w+: ready\b", re.I)

# The log line that ends a reload, success or failure: "<time> sinkholed[pid]: info: reloaded: ..."
# or "... error: reload failed, keeping generation N: ...". Anchored on the message start, so a
# path in an earlier "reloading <file>" line cannot match.
RELOAD_DONE = re.compile(r"sinkholed\[\d+\]: \w+: (reloaded\b|reload (failed|done|complete|finished|error|aborted))",
                         re.I)


# -- queries -------------------------------------------------------------------------------

def make_query(qname, qtype="A", qclass="IN", *, edns=False, payload=1232, do=False, options=None,
               rd=False, qid=None, ednsflags=0, version=0):
    q = dns.message.make_query(qname, qtype, qclass)
    q.flags = dns.flags.RD if rd else 0
    if qid is not None:
        q.id = qid
    if edns or options or do:
        q.use_edns(version, (dns.flags.DO if do else 0) | ednsflags, payload, options=options or [])
    return q


def ask(server, q, transport="udp", family=4, timeout=2.0):
    """Send a dnspython message, return the parsed reply."""
    addr = server.addr(family)
    if transport == "udp":
        return dns.query.udp(q, addr, port=server.port, timeout=timeout, ignore_unexpected=False)
    return dns.query.tcp(q, addr, port=server.port, timeout=timeout)


def ask_raw_udp(server, wire, family=4, timeout=2.0):
    """Send raw bytes over UDP; return raw reply bytes, or None on timeout."""
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (server.addr(family), server.port))
        try:
            data, _ = s.recvfrom(65535)
            return data
        except socket.timeout:
            return None


def recv_exact(sock, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("recv_exact")
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def recv_frame(sock, timeout=2.0):
    deadline = time.monotonic() + timeout
    (n,) = struct.unpack("!H", recv_exact(sock, 2, deadline))
    return recv_exact(sock, n, deadline)


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def tcp_connect(server, family=4, timeout=2.0):
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((server.addr(family), server.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def ask_raw_tcp(server, wire, family=4, timeout=2.0):
    """Send raw bytes as one TCP frame; return the raw reply, or None on timeout/close."""
    with tcp_connect(server, family, timeout) as s:
        s.sendall(frame(wire))
        try:
            return recv_frame(s, timeout)
        except (socket.timeout, EOFError, ConnectionResetError):
            return None


def ask_raw(server, wire, transport="udp", family=4, timeout=2.0):
    if transport == "udp":
        return ask_raw_udp(server, wire, family, timeout)
    return ask_raw_tcp(server, wire, family, timeout)


# -- raw packet building (struct, no dnspython) ----------------------------------------------

def wire_name(name):
    """Uncompressed wire form of a dotted name (no escapes)."""
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name, qtype=1, qclass=1):
    return wire_name(name) + struct.pack("!HH", qtype, qclass)


def opt_rr(payload=1232, ext_rcode=0, version=0, flags=0, rdata=b"", rdlen=None):
    """An OPT pseudo-RR; rdlen overrides the RDLENGTH field (to make it lie)."""
    if rdlen is None:
        rdlen = len(rdata)
    ttl = (ext_rcode << 24) | (version << 16) | flags
    return b"\x00" + struct.pack("!HHIH", 41, payload, ttl, rdlen) + rdata


def edns_option(code, data, length=None):
    return struct.pack("!HH", code, len(data) if length is None else length) + data


def raw_query(name, qtype=1, qclass=1, qid=0x1234, flags=0, opt=None):
    return header(qid, flags, 1, 0, 0, 1 if opt else 0) + question(name, qtype, qclass) + (opt or b"")


def parse_header(wire):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", wire[:12])
    return {"id": qid, "flags": flags, "qr": bool(flags & 0x8000), "opcode": (flags >> 11) & 0xF,
            "aa": bool(flags & 0x0400), "tc": bool(flags & 0x0200), "rd": bool(flags & 0x0100),
            "ra": bool(flags & 0x0080), "rcode": flags & 0xF, "qd": qd, "an": an, "ns": ns, "ar": ar}


def rcode_name(msg):
    return dns.rcode.to_text(msg.rcode())


def rrset_texts(section):
    """Set of 'name ttl class type rdata' strings, for readable asserts. Names compare without
    case (RFC 4343: a server may compress RDATA names against the query's letter case), so
    owner and RDATA are lowercased; TXT strings are checked byte for byte elsewhere."""
    out = set()
    for rrset in section:
        for rd in rrset:
            out.add(f"{rrset.name.to_text().lower()} {rrset.ttl} "
                    f"{dns.rdataclass.to_text(rrset.rdclass)} {dns.rdatatype.to_text(rrset.rdtype)} "
                    f"{rd.to_text().lower()}")
    return out


def find_rrset(section, name, rdtype):
    name = dns.name.from_text(name) if isinstance(name, str) else name
    rdtype = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype:
            return rrset
    return None


def get_option(msg, code):
    for o in msg.options:
        if o.otype == code:
            return o
    return None


def option_bytes(opt):
    """Wire bytes of an EDNS option's data (dnspython 2.3 API)."""
    return opt.to_wire() if hasattr(opt, "to_wire") else bytes(opt.data)
