"""natshelpers -- real nats-server processes for test_nats.py, and a real consumer.

`NatsServer` runs one nats-server (Debian `nats-server`) with JetStream on free loopback ports,
its store in the test's tmp folder; `cluster()` makes three of them routed to each other. Every
process is started here, stopped by its own pid (SIGTERM, or SIGKILL for a crash), and waited for;
`stop_all()` ends whatever is left, also when a test fails. `Consumer` compiles
tests/integration/nats/consume.c against libnats once and reads a stream back with a durable pull
consumer, as the README recommends. Every wait is bounded.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import skhelpers as sk

HERE = Path(__file__).resolve().parent
CONSUME_C = HERE / "nats" / "consume.c"


def nats_server_path():
    return shutil.which("nats-server") or "/usr/sbin/nats-server"


class NatsServer:
    """One nats-server with JetStream. name: the server name (JetStream clusters need one each)."""

    def __init__(self, workdir, name="n1", cluster_name=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = sk.free_port(v6=False)
        self.http = sk.free_port(v6=False)
        self.cport = sk.free_port(v6=False) if cluster_name else None
        self.cluster_name = cluster_name
        self.routes = []
        self.store = self.workdir / f"store-{name}"
        self.logpath = self.workdir / f"nats-{name}.log"
        self.proc = None
        self._log = None

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout=15.0, healthy=True):
        """Start and wait until it serves its monitoring port and, with healthy, until /healthz
        says ok (a cluster node only once it reaches the JetStream meta leader)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cmd = [nats_server_path(), "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.http),
               "-n", self.name, "-js", "-sd", str(self.store)]
        if self.cluster_name:
            cmd += ["--cluster_name", self.cluster_name, "--cluster", f"nats://127.0.0.1:{self.cport}"]
            if self.routes:
                cmd += ["--routes", ",".join(self.routes)]
        self._log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log_text()[-2000:]}")
            if self.healthy() if healthy else self.listening():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"nats-server {self.name} not healthy within {timeout}s:\n{self.log_text()[-2000:]}")

    def monitor(self, path, timeout=1.0):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=timeout) as r:
            return json.loads(r.read().decode())

    def listening(self):
        try:
            return bool(self.monitor("/varz").get("server_id"))
        except (OSError, ValueError):
            return False

    def healthy(self):
        try:
            return self.monitor("/healthz").get("status") == "ok"
        except (OSError, ValueError):
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal the process (SIGTERM: a clean stop; SIGKILL: a crash) and wait for it."""
        if not self.alive():
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self._log:
            self._log.close()
            self._log = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def log_text(self):
        try:
            return self.logpath.read_text(errors="replace")
        except OSError:
            return ""


def cluster(workdir, n=3, name="sk"):
    """n nats-servers routed to each other (not started)."""
    nodes = [NatsServer(workdir, name=f"n{i + 1}", cluster_name=name) for i in range(n)]
    for a in nodes:
        a.routes = [f"nats://127.0.0.1:{b.cport}" for b in nodes if b is not a]
    return nodes


def start_cluster(nodes, timeout=30.0):
    """Start every node, then wait until each is healthy (a meta leader is known to all)."""
    for s in nodes:
        s.start(healthy=False)
    deadline = time.monotonic() + timeout
    while not all(s.healthy() for s in nodes):
        assert time.monotonic() < deadline, "cluster not healthy in %ss:\n%s" % (
            timeout, "\n".join(s.log_text()[-800:] for s in nodes))
        time.sleep(0.2)


def wait_meta_leader(nodes, timeout=30.0):
    """Until a live node reports a JetStream meta leader (the cluster can create streams)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for s in nodes:
            if not s.alive():
                continue
            try:
                meta = s.monitor("/jsz").get("meta_cluster") or {}
            except (OSError, ValueError):
                continue
            if meta.get("leader"):
                return meta["leader"]
        time.sleep(0.2)
    raise AssertionError("no JetStream meta leader in the cluster within %ss" % timeout)


def serving(nodes, client="sinkholed"):
    """The live node a client named `client` is connected to, or None."""
    for s in nodes:
        if not s.alive():
            continue
        try:
            conns = s.monitor("/connz").get("connections") or []
        except (OSError, ValueError):
            continue
        if any(c.get("name") == client for c in conns):
            return s
    return None


def stream_info(node, stream="SINKHOLE"):
    """The stream's entry in a node's /jsz (config and state), or None."""
    try:
        jsz = node.monitor("/jsz?streams=true&config=true", timeout=3.0)
    except (OSError, ValueError):
        return None
    for acc in jsz.get("account_details") or []:
        for st in acc.get("stream_detail") or []:
            if st.get("name") == stream:
                return st
    return None


class Consumer:
    """consume.c built once with libnats (cc ... -lnats)."""

    def __init__(self, workdir):
        self.exe = Path(workdir) / "consume"
        cc = shutil.which("cc") or shutil.which("gcc")
        assert cc, "no C compiler to build the test consumer"
        p = subprocess.run([cc, "-O2", "-Wall", "-o", str(self.exe), str(CONSUME_C), "-lnats"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"cannot build {CONSUME_C} (is libnats-dev installed?):\n{p.stderr}"

    def read(self, urls, durable, stream="SINKHOLE", subject="sinkhole.events.>", idle_ms=3000,
             timeout=180):
        """Every message not yet acknowledged by `durable`, as a list of (msg id, subject, body)."""
        p = subprocess.run([str(self.exe), ",".join(urls), stream, subject, durable, str(idle_ms)],
                           capture_output=True, timeout=timeout)
        assert p.returncode == 0, f"consume failed ({p.returncode}): {p.stderr.decode(errors='replace')}"
        out = []
        for raw in p.stdout.split(b"\n"):
            if not raw:
                continue
            mid, subj, body = raw.split(b"\t", 2)
            out.append((mid.decode(), subj.decode(), body))
        return out


def parse_id(rid):
    """'node:run:seq' -> (node, run, seq)."""
    node, run, seq = rid.rsplit(":", 2)
    return node, int(run), int(seq)
