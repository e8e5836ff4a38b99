#!/usr/bin/python3
"""bench/run.py: sinkholed side by side with Knot DNS, NSD and a UDP echo floor, on one machine, in one run.

  bench/run.py                        # suite "servers": 4 mixes x {sinkholed, knot, nsd, reflector}, 4 rounds
  bench/run.py --suite telemetry      # sinkholed telemetry off / JSONL+geo / dnstap vs Knot + mod-dnstap
  bench/run.py --rounds 2 --seconds 5 --cap 0 --mixes wildcard,tcp --servers sinkholed,knot

Method (see ../shared/tools/README.md, "Comparing servers on a 2-core machine"):
  * every server runs with one worker, pinned to core 1 (taskset -c 1) in its own process group;
    once it answers, every thread of the group is pinned again (Knot DNS moves its UDP worker to
    CPU 0 by itself) and checked after each run; dnsperf (-c 1 -q 1000 -b 4096 -l SECONDS) is
    pinned to core 0 (-b: with its default buffers dnsperf drops ~750 answers of the first
    burst of 1000 in its own socket and counts them as lost);
  * with --cap P (default 50) each server's process group is capped at P% of one core with
    cap-cpu.sh, so the server, not dnsperf, is the bottleneck and QPS measures its efficiency;
    --cap 0 runs uncapped (QPS is then mostly dnsperf's speed; CPU per query is the figure);
  * in both modes the server's CPU (utime+stime of its whole process group, from /proc) over the
    run is divided by the answered queries: CPU us per query;
  * for each mix the servers run A B C D A B C D ... for --rounds rounds; a ratio (to the floor, to
    Knot) is taken within each round and the median over rounds is printed (never a ratio of medians
    measured at different times);
  * latency percentiles come from dnsperf -v (one line per answered query, with its latency):
    under saturation they are mostly queueing delay (outstanding / QPS), not service time.

Prints a markdown table per mix and writes every run to bench/results/<suite>-<UTC time>.json.
Everything runs on loopback; every dnsperf run stops by itself (-l, plus a hard timeout); every
server is started here, in its own session, and stopped here by its process group id.
"""
import argparse
import glob
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
TOOLS = '/work/shared/tools'
GEOIP = '/work/shared/testdata/geoip'
TICK = os.sysconf('SC_CLK_TCK')

# EDNS Client Subnet (option 8): family 1 (IPv4), source /28, scope 0, 89.160.20.112 (4 bytes):
# a Swedish network in the MaxMind test databases (Linkoping, AS29518).
ECS_OPT = '8:00011c0059a01470'

# Query mixes: the data file (bench/queries/), extra dnsperf flags, and whether it is UDP.
MIXES = {
    'wildcard': dict(file='wildcard.txt', flags=[], udp=True,
                     doc='random subdomains of the sinkhole zone (wildcard answers)'),
    'nxdomain': dict(file='nxdomain.txt', flags=[], udp=True,
                     doc='60% NXDOMAIN (zone without wildcard), 35% REFUSED (outside every zone), 5% NOERROR'),
    'edns-ecs': dict(file='wildcard.txt', flags=['-E', ECS_OPT], udp=True,
                     doc='wildcard mix with EDNS0 and an ECS option 89.160.20.112/28 in every query'),
    'tcp': dict(file='wildcard.txt', flags=['-m', 'tcp'], udp=False,
                doc='wildcard mix over TCP (one connection, pipelined)'),
    # Issue 4 (seized lists): sinkholed loads bench/queries/seized.list (10,000 domains) with
    # zones/seized-template.zone; Knot DNS and NSD load one zone file per domain made from the same
    # template (only when this mix is selected: see prepare_seized).
    'seized': dict(file='seized.txt', flags=[], udp=True, hook=True,
                   doc='names at and below 10,000 seized-list domains (Knot DNS, NSD: one zone file per domain)'),
}
DEFAULT_MIXES = ['wildcard', 'nxdomain', 'edns-ecs', 'tcp', 'seized']

SUITES = {
    'servers': dict(servers=['sinkholed', 'knot', 'nsd', 'reflector'], mixes=DEFAULT_MIXES),
    'telemetry': dict(servers=['sinkholed', 'sinkholed-jsonl-geo', 'sinkholed-dnstap', 'knot-dnstap'],
                      mixes=['wildcard', 'edns-ecs']),
}

ZONES = [('aitism.net', 'aitism.net.zone', {'case': '1:24-cv-2323', 'operation': 'Azure Abuse Enterprise'}),
         ('nxtest.example', 'nxtest.example.zone', {'case': 'bench'})]
SEIZED_TEMPLATE = 'seized-template.zone'
SEIZED_TAGS = {'case': '1:20-cv-01217', 'operation': 'Necurs'}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- servers

def dns_query(name, qtype=6):
    """A minimal DNS query in wire format (id 0x5344, RD off)."""
    q = struct.pack('>HHHHHH', 0x5344, 0, 1, 0, 0, 0)
    for lab in name.rstrip('.').split('.'):
        q += bytes([len(lab)]) + lab.encode()
    return q + b'\0' + struct.pack('>HH', qtype, 1)


def port_free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the servers do: TIME_WAIT is fine
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
        finally:
            s.close()
    return True


class Server:
    """One server process (and its children) in its own session, pinned to core 1."""

    def __init__(self, name, port, tmp, args):
        self.name, self.port, self.args = name, port, args
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.proc = None
        self.cgroup = None
        self.unavailable = None
        self.stderr_path = os.path.join(self.dir, 'stderr.log')
        self.tel_files = []          # telemetry output files, to measure bytes written per query

    # -- configs
    def command(self):
        raise NotImplementedError

    def start(self):
        cmd = ['taskset', '-c', self.args.server_cpu] + self.command()
        self.cmdline = cmd
        err = open(self.stderr_path, 'w')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     cwd=self.dir, start_new_session=True)
        err.close()

    def wait_ready(self, timeout=15.0):
        """Until aitism.net answers and, with the seized mix, the last seized domain answers other than
        SERVFAIL (Knot DNS loads zones after it starts answering, and says SERVFAIL until then)."""
        probes = [(dns_query('aitism.net'), False)]
        last = getattr(self.args, 'seized_last', None)
        if last and not getattr(self, 'udp_only', False):
            probes.append((dns_query(last, 1), True))
            timeout = max(timeout, 120.0)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        end = time.time() + timeout
        try:
            for q, loaded in probes:
                while True:
                    if self.proc.poll() is not None or time.time() >= end:
                        return False
                    try:
                        s.sendto(q, ('127.0.0.1', self.port))
                        data, _ = s.recvfrom(4096)
                        if data[:2] == q[:2] and data[2] & 0x80 and not (loaded and data[3] & 0xf == 2):
                            break
                        time.sleep(0.05)
                    except OSError:
                        time.sleep(0.1)
            return True
        finally:
            s.close()

    def group_pids(self):
        return [int(p) for p, _ in self._group()]

    def pin(self):
        """Pin every thread of every process of the group to the server CPU. Knot DNS sets its own
        workers' affinity at start (its UDP worker lands on CPU 0, beside dnsperf), so taskset at exec
        time is not enough."""
        for p in self.group_pids():
            subprocess.run(['taskset', '-a', '-p', '-c', self.args.server_cpu, str(p)],
                           stdout=subprocess.DEVNULL, check=True)

    def strays(self):
        """Threads of the group allowed on CPUs other than the server CPU (should be none)."""
        out = []
        for p in self.group_pids():
            try:
                for t in os.listdir(f'/proc/{p}/task'):
                    with open(f'/proc/{p}/task/{t}/status') as f:
                        for line in f:
                            if line.startswith('Cpus_allowed_list:'):
                                cpus = line.split()[1]
                                if cpus != self.args.server_cpu:
                                    out.append(f'{p}/{t}:{cpus}')
            except OSError:
                pass
        return out

    def cap(self, pct):
        out = subprocess.run(['bash', os.path.join(TOOLS, 'cap-cpu.sh'), str(self.proc.pid), str(pct),
                              f'sinkholed-bench-{self.proc.pid}'],
                             capture_output=True, text=True, check=True).stdout
        self.cgroup = out.strip().splitlines()[-1]
        period = self.args.cap_period_us
        if period != 10000:          # cap-cpu.sh uses a 10 ms period: the server runs 5 ms, sleeps 5 ms
            quota = period * pct // 100
            if os.path.exists(os.path.join(self.cgroup, 'cpu.max')):
                with open(os.path.join(self.cgroup, 'cpu.max'), 'w') as f:
                    f.write(f'{quota} {period}\n')
            else:
                # v1: quota and period are at least 1 ms; write the smaller one first
                order = ['cpu.cfs_quota_us', 'cpu.cfs_period_us'] if period < 10000 else \
                        ['cpu.cfs_period_us', 'cpu.cfs_quota_us']
                for fn in order:
                    with open(os.path.join(self.cgroup, fn), 'w') as f:
                        f.write(f'{quota if "quota" in fn else period}\n')

    def _group(self):
        """(pid, stat fields after the command name) of every process in the server's group."""
        pgid = self.proc.pid
        for p in os.listdir('/proc'):
            if not p.isdigit():
                continue
            try:
                with open(f'/proc/{p}/stat') as f:
                    st = f.read()
            except OSError:
                continue
            try:
                fl = st[st.rindex(')') + 2:].split()
                if int(fl[2]) == pgid:
                    yield p, fl
            except ValueError:
                continue

    def cpu_ticks(self):
        """utime+stime of every process in the server's process group (all threads included)."""
        return sum(int(fl[11]) + int(fl[12]) for _, fl in self._group())

    def thread_ticks(self):
        """utime+stime per thread name (threads of one name summed) of the server's process group."""
        out = {}
        for p, _ in self._group():
            try:
                for t in os.listdir(f'/proc/{p}/task'):
                    with open(f'/proc/{p}/task/{t}/stat') as f:
                        ts = f.read()
                    name = ts[ts.index('(') + 1:ts.rindex(')')]
                    fl = ts[ts.rindex(')') + 2:].split()
                    out[name] = out.get(name, 0) + int(fl[11]) + int(fl[12])
            except (OSError, ValueError):
                continue
        return out

    def tel_paths(self):
        # a file and the rotated files beside it (events.jsonl.1, .2 ...), not its manifest
        return [q for p in self.tel_files for q in [p] + sorted(glob.glob(glob.escape(p) + '.*'))
                if not q.endswith('.manifest')]

    def tel_bytes(self):
        total = 0
        for p in self.tel_paths():
            try:
                total += os.stat(p).st_size
            except OSError:
                pass
        return total

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # children (nsd's) may outlive the leader for a moment
        for _ in range(50):
            if not any(self._group()):
                break
            time.sleep(0.1)
        if self.cgroup and os.path.isdir(self.cgroup):
            try:
                os.rmdir(self.cgroup)
            except OSError as e:
                log(f'{self.name}: could not remove {self.cgroup}: {e}')

    def stderr_tail(self, n=5):
        try:
            with open(self.stderr_path, errors='replace') as f:
                return ''.join(f.readlines()[-n:]).strip()
        except OSError:
            return ''

    def exit_info(self):
        """After stop(): how the server ended (a SIGTERM should give 0)."""
        return {'exit_rc': self.proc.returncode if self.proc else None}


class Reflector(Server):
    udp_only = True

    def command(self):
        return [self.args.reflector_bin, str(self.port), '1']


class Sinkholed(Server):
    udp_only = False

    def __init__(self, name, port, tmp, args, telemetry=None):
        super().__init__(name, port, tmp, args)
        self.telemetry = telemetry
        self.conf = os.path.join(self.dir, 'sinkholed.yml')
        zl = []
        for apex, fn, tags in ZONES:
            t = ', '.join(f'{k}: "{v}"' for k, v in tags.items())
            zl.append(f'  - file: {args.zonedir}/{fn}\n    name: {apex}\n    tags: {{{t}}}\n')
        c = (f'server:\n  listen: ["127.0.0.1@{port}"]\n  workers: 1\n  identity: ns9.sinkhole.example\n'
             f'zones:\n{"".join(zl)}')
        c += seized_conf(args)
        if telemetry:
            c += 'telemetry:\n  stats_interval_s: 0\n'
            if 'jsonl' in telemetry:
                p = os.path.join(self.dir, 'events.jsonl')
                self.tel_files.append(p)
                # Rotation as deployed (the default 256 MiB): appending to one file of gigabytes
                # costs ext4 more CPU per byte than to files of 256 MiB. Nothing is deleted.
                m = ', manifest: true' if 'manifest' in telemetry else ''
                c += f'  jsonl: {{path: {p}, rotate_mb: 256, keep: 1000{m}}}\n'
            if 'dnstap' in telemetry:
                p = os.path.join(self.dir, 'events.tap')
                self.tel_files.append(p)
                c += f'  dnstap: {{file: {p}, messages: all}}\n'
            if 'geo' in telemetry:
                c += (f'geoip:\n  city: {GEOIP}/GeoIP2-City-Test.mmdb\n'
                      f'  asn: {GEOIP}/GeoLite2-ASN-Test.mmdb\n')
        with open(self.conf, 'w') as f:
            f.write(c)

    def command(self):
        return [self.args.sinkholed, '-c', self.conf]

    def exit_info(self):
        # at exit (SIGTERM) the telemetry thread logs its final counters
        info = super().exit_info()
        n = None
        for p in self.tel_paths():
            if '.jsonl' in p and os.path.exists(p):
                with open(p, 'rb') as f:
                    for chunk in iter(lambda: f.read(1 << 22), b''):
                        n = (n or 0) + chunk.count(b'\n')
        if n is not None:
            info['jsonl_records'] = n
        try:
            with open(self.stderr_path, errors='replace') as f:
                text = f.read()
        except OSError:
            return info
        m = None
        for m in re.finditer(r'telemetry: (.*?)dropped \(ring full\) (\d+); processed (\d+)', text):
            pass
        if m:
            info['telemetry_dropped'] = int(m.group(2))
            info['telemetry_processed'] = int(m.group(3))
            for sink, w, fl in re.findall(r'(\w+) written (\d+) failed (\d+)', m.group(1)):
                info[f'{sink}_written'] = int(w)
                info[f'{sink}_failed'] = int(fl)
        return info


def seized_conf(args):
    """The `seized:` section for the seized mix ('' when the mix is not selected)."""
    if not getattr(args, 'seized_list', None):
        return ''
    t = ', '.join(f'{k}: "{v}"' for k, v in SEIZED_TAGS.items())
    return (f'seized:\n  - list: {args.seized_list}\n    template: {os.path.join(args.zonedir, SEIZED_TEMPLATE)}\n'
            f'    tags: {{{t}}}\n')


class Knot(Server):
    udp_only = False

    def __init__(self, name, port, tmp, args, dnstap=False):
        super().__init__(name, port, tmp, args)
        d = self.dir
        self.conf = os.path.join(d, 'knot.conf')
        os.makedirs(os.path.join(d, 'db'))
        c = knot_conf_head(d, port)
        if dnstap:
            p = os.path.join(d, 'knot.tap')
            self.tel_files.append(p)
            c += f"""mod-dnstap:
  - id: tap
    sink: {p}
    log-queries: on
    log-responses: on
"""
        c += 'template:\n' + knot_template(args.zonedir)
        if dnstap:
            c += '    global-module: mod-dnstap/tap\n'
        seized = getattr(args, '_seized_domains', None)
        if seized:
            c += knot_template(args.seized_zonedir, 'seized')
        c += 'zone:\n' + ''.join(f'  - domain: {apex}\n' for apex, _, _ in ZONES)
        if seized:
            c += ''.join(f'  - domain: {d}\n    template: seized\n' for d in seized)
        with open(self.conf, 'w') as f:
            f.write(c)

    def command(self):
        return ['knotd', '-c', self.conf]


def nsd_conf_head(d, port, zonesdir):
    """nsd.conf without zones: one server process, no rate limit, no database, no control."""
    return f"""server:
    server-count: 1
    ip-address: 127.0.0.1@{port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{zonesdir}"
    database: ""
    zonelistfile: "{d}/zone.list"
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    verbosity: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
"""


def knot_conf_head(d, port):
    """knot.conf's server, log and database sections: one UDP, TCP and background worker."""
    return f"""server:
    rundir: {d}
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: {d}/db
"""


def knot_template(zonesdir, tid='default'):
    """A knot.conf template serving "<zone>.zone" files from zonesdir, read whole, never written."""
    return f"""  - id: {tid}
    storage: {zonesdir}
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
"""


class NSD(Server):
    udp_only = False

    def __init__(self, name, port, tmp, args):
        super().__init__(name, port, tmp, args)
        d = self.dir
        self.conf = os.path.join(d, 'nsd.conf')
        c = nsd_conf_head(d, port, args.zonedir)
        c += ''.join(f'zone:\n    name: {apex}\n    zonefile: {fn}\n' for apex, fn, _ in ZONES)
        c += ''.join(f'zone:\n    name: {d}\n    zonefile: {args.seized_zonedir}/{d}.zone\n'
                     for d in getattr(args, '_seized_domains', None) or [])
        with open(self.conf, 'w') as f:
            f.write(c)

    def command(self):
        return ['nsd', '-d', '-c', self.conf]


def make_server(name, port, tmp, args):
    if name == 'reflector':
        return Reflector(name, port, tmp, args)
    if name == 'sinkholed':
        return Sinkholed(name, port, tmp, args)
    if name == 'sinkholed-jsonl-geo':
        return Sinkholed(name, port, tmp, args, telemetry={'jsonl', 'geo'})
    if name == 'sinkholed-jsonl':
        return Sinkholed(name, port, tmp, args, telemetry={'jsonl'})
    if name == 'sinkholed-jsonl-geo-manifest':
        return Sinkholed(name, port, tmp, args, telemetry={'jsonl', 'geo', 'manifest'})
    if name == 'sinkholed-dnstap':
        return Sinkholed(name, port, tmp, args, telemetry={'dnstap'})
    if name == 'knot':
        return Knot(name, port, tmp, args)
    if name == 'knot-dnstap':
        return Knot(name, port, tmp, args, dnstap=True)
    if name == 'nsd':
        return NSD(name, port, tmp, args)
    raise SystemExit(f'unknown server {name!r}')


# ---------------------------------------------------------------- one dnsperf run

def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def udp_rcvbuf_errors():
    with open('/proc/net/snmp') as f:
        rows = [ln.split() for ln in f if ln.startswith('Udp:')]
    return int(rows[1][rows[0].index('RcvbufErrors')])


def parse_dnsperf(path):
    """dnsperf's statistics from its output file: counts, QPS, run time, latency figures, packet
    sizes, response codes; with -v also each answer's latency (`latencies`, seconds)."""
    r = dict(rcodes={}, latencies=[])
    with open(path, errors='replace') as f:
        for line in f:
            if line.startswith('> '):
                try:
                    r['latencies'].append(float(line[line.rindex(' ') + 1:]))
                except ValueError:
                    pass
                continue
            w = line.split()
            if 'Queries sent:' in line:
                r['sent'] = int(w[2])
            elif 'Queries completed:' in line:
                r['completed'] = int(w[2])
            elif 'Queries lost:' in line:
                r['lost'] = int(w[2])
            elif 'Queries interrupted:' in line:
                r['interrupted'] = int(w[2])
            elif 'Queries per second:' in line:
                r['qps'] = float(w[3])
            elif 'Run time (s):' in line:
                r['run_s'] = float(w[3])
            elif 'Average Latency (s):' in line:
                r['lat_avg_ms'] = float(w[3]) * 1e3
                mm = re.search(r'max ([\d.]+)', line)
                if mm:
                    r['lat_max_ms'] = float(mm.group(1)) * 1e3
            elif 'Latency StdDev (s):' in line:
                r['lat_stddev_ms'] = float(w[3]) * 1e3
            elif 'Average packet size:' in line:
                mm = re.search(r'request (\d+), response (\d+)', line)
                if mm:
                    r['req_size'], r['resp_size'] = int(mm.group(1)), int(mm.group(2))
            elif 'Response codes:' in line:
                for code, n in re.findall(r'([A-Z]+) (\d+) \(', line):
                    r['rcodes'][code] = int(n)
    return r


def run_dnsperf(srv, mix, args, tmp):
    m = MIXES[mix]
    out_path = os.path.join(tmp, 'dnsperf.out')
    cmd = ['taskset', '-c', args.client_cpu, 'dnsperf', '-s', '127.0.0.1', '-p', str(srv.port),
           '-d', os.path.join(args.querydir, m['file']), '-c', str(args.clients), '-q', str(args.outstanding),
           '-l', str(args.seconds), '-t', str(args.timeout)] + m['flags']
    if args.client_buffer:
        cmd += ['-b', str(args.client_buffer)]
    if args.latency:
        cmd.append('-v')
    e0 = udp_rcvbuf_errors()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0 = srv.tel_bytes()
    c0 = srv.cpu_ticks()
    th0 = srv.thread_ticks()
    t0 = time.monotonic()
    with open(out_path, 'w') as out:
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True,
                           timeout=args.seconds + args.timeout + 30)
    wall = time.monotonic() - t0
    c1 = srv.cpu_ticks()
    th1 = srv.thread_ticks()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b1 = srv.tel_bytes()
    e1 = udp_rcvbuf_errors()
    r = dict(server=srv.name, mix=mix, rc=p.returncode, wall_s=round(wall, 3))
    r.update(parse_dnsperf(out_path))
    lat = r.pop('latencies')
    # machine-wide (other processes count too): datagrams dropped because a socket buffer was full
    r['udp_rcvbuf_errors'] = e1 - e0
    if 'qps' not in r:
        r['error'] = (p.stderr or '').strip()[-300:] or 'dnsperf printed no statistics'
        return r
    cpu = (c1 - c0) / TICK
    r['server_cpu_s'] = cpu
    r['server_cpu_share'] = cpu / args.seconds
    r['cpu_us_per_q'] = cpu * 1e6 / max(r['completed'], 1)
    # the same per thread (by name: sk-worker-0, sk-telemetry ...), threads that ran at all
    r['thread_us_per_q'] = {k: round((v - th0.get(k, 0)) / TICK * 1e6 / max(r['completed'], 1), 3)
                            for k, v in th1.items() if v > th0.get(k, 0)}
    r['client_cpu_s'] = round((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), 3)
    if srv.tel_files:
        r['telemetry_bytes'] = b1 - b0
        r['telemetry_bytes_per_q'] = (b1 - b0) / max(r['completed'], 1)
    if lat:
        lat.sort()
        r['lat_p50_ms'] = pct(lat, 50) * 1e3
        r['lat_p99_ms'] = pct(lat, 99) * 1e3
        r['lat_samples'] = len(lat)
    return r


# ---------------------------------------------------------------- summary

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec):
    return '-' if x is None else format(x, spec)


def summarize(runs, servers, mixes, floor, ref):
    """Per mix and server: medians of the runs, and the medians of per-round ratios."""
    summary = {}
    for mix in mixes:
        rows = {}
        by = {}
        for r in runs:
            if r['mix'] == mix and 'qps' in r:
                by.setdefault(r['server'], {})[r['round']] = r
        for s in servers:
            rs = list(by.get(s, {}).values())
            if not rs:
                continue
            row = dict(runs=len(rs),
                       qps=med([r['qps'] for r in rs]),
                       lost=med([r.get('lost') for r in rs]),
                       cpu_us=med([r['cpu_us_per_q'] for r in rs]),
                       cpu_share=med([r['server_cpu_share'] for r in rs]),
                       p50=med([r.get('lat_p50_ms') for r in rs]),
                       p99=med([r.get('lat_p99_ms') for r in rs]),
                       lat_avg=med([r.get('lat_avg_ms') for r in rs]),
                       tel_bpq=med([r.get('telemetry_bytes_per_q') for r in rs]),
                       resp=med([r.get('resp_size') for r in rs]),
                       qps_min=min(r['qps'] for r in rs), qps_max=max(r['qps'] for r in rs))
            for tag, other in (('floor', floor), ('ref', ref)):
                if other is None or other == s or other not in by:
                    continue
                qr, cr = [], []
                for rnd, r in by[s].items():
                    o = by[other].get(rnd)
                    if o:
                        qr.append(r['qps'] / o['qps'] if o['qps'] else None)
                        cr.append(r['cpu_us_per_q'] / o['cpu_us_per_q'] if o['cpu_us_per_q'] else None)
                row[f'qps_vs_{tag}'] = med(qr)
                row[f'cpu_vs_{tag}'] = med(cr)
            rows[s] = row
        summary[mix] = rows
    return summary


def print_tables(summary, args, floor, ref, out=sys.stdout):
    mode = f'capped at {args.cap}% of core {args.server_cpu}' if args.cap else 'uncapped'
    for mix, rows in summary.items():
        if not rows:
            continue
        print(f'\n### {mix}: {MIXES[mix]["doc"]}\n', file=out)
        print(f'{max(r["runs"] for r in rows.values())} rounds, '
              f'{args.seconds} s each, server {mode}; medians; ratios are medians of per-round ratios.\n',
              file=out)
        hdr = ['server', 'QPS (min-max)', 'lost', 'CPU us/q', 'CPU share', 'p50 ms', 'p99 ms', 'resp B']
        if floor:
            hdr += ['QPS / floor', 'CPU/q / floor']
        if ref:
            hdr += [f'QPS / {ref}', f'CPU/q / {ref}']
        if any(r.get('tel_bpq') for r in rows.values()):
            hdr += ['telemetry B/q']
        print('| ' + ' | '.join(hdr) + ' |', file=out)
        print('|' + '---|' * len(hdr), file=out)
        for s, r in rows.items():
            c = [s, f'{r["qps"]:,.0f} ({r["qps_min"] / 1e3:.0f}k-{r["qps_max"] / 1e3:.0f}k)', fmt(r['lost'], '.0f'),
                 fmt(r['cpu_us'], '.2f'), fmt(r['cpu_share'], '.2f'), fmt(r['p50'], '.2f'), fmt(r['p99'], '.2f'),
                 fmt(r.get('resp'), '.0f')]
            if floor:
                c += [fmt(r.get('qps_vs_floor'), '.2f'), fmt(r.get('cpu_vs_floor'), '.2f')]
            if ref:
                c += [fmt(r.get('qps_vs_ref'), '.2f'), fmt(r.get('cpu_vs_ref'), '.2f')]
            if 'telemetry B/q' in hdr:
                c += [fmt(r.get('tel_bpq'), '.0f')]
            print('| ' + ' | '.join(c) + ' |', file=out)


def ratio_of(runs, mix, a, b, key='cpu_us_per_q'):
    """Median over rounds of a's key / b's key within the same round."""
    by = {}
    for r in runs:
        if r['mix'] == mix and 'qps' in r:
            by[(r['server'], r['round'])] = r
    xs = []
    for (s, rnd), r in by.items():
        if s == a and (b, rnd) in by and by[(b, rnd)][key]:
            xs.append(r[key] / by[(b, rnd)][key])
    return (med(xs), xs) if xs else (None, [])


def print_checks(runs, suite, mixes, servers, out=sys.stdout):
    lines = []
    if suite == 'servers' and 'sinkholed' in servers:
        for mix in mixes:
            udp = MIXES[mix]['udp']
            if 'knot' in servers:
                q, _ = ratio_of(runs, mix, 'sinkholed', 'knot', 'qps')
                if q is not None:
                    lines.append(f'{mix}: sinkholed QPS = {q:.2f} x Knot (target >= 1.00): {"met" if q >= 1 else "NOT met"}')
                c, _ = ratio_of(runs, mix, 'sinkholed', 'knot')
                if udp and c is not None:
                    lines.append(f'{mix}: sinkholed CPU/q = {c:.2f} x Knot (target <= 0.90): {"met" if c <= 0.9 else "NOT met"}')
            if udp and 'reflector' in servers:
                c, _ = ratio_of(runs, mix, 'sinkholed', 'reflector')
                if c is not None:
                    lines.append(f'{mix}: sinkholed CPU/q = {c:.2f} x floor (target <= 1.10): {"met" if c <= 1.1 else "NOT met"}')
            lost = [r.get('lost', 0) for r in runs if r['mix'] == mix and r['server'] == 'sinkholed' and 'qps' in r]
            if lost:
                lines.append(f'{mix}: sinkholed lost {sum(lost)} queries over {len(lost)} runs (target: 0)')
    if 'seized' in mixes:
        # every name of the seized mix exists: any other rcode means the list was not served
        for s in servers:
            rc = {}
            for r in runs:
                if r['mix'] == 'seized' and r['server'] == s:
                    for k, v in r.get('rcodes', {}).items():
                        rc[k] = rc.get(k, 0) + v
            bad = {k: v for k, v in rc.items() if k != 'NOERROR'}
            if bad:
                lines.append(f'seized: {s} answered ' + ', '.join(f'{k} {v}' for k, v in bad.items())
                             + f' of {sum(rc.values())} (every name exists: NOT a valid figure)')
    if suite == 'telemetry':
        for mix in mixes:
            for a, b, target in (('sinkholed-jsonl-geo', 'knot-dnstap', 1.0), ('sinkholed-jsonl-geo', 'sinkholed', 1.2),
                                 ('sinkholed-dnstap', 'knot-dnstap', None), ('sinkholed-dnstap', 'sinkholed', 1.2),
                                 ('sinkholed-jsonl-geo-manifest', 'sinkholed', 1.2),
                                 ('sinkholed-jsonl-geo-manifest', 'sinkholed-jsonl-geo', None)):
                if a in servers and b in servers:
                    c, xs = ratio_of(runs, mix, a, b)
                    if c is None:
                        continue
                    t = '' if target is None else f' (target <= {target:.2f}): {"met" if c <= target else "NOT met"}'
                    lines.append(f'{mix}: CPU/q {a} / {b} = {c:.2f}{t}; per round '
                                 + ', '.join(f'{x:.2f}' for x in xs))
    if suite == 'telemetry':
        # Where a variant's CPU per query goes, thread by thread (medians over rounds): the
        # workers' share shows what recording costs the query path, the rest what the sinks cost.
        for mix in mixes:
            for sv in servers:
                if not sv.startswith('sinkholed'):
                    continue
                per = {}
                for r in runs:
                    if r['mix'] == mix and r['server'] == sv and 'thread_us_per_q' in r:
                        for k, v in r['thread_us_per_q'].items():
                            per.setdefault(k, []).append(v)
                if per:
                    lines.append(f'{mix}: {sv} CPU us/q by thread: ' + ', '.join(
                        f'{k} {med(v):.2f}' for k, v in sorted(per.items(), key=lambda kv: -med(kv[1]))))
    if lines:
        print('\n### Targets (issue 3 / issue 5), medians of per-round ratios\n', file=out)
        for ln in lines:
            print('- ' + ln, file=out)


# ---------------------------------------------------------------- main

def report(path):
    with open(path) as f:
        d = json.load(f)
    a = argparse.Namespace(**d['args'])
    runs = d['runs']
    names = [n for n, v in d['servers'].items() if not v.get('unavailable')]
    mixes = list(dict.fromkeys(r['mix'] for r in runs))
    floor = 'reflector' if 'reflector' in names else None
    ref = ('sinkholed' if d['suite'] == 'telemetry' and 'sinkholed' in names else 'knot' if 'knot' in names else None)
    m = d['machine']
    print(f'## bench/run.py --suite {d["suite"]}: {d["started"]}, sinkholed {d["sinkholed_rev"]}, '
          f'{m["nproc"]} CPUs ({m["cpu"]}), load average at start {" ".join(m["loadavg"])}')
    print_tables(summarize(runs, names, mixes, floor, ref), a, floor, ref)
    print_checks(runs, d['suite'], mixes, names)


def machine_info():
    model = ''
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except Exception:
            return None
    return dict(nproc=os.cpu_count(), cpu=model, kernel=os.uname().release,
                loadavg=open('/proc/loadavg').read().split()[:3],
                knot=ver(['knotd', '-V']), nsd=ver(['dpkg-query', '-W', '-f', '${Version}', 'nsd']),
                dnsperf=ver(['dpkg-query', '-W', '-f', '${Version}', 'dnsperf']))


def git_rev():
    try:
        rev = subprocess.run(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', REPO, 'status', '--porcelain', '--untracked-files=no', 'server'],
                               capture_output=True, text=True).stdout.strip()
        return rev + ('+dirty' if dirty else '')
    except OSError:
        return None


def ensure_queries(args):
    gen = os.path.join(BENCH, 'gen_queries.py')
    if args.querydir != os.path.join(BENCH, 'queries'):
        return
    need = False
    for n in ('wildcard.txt', 'nxdomain.txt', 'seized.txt', 'seized.list'):
        p = os.path.join(args.querydir, n)
        if not os.path.exists(p) or os.path.getmtime(p) < os.path.getmtime(gen):
            need = True
    if need:
        subprocess.run([sys.executable, gen, '--out', args.querydir], check=True, stdout=subprocess.DEVNULL)


def prepare_seized(args, names, tmp):
    """For the seized mix: sinkholed's list, one zone file per domain for Knot DNS and NSD. Returns
    why the mix cannot run, or None. A sinkholed that rejects `seized:` (before issue 4) would
    otherwise be unavailable for every mix: check the config first with --check."""
    args.seized_list = os.path.join(args.querydir, 'seized.list')
    template = os.path.join(args.zonedir, SEIZED_TEMPLATE)
    if not os.path.exists(args.seized_list):
        return f'no {args.seized_list}'
    with open(args.seized_list) as f:
        domains = [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]
    if any(n.startswith('sinkholed') for n in names):
        conf = os.path.join(tmp, 'seized-check.yml')
        with open(conf, 'w') as f:
            f.write('server:\n  listen: ["127.0.0.1@53"]\n  workers: 1\n' + seized_conf(args))
        p = subprocess.run([args.sinkholed, '--check', '-c', conf], capture_output=True, text=True, timeout=120)
        if p.returncode:
            args.seized_list = None
            err = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip()]
            return 'sinkholed --check rejects seized: ' + ('; '.join(err[:2]) or f'rc {p.returncode}')[:300]
    if any(n in ('knot', 'knot-dnstap', 'nsd') for n in names):
        args.seized_zonedir = os.path.join(tmp, 'seized-zones')
        os.makedirs(args.seized_zonedir)
        with open(template) as f:
            text = f.read()
        for d in domains:
            with open(os.path.join(args.seized_zonedir, d + '.zone'), 'w') as f:
                f.write(text)
        args._seized_domains = domains
    args.seized_last = domains[-1]
    return None


def build(args):
    bd = os.path.join(REPO, 'build-bench')
    if not os.path.isdir(bd):
        # werror off: gcc 12 at -O3 warns maybe-uninitialized in server/net/sockopt.c (a false positive)
        subprocess.run(['meson', 'setup', bd, '--buildtype=release', '-Dwerror=false'], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
    p = subprocess.run(['ninja', '-C', bd, 'server/sinkholed'], capture_output=True, text=True)
    if p.returncode:
        sys.exit('build failed:\n' + p.stdout[-2000:] + p.stderr[-2000:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--suite', choices=sorted(SUITES), default='servers')
    ap.add_argument('--servers', help='comma-separated, in run order (default: the suite\'s); known: reflector, '
                    'sinkholed, sinkholed-jsonl-geo, sinkholed-jsonl, sinkholed-jsonl-geo-manifest, sinkholed-dnstap, '
                    'knot, knot-dnstap, nsd')
    ap.add_argument('--mixes', help='comma-separated (default: the suite\'s); known: ' + ', '.join(MIXES))
    ap.add_argument('--rounds', type=int, default=4)
    ap.add_argument('--seconds', type=int, default=5, help='dnsperf -l per run')
    ap.add_argument('--cap', type=int, default=50, help='cap each server at this %% of one core (0: no cap)')
    ap.add_argument('--cap-period-us', type=int, default=10000,
                    help='CFS period of the cap (cap-cpu.sh: 10000; a server then sleeps up to period*(1-cap) '
                    'at a time, and queries pile up in its socket meanwhile; the quota must be >= 1000)')
    ap.add_argument('--clients', type=int, default=1, help='dnsperf -c')
    ap.add_argument('--outstanding', type=int, default=1000, help='dnsperf -q')
    ap.add_argument('--timeout', type=int, default=5, help='dnsperf -t (seconds before a query counts as lost)')
    ap.add_argument('--client-buffer', type=int, default=4096,
                    help='dnsperf -b: its socket buffers in KiB (0: dnsperf\'s default, which overflows at '
                    '1000 outstanding: ~750 answers dropped in dnsperf\'s own socket, counted as lost)')
    ap.add_argument('--no-latency', dest='latency', action='store_false',
                    help='do not run dnsperf -v (no p50/p99; slightly less client work)')
    ap.add_argument('--port-base', type=int, default=25350,
                    help='first of the loopback ports (one per server; below the ephemeral range 32768-60999, '
                    'and the next free block is taken if one is busy)')
    ap.add_argument('--server-cpu', default='1')
    ap.add_argument('--client-cpu', default='0')
    ap.add_argument('--sinkholed', default=os.path.join(REPO, 'build-bench', 'server', 'sinkholed'))
    ap.add_argument('--no-build', dest='build', action='store_false', help='do not run ninja -C build-bench server/sinkholed first')
    ap.add_argument('--zonedir', default=os.path.join(BENCH, 'zones'))
    ap.add_argument('--querydir', default=os.path.join(BENCH, 'queries'))
    ap.add_argument('--results', default=os.path.join(BENCH, 'results'))
    ap.add_argument('--keep-tmp', action='store_true', help='keep the temp dir (configs, logs, telemetry files)')
    ap.add_argument('--report', metavar='JSON', help='print the tables of an earlier run from its results file; run nothing')
    args = ap.parse_args()
    if args.report:
        return report(args.report)
    if os.geteuid() != 0 and args.cap:
        sys.exit('--cap needs root (cgroups); use --cap 0 to run uncapped')

    suite = SUITES[args.suite]
    names = args.servers.split(',') if args.servers else list(suite['servers'])
    mixes = args.mixes.split(',') if args.mixes else list(suite['mixes'])
    for m in mixes:
        if m not in MIXES:
            sys.exit(f'unknown mix {m!r}')
    if args.build and args.sinkholed == os.path.join(REPO, 'build-bench', 'server', 'sinkholed'):
        build(args)
    ensure_queries(args)
    skipped = {}
    for m in list(mixes):
        if not os.path.exists(os.path.join(args.querydir, MIXES[m]['file'])):
            mixes.remove(m)
            skipped[m] = 'no query file' + (' (hook: comes with issue 4)' if MIXES[m].get('hook') else '')
    for m, why in skipped.items():
        if not (m == 'seized' and not args.mixes):
            log(f'mix {m}: skipped: {why}')

    tmp = tempfile.mkdtemp(prefix='sinkholed-bench-')
    if 'seized' in mixes:
        why = prepare_seized(args, names, tmp)
        if why:
            mixes.remove('seized')
            skipped['seized'] = why
            log(f'mix seized: skipped: {why}')
    if shutil.which('cc') is None:
        sys.exit('cc not found')
    args.reflector_bin = os.path.join(tmp, 'reflector.bin')
    if 'reflector' in names:
        subprocess.run(['cc', '-O2', '-pthread', '-o', args.reflector_bin, os.path.join(TOOLS, 'reflector.c')],
                       check=True)

    servers = []
    started_at = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    info = machine_info()
    runs = []
    try:
        base = args.port_base
        while not all(port_free(base + i) for i in range(len(names))):
            base += len(names)
            if base > args.port_base + 500:
                sys.exit(f'no {len(names)} free ports from {args.port_base}: choose another --port-base')
        for i, n in enumerate(names):
            servers.append(make_server(n, base + i, tmp, args))
        for s in servers:
            s.start()
        for s in servers:
            if not s.wait_ready():
                s.unavailable = s.stderr_tail(3) or 'did not answer'
                log(f'{s.name}: unavailable, skipped: {s.unavailable}')
                s.stop()
            else:
                s.pin()
                if args.cap:
                    s.cap(args.cap)
        live = [s for s in servers if not s.unavailable]
        if not live:
            sys.exit('no server started')
        names = [s.name for s in live]
        floor = 'reflector' if 'reflector' in names else None
        ref = ('knot-dnstap' if args.suite == 'telemetry' and 'knot-dnstap' in names else
               'knot' if 'knot' in names else None)
        if args.suite == 'telemetry' and 'sinkholed' in names:
            ref = 'sinkholed'      # the table's second ratio: to telemetry off; Knot's is in the checks
        n_runs = sum(len([s for s in live if MIXES[m]['udp'] or not s.udp_only]) for m in mixes) * args.rounds
        log(f'{len(live)} servers ({", ".join(f"{s.name}:{s.port}" for s in live)}), mixes {", ".join(mixes)}, '
            f'{args.rounds} rounds, {n_runs} runs of {args.seconds} s: about '
            f'{n_runs * (args.seconds + 2) / 60:.1f} min; temp {tmp}')
        k = 0
        for mix in mixes:
            for rnd in range(args.rounds):
                for s in live:
                    if s.udp_only and not MIXES[mix]['udp']:
                        continue
                    k += 1
                    r = run_dnsperf(s, mix, args, tmp)
                    r['round'] = rnd
                    stray = s.strays()
                    if stray:
                        r['stray_threads'] = stray
                        log(f'{s.name}: threads not on CPU {args.server_cpu}: {stray}; re-pinning')
                        s.pin()
                    runs.append(r)
                    if 'qps' in r:
                        log(f'[{k}/{n_runs}] {mix} r{rnd} {s.name}: qps {r["qps"]:.0f} lost {r.get("lost")} '
                            f'cpu {r["server_cpu_s"]:.2f}s {r["cpu_us_per_q"]:.2f}us/q '
                            f'p50 {fmt(r.get("lat_p50_ms"), ".2f")} p99 {fmt(r.get("lat_p99_ms"), ".2f")} ms')
                    else:
                        log(f'[{k}/{n_runs}] {mix} r{rnd} {s.name}: ERROR {r.get("error")}')
                    if s.proc.poll() is not None:
                        log(f'{s.name} exited (rc {s.proc.returncode}): {s.stderr_tail()}')
                        sys.exit(1)
    finally:
        for s in servers:
            s.stop()
        exit_info = {s.name: s.exit_info() for s in servers if not s.unavailable}
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    summary = summarize(runs, names, mixes, floor, ref)
    print(f'## bench/run.py --suite {args.suite}: {started_at}, sinkholed {git_rev()}, '
          f'{info["nproc"]} CPUs ({info["cpu"]}), load average at start {" ".join(info["loadavg"])}')
    print_tables(summary, args, floor, ref)
    print_checks(runs, args.suite, mixes, names)
    for s in servers:
        if s.unavailable:
            print(f'\n- {s.name}: not measured: {s.unavailable}')
    for name, ei in exit_info.items():
        rc = ei.get('exit_rc')
        bad = rc not in (0, -signal.SIGTERM, None)
        if bad:
            why = f'killed by signal {-rc}' if rc < 0 else f'exit status {rc}'
            print(f'- {name}: after SIGTERM it ended with {why} (see its stderr.log with --keep-tmp)')
        rest = {k: v for k, v in ei.items() if k != 'exit_rc'}
        if rest:
            answered = sum(r.get('completed', 0) for r in runs if r['server'] == name)
            print(f'- {name} telemetry: ' + ', '.join(f'{k} {v}' for k, v in rest.items())
                  + f' (dnsperf got {answered} answers in all, plus a few readiness probes)')
            if rest.get('telemetry_dropped'):
                # events dropped at a full ring were never formatted: CPU per query is then too low
                print(f'- {name}: NOT a valid telemetry figure: {rest["telemetry_dropped"]} events '
                      f'dropped (ring full); its CPU per query leaves their cost out')
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f'{args.suite}-{started_at.replace(":", "")}.json')
    with open(path, 'w') as f:
        json.dump(dict(suite=args.suite, started=started_at, argv=sys.argv,
                       args={k: v for k, v in vars(args).items() if not k.startswith('_')},
                       sinkholed_rev=git_rev(), machine=info, skipped_mixes=skipped,
                       servers={s.name: dict(port=s.port, cmd=getattr(s, 'cmdline', None), unavailable=s.unavailable)
                                for s in servers},
                       exit_info=exit_info, runs=runs, summary=summary), f, indent=1)
    print(f'\nraw results: {os.path.relpath(path, os.getcwd())}')


if __name__ == '__main__':
    main()
