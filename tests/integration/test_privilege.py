"""test_privilege -- least privilege: started as root, sinkholed binds port 53 and then runs as
`server.user` (setgroups, setgid, setuid), optionally inside `server.chroot`; a missing user or
group is a config error with file:line; reloads and telemetry files work as that user; files it
creates are 0640 whatever the umask.

The tests that bind port 53 need root and a free 127.53.0.1@53; without them they skip with
the reason printed. CI runs as root."""
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

import skhelpers as sk
from skhelpers import rrset_texts

ADDR = "127.53.0.1"
USER = "nobody"


def skip(msg):
    print(f"SKIP: {msg}", file=sys.stderr)
    pytest.skip(msg)


def need_root_and_port53():
    if os.geteuid() != 0:
        skip("needs root (to bind port 53 and switch users)")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        skip(f"no user {USER} on this machine")
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ADDR, 53))
            except OSError as e:
                skip(f"cannot bind {ADDR}@53: {e}")
    return pw


def ids_of(pid):
    """Uid, Gid, Groups and CapEff lines of /proc/PID/status and of each of its threads."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = {}
        for line in (task / "status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Name", "Uid", "Gid", "Groups", "CapEff", "CapPrm"):
                fields[key] = value.split()
        out[task.name] = fields
    return out


class PrivServer(sk.SinkServer):
    """A sinkholed on ADDR@53 with server: lines of the test's own (user, chroot ...); the
    config is written to `conf_path`, zones are given as paths as the config should name them."""

    def __init__(self, workdir, conf_path, zones_text, server_extra, tail="", umask=None):
        super().__init__(workdir, zones=[], port=53)
        self.conf = Path(conf_path)
        self.zones_text = zones_text
        self.server_extra = server_extra
        self.tail = tail
        self.umask = umask

    def write_config(self, **override):
        self.conf.write_text("server:\n"
                             f"  listen: [\"{ADDR}@53\"]\n"
                             "  workers: 2\n"
                             f"  identity: {sk.IDENTITY}\n"
                             f"{self.server_extra}"
                             f"zones:\n{self.zones_text}{self.tail}")
        self.conf.chmod(0o644)

    def addr(self, family=4):
        return ADDR

    def start(self, timeout=10.0):
        old = os.umask(self.umask) if self.umask is not None else None
        try:
            return super().start(timeout)
        finally:
            if old is not None:
                os.umask(old)


def readable_tree(root):
    """A folder tree that `nobody` can read (pytest's tmp folders are 0700)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)


def a_record(srv, name="www.sinkhole.test", tcp=False):
    q = sk.make_query(name, "A")
    r = dns.query.tcp(q, ADDR, port=53, timeout=3) if tcp else \
        dns.query.udp(q, ADDR, port=53, timeout=3)
    return rrset_texts(r.answer)


def set_www(zone, addr, serial):
    text = zone.read_text()
    text = re.sub(r"^www\t\tA\t.*$", f"www\t\tA\t{addr}", text, flags=re.M)
    text = re.sub(r"\d+ ; serial", f"{serial} ; serial", text)
    zone.write_text(text)
    zone.chmod(0o644)


@pytest.fixture
def world_dir():
    """A folder outside pytest's 0700 tree, removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="sk-priv-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def make_tree(base):
    """zones/ with the default test zones, log/ writable by nobody only. Returns zones text."""
    sk.copy_zones(base / "zones")
    log = base / "log"
    log.mkdir()
    readable_tree(base)
    pw = pwd.getpwnam(USER)
    os.chown(log, pw.pw_uid, pw.pw_gid)
    os.chmod(log, 0o750)
    return "".join(f"  - file: ../zones/{f}\n" + (f"    name: {n}\n" if n else "")
                   for f, n in sk.DEFAULT_ZONES)


def check_unprivileged(srv, pw):
    nogroup = pw.pw_gid
    for tid, f in ids_of(srv.pid).items():
        assert f["Uid"] == [str(pw.pw_uid)] * 4, f"thread {tid} {f.get('Name')}: Uid {f['Uid']}"
        assert f["Gid"] == [str(nogroup)] * 4, f"thread {tid} {f.get('Name')}: Gid {f['Gid']}"
        assert f.get("Groups", []) == [], f"thread {tid}: supplementary groups {f.get('Groups')}"
        assert int(f["CapEff"][0], 16) == 0 and int(f["CapPrm"][0], 16) == 0, \
            f"thread {tid}: capabilities {f['CapEff']} / {f['CapPrm']}"


def test_runs_as_nobody_after_binding_53(world_dir):
    """As root with `user: nobody`: port 53 is bound, then every thread runs as nobody:nogroup
    with no supplementary group and no capability; queries are answered; a SIGHUP with a changed
    zone is read as nobody; the JSONL file is created by nobody, mode 0640 under umask 000, and
    SIGUSR1 recreates it the same way after it was moved away."""
    pw = need_root_and_port53()
    zones = make_tree(world_dir)
    (world_dir / "etc").mkdir(mode=0o755)
    tail = "telemetry:\n  jsonl: {path: ../log/events.jsonl}\n"
    srv = PrivServer(world_dir, world_dir / "etc" / "sinkholed.yml", zones,
                     f"  user: {USER}\n", tail=tail, umask=0)
    try:
        srv.start()
        log = srv.log_text()
        assert f"running as user {USER} (uid {pw.pw_uid})" in log, log
        assert a_record(srv) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
        assert a_record(srv, tcp=True) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
        check_unprivileged(srv, pw)
        set_www(world_dir / "zones" / "sinkhole.test.zone", "192.0.2.99", 2024010199)
        out = srv.reload()
        assert "reloaded: generation 2" in out, out
        assert a_record(srv) == {"www.sinkhole.test. 3600 IN A 192.0.2.99"}
        events = world_dir / "log" / "events.jsonl"
        st = events.stat()
        assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), "events.jsonl not created by nobody"
        assert stat.S_IMODE(st.st_mode) == 0o640, f"events.jsonl mode {oct(st.st_mode)} under umask 000"
        events.rename(world_dir / "log" / "events.jsonl.1")
        srv.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not events.exists():
            a_record(srv)
            time.sleep(0.1)
        assert events.exists(), "SIGUSR1 did not recreate events.jsonl as nobody"
        st = events.stat()
        assert st.st_uid == pw.pw_uid and stat.S_IMODE(st.st_mode) == 0o640
        assert srv.stop() == 0
        # The records of every answered query reached the files, written as nobody.
        lines = sum(p.read_text().count("\n") for p in (world_dir / "log").iterdir())
        assert lines >= 4, lines
    finally:
        srv.kill()


def test_unreadable_zone_refuses_start_as_nobody(world_dir):
    """A zone file only root can read: the first load runs as the user, as every reload will,
    so the start fails naming the file instead of the first SIGHUP failing later."""
    need_root_and_port53()
    zones = make_tree(world_dir)
    (world_dir / "etc").mkdir(mode=0o755)
    (world_dir / "zones" / "other.test.zone").chmod(0o600)
    srv = PrivServer(world_dir, world_dir / "etc" / "sinkholed.yml", zones, f"  user: {USER}\n")
    try:
        with pytest.raises(RuntimeError):
            srv.start(timeout=5)
        assert srv.proc.wait(5) == 1
        log = srv.log_text()
        assert "other.test.zone" in log and "Permission denied" in log, log
    finally:
        srv.kill()


def test_chroot_serves_and_reloads(world_dir, monkeypatch):
    """`chroot:` with `user: nobody`: the process's root is the chroot, paths in the config
    (relative and absolute ones under the chroot) work there, and a SIGHUP re-reads the config
    and a changed zone from inside; the JSONL file lands inside."""
    pw = need_root_and_port53()
    # A sanitizer build: LeakSanitizer reads /proc at exit, which a chroot does not have.
    opts = os.environ.get("ASAN_OPTIONS")
    monkeypatch.setenv("ASAN_OPTIONS", f"{opts}:detect_leaks=0" if opts else "detect_leaks=0")
    zones = make_tree(world_dir)
    (world_dir / "etc").mkdir(mode=0o755)
    # One zone named by its absolute path outside, which the server uses without the prefix.
    zones = zones.replace("../zones/other.test.zone", f"{world_dir}/zones/other.test.zone")
    tail = f"telemetry:\n  jsonl: {{path: {world_dir}/log/events.jsonl}}\n"
    srv = PrivServer(world_dir, world_dir / "etc" / "sinkholed.yml", zones,
                     f"  user: {USER}\n  chroot: {world_dir}\n", tail=tail)
    try:
        srv.start()
        assert os.readlink(f"/proc/{srv.pid}/root") == str(world_dir)
        check_unprivileged(srv, pw)
        assert a_record(srv) == {"www.sinkhole.test. 3600 IN A 192.0.2.80"}
        assert a_record(srv, "target.other.test") == {"target.other.test. 600 IN A 198.51.100.10"}
        set_www(world_dir / "zones" / "sinkhole.test.zone", "192.0.2.98", 2024010198)
        out = srv.reload()
        assert "reloaded: generation 2" in out, out
        assert a_record(srv, tcp=True) == {"www.sinkhole.test. 3600 IN A 192.0.2.98"}
        # A second reload: the config path inside the chroot keeps working.
        set_www(world_dir / "zones" / "sinkhole.test.zone", "192.0.2.97", 2024010197)
        assert "reloaded: generation 3" in srv.reload()
        assert a_record(srv) == {"www.sinkhole.test. 3600 IN A 192.0.2.97"}
        assert srv.stop() == 0
        assert (world_dir / "log" / "events.jsonl").read_text().count("\n") >= 4
    finally:
        srv.kill()


def run_check(conf):
    p = subprocess.run([str(sk.sinkholed_path()), "--check", "-c", str(conf)], capture_output=True,
                       text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def line_no(conf, needle):
    return next(i for i, line in enumerate(Path(conf).read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize("key,value,message", [
    ("user", "sk-no-such-user", "server.user: no such user 'sk-no-such-user'"),
    ("group", "sk-no-such-group", "server.group: no such group 'sk-no-such-group'"),
])
def test_missing_user_or_group_refuses_to_start(make_server, key, value, message):
    """A configured user or group that does not exist: --check and the start both fail with
    file:line, and the server never answers."""
    extra = f"  user: {USER}\n  group: {value}" if key == "group" else f"  user: {value}"
    srv = make_server(start=False, extra_server=extra)
    srv.port = sk.free_port()
    srv.write_config()
    n = line_no(srv.conf, value)
    rc, out = run_check(srv.conf)
    assert rc == 1 and f"sinkholed.yml:{n}: {message}" in out, out
    with pytest.raises(RuntimeError):
        srv.start(timeout=5)
    assert srv.proc.wait(5) == 1
    assert f"sinkholed.yml:{n}: {message}" in srv.log_text(), srv.log_text()
    assert "ready" not in srv.log_text()


def test_chroot_config_errors(make_server, tmp_path):
    """--check: a config file and zones outside the chroot, each named with file:line."""
    other = tmp_path / "jail"
    other.mkdir()
    srv = make_server(start=False, extra_server=f"  chroot: {other}/")
    srv.port = sk.free_port()
    srv.write_config()
    n = line_no(srv.conf, "chroot:")
    rc, out = run_check(srv.conf)
    assert rc == 1, out
    assert f"sinkholed.yml:{n}: server.chroot: the config file '{srv.conf}' is outside '{other}'" \
        in out, out
    n = line_no(srv.conf, "sinkhole.test.zone")
    assert f"sinkholed.yml:{n}: '{srv.workdir}/sinkhole.test.zone' is outside server.chroot " \
           f"'{other}'" in out, out


@pytest.mark.parametrize("umask", [0o000, 0o077], ids=["umask000", "umask077"])
def test_created_files_are_0640_whatever_the_umask(make_server, tmp_path, umask):
    """Started with umask 000 or 077, the JSONL and dnstap files are 0640."""
    tel = tmp_path / "tel"
    tel.mkdir()
    extra = (f"telemetry:\n  jsonl: {{path: {sk.yaml_str(tel / 'events.jsonl')}}}\n"
             f"  dnstap: {{file: {sk.yaml_str(tel / 'events.tap')}}}")
    old = os.umask(umask)
    try:
        srv = make_server(extra_server=extra)
    finally:
        os.umask(old)
    sk.ask(srv, sk.make_query("www.sinkhole.test", "A"))
    assert srv.stop() == 0, srv.log_text()[-2000:]
    for name in ("events.jsonl", "events.tap"):
        mode = stat.S_IMODE((tel / name).stat().st_mode)
        assert mode == 0o640, f"{name}: mode {oct(mode)} under umask {umask:03o}"
