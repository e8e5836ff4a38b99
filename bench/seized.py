#!/usr/bin/python3
"""bench/seized.py: issue 4's figures for lists of seized domains: load time and memory, reloads
under load, and the same domains as one zone per domain in Knot DNS and NSD.

  bench/seized.py                            # loads of 1M and 10M (3 rounds), 19 reloads of 1M under dnsperf
  bench/seized.py --sizes 1M --rounds 1 --reloads 0
  bench/seized.py --sizes none --reloads 0 --compare 100k     # Knot DNS, NSD and sinkholed with 100k domains
  bench/seized.py --report bench/results/seized-....json      # print the tables of an earlier run again

What it measures (server pinned to core 1 with taskset, this script and dnsperf on core 0):
  * load: for each --sizes N, a list of N random DGA-like domains (fixed seed) answered from
    zones/seized-template.zone; the time from exec of sinkholed to the first correct answer for the
    last listed domain (a UDP query every --poll-ms), VmRSS and VmHWM from /proc/PID/status once it
    answers and --settle seconds later, the `seized:` log line; then a few answers are checked
    (apex A/AAAA/MX/TXT/SOA/NS, www, names below through the wildcard, an unlisted name REFUSED).
    --rounds times; median and range;
  * reload: sinkholed with a list of --reload-size domains under dnsperf (-c 1 -q 200, names at and
    below domains common to two lists that differ by --reload-change); --reloads SIGHUPs, each after
    the previous `reloaded:` line, the list file swapped by rename between the two versions each time;
    reload time (from the `reloading` to the `reloaded` log timestamps), RSS after each reload, at the
    start, the peak, the end; dnsperf's lost queries (target 0) and response codes (all NOERROR);
    after each reload a name only in the new list must answer NOERROR and one only in the old REFUSED;
  * --compare N: N one-per-domain zone files made from the same template, loaded by knotd and
    `nsd -d` (configured as in run.py: one worker each), and sinkholed with the same N as a list;
    the time from exec to answering the last configured zone and a sample of the others, and the
    memory of the server's process group (PSS summed: NSD's processes share their zone data).

Every server is started here in its own session and stopped by its process group id; every load
has a timeout, dnsperf has -l and a hard timeout and is stopped with SIGINT once the reloads are
done. Writes bench/results/seized-<UTC time>.json.
"""
import argparse
import datetime
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import gen_queries  # noqa: E402
import run  # noqa: E402  (the servers harness: process groups, pinning, the cap, machine info)

REPO = run.REPO
TEMPLATE = os.path.join(BENCH, 'zones', 'seized-template.zone')
TAGS = {'case': '1:20-cv-01217', 'operation': 'Necurs'}
# issue 4: (domains, load seconds, resident MB)
TARGETS = {1000000: (2.0, 150), 10000000: (20.0, 1200)}
RELOAD_RSS_RATIO = 1.20
MB = 1e6          # figures in MB of 10^6 bytes (the kernel's "kB" are KiB)
LOG_RE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z sinkholed\[\d+\]: (\w+): (.*)$')
SEIZED_RE = re.compile(r'seized: (.*): (\d+) domains, template (.*) \((\d+) invalid, (\d+) duplicates, '
                       r'(\d+) served by zone files\)')


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def count(text):
    """'1M', '100k', '10000000' -> int."""
    t = text.strip().lower().replace('_', '').replace(',', '')
    mult = {'k': 1000, 'm': 1000000}.get(t[-1:], 1)
    return int(float(t[:-1]) * mult) if mult > 1 else int(t)


def sizes_arg(text):
    if text.strip().lower() in ('', '0', 'none'):
        return []
    return [count(x) for x in text.split(',') if x.strip()]


def human(n):
    return f'{n // 1000000}M' if n % 1000000 == 0 else f'{n // 1000}k' if n % 1000 == 0 else str(n)


# ---------------------------------------------------------------- data

def unlisted(seed, listed, n):
    """n DGA-like domains not in listed (a set)."""
    out = []
    for d in gen_queries.seized_domains(seed, n + 100):
        if d not in listed:
            out.append(d)
            if len(out) == n:
                break
    return out


def write_zone_files(zdir, domains):
    """One zone file per domain, each the template's text: Knot DNS and NSD take the zone name as
    the origin, so the template's relative owners land under each domain."""
    os.makedirs(zdir, exist_ok=True)
    with open(TEMPLATE) as f:
        text = f.read()
    for d in domains:
        with open(os.path.join(zdir, d + '.zone'), 'w') as f:
            f.write(text)


class Expect:
    """What the template says each name should answer (parsed by dnspython), and the checks."""

    def __init__(self):
        with open(TEMPLATE) as f:
            self.zone = dns.zone.from_text(f.read(), origin='seized-domain.invalid.', relativize=True)

    def rdatas(self, rel, rdtype):
        node = self.zone.get_node(rel) or self.zone.get_node('*')
        rds = node.get_rdataset(dns.rdataclass.IN, rdtype) if node else None
        return sorted(r.to_text() for r in rds) if rds else []

    def queries(self, domain, r):
        """(qname, type, relative owner in the template) for one listed domain."""
        sub = gen_queries.label(r, 4, 10).lower()
        return [(domain, 'A', '@'), (domain, 'AAAA', '@'), (domain, 'MX', '@'), (domain, 'TXT', '@'),
                (domain, 'SOA', '@'), (domain, 'NS', '@'), ('www.' + domain, 'A', 'www'),
                (f'{sub}.{domain}', 'A', '*'), (f'x{sub}.{sub}.{domain}', 'AAAA', '*')]


def ask(port, qname, qtype, timeout=2.0, tries=3):
    q = dns.message.make_query(qname, qtype)
    q.flags &= ~dns.flags.RD
    for i in range(tries):
        try:
            return dns.query.udp(q, '127.0.0.1', port=port, timeout=timeout)
        except dns.exception.Timeout:
            if i == tries - 1:
                return None


def check_answers(port, expect, listed, absent, seed):
    """Every template query for each listed domain, and absent domains REFUSED. Returns (ok, failures)."""
    r = random.Random(seed)
    ok, bad = 0, []
    for d in listed:
        for qname, qtype, rel in expect.queries(d, r):
            want = expect.rdatas(rel, dns.rdatatype.from_text(qtype))
            m = ask(port, qname, qtype)
            got = None
            if m is not None and m.rcode() == dns.rcode.NOERROR and m.flags & dns.flags.AA:
                for rr in m.answer:
                    if rr.name == dns.name.from_text(qname) and rr.rdtype == dns.rdatatype.from_text(qtype):
                        got = sorted(x.to_text() for x in rr)
            if got == want:
                ok += 1
            else:
                rc = 'timeout' if m is None else dns.rcode.to_text(m.rcode())
                bad.append(f'{qname} {qtype}: {rc} {got} (want {want})')
    for d in absent:
        m = ask(port, d, 'A')
        if m is not None and m.rcode() == dns.rcode.REFUSED:
            ok += 1
        else:
            bad.append(f'{d} A (not listed): {"timeout" if m is None else dns.rcode.to_text(m.rcode())} '
                       '(want REFUSED)')
    return ok, bad


# ---------------------------------------------------------------- probing and /proc

class Prober:
    """Raw UDP queries from one unconnected socket (ICMP port unreachable is not reported to it, so
    polling a server that has not bound yet just gets no answer). Ids count up."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.next_id = random.randrange(1 << 16)

    def close(self):
        self.sock.close()

    def send(self, name, qtype):
        self.next_id = (self.next_id + 1) & 0xffff
        q = struct.pack('>HHHHHH', self.next_id, 0, 1, 0, 0, 0)
        for lab in name.rstrip('.').split('.'):
            q += bytes([len(lab)]) + lab.encode()
        q += b'\0' + struct.pack('>HH', dns.rdatatype.from_text(qtype), 1)
        try:
            self.sock.sendto(q, ('127.0.0.1', self.port))
        except OSError:
            pass

    @staticmethod
    def answered(resp):
        """QR, AA, NOERROR and at least one answer record."""
        return (len(resp) >= 12 and resp[2] & 0x80 and resp[2] & 0x04 and resp[3] & 0x0f == 0
                and struct.unpack('>H', resp[6:8])[0] >= 1)

    def wait_answer(self, name, qtype, deadline, interval, alive):
        """Query every interval until an answer passes answered(); returns time.monotonic() of that
        answer, or None at the deadline or when alive() turns false."""
        while time.monotonic() < deadline:
            if not alive():
                return None
            self.send(name, qtype)
            until = min(time.monotonic() + interval, deadline)
            while True:
                left = until - time.monotonic()
                if left <= 0:
                    break
                rd, _, _ = select.select([self.sock], [], [], left)
                if not rd:
                    break
                try:
                    resp = self.sock.recv(4096)
                except OSError:
                    continue
                if self.answered(resp):
                    return time.monotonic()
        return None


def proc_mem(pid, pss=False):
    """VmRSS, VmHWM (from status) and, with pss, Pss (from smaps_rollup, which walks the page tables:
    not for frequent sampling), in bytes; {} when the process is gone."""
    m = {}
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith(('VmRSS:', 'VmHWM:')):
                    m[line.split(':')[0]] = int(line.split()[1]) * 1024
        if pss:
            with open(f'/proc/{pid}/smaps_rollup') as f:
                for line in f:
                    if line.startswith('Pss:'):
                        m['Pss'] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return m


def group_mem(srv):
    """Memory of a server's process group: RSS and PSS summed over its processes, the largest HWM."""
    rss = pss = hwm = 0
    n = 0
    for p in srv.group_pids():
        m = proc_mem(p, pss=True)
        if m:
            n += 1
            rss += m.get('VmRSS', 0)
            pss += m.get('Pss', 0)
            hwm = max(hwm, m.get('VmHWM', 0))
    return dict(rss_mb=rss / MB, pss_mb=pss / MB, hwm_mb=hwm / MB, procs=n)


class LogTail:
    """New whole lines of a growing log file, as (unix time or None, level, message)."""

    def __init__(self, path):
        self.path, self.off, self.part = path, 0, ''

    def lines(self):
        try:
            with open(self.path, errors='replace') as f:
                f.seek(self.off)
                data = f.read()
                self.off = f.tell()
        except OSError:
            return []
        data = self.part + data
        *whole, self.part = data.split('\n')
        out = []
        for ln in whole:
            m = LOG_RE.match(ln)
            if m:
                t = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%f').replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                out.append((t, m.group(2), m.group(3)))
            elif ln.strip():
                out.append((None, 'other', ln))
        return out


def parse_seized(msg):
    m = SEIZED_RE.search(msg)
    if not m:
        return None
    return dict(list=m.group(1), domains=int(m.group(2)), template=m.group(3), invalid=int(m.group(4)),
                duplicates=int(m.group(5)), zone_files=int(m.group(6)))


# ---------------------------------------------------------------- servers

class Proc(run.Server):
    """A server process of run.py's kind (own session, taskset on the server CPU, stop by group)."""
    udp_only = False

    def __init__(self, name, port, tmp, args, cmd):
        super().__init__(name, port, tmp, args)
        self.cmd = cmd

    def command(self):
        return self.cmd


def sinkholed_conf(path, port, list_path=None, zones=None):
    """sinkholed with one seized list, or (zones) one `zones:` entry per domain: the second is
    --as-zones and the compare mode's sinkholed-zones, not issue 4's feature."""
    c = f'server:\n  listen: ["127.0.0.1@{port}"]\n  workers: 1\n'
    if zones is None:
        t = ', '.join(f'{k}: "{v}"' for k, v in TAGS.items())
        c += f'seized:\n  - list: {list_path}\n    template: {TEMPLATE}\n    tags: {{{t}}}\n'
    else:
        c += 'zones:\n' + ''.join(f'  - {{file: {zdir}/{d}.zone, name: {d}}}\n' for d, zdir in zones)
    with open(path + '.tmp', 'w') as f:
        f.write(c)
    os.replace(path + '.tmp', path)


def knot_conf(d, port, zdir, domains):
    """As run.py's knot.conf (one UDP, TCP and background worker), with the given zones only."""
    os.makedirs(os.path.join(d, 'db'), exist_ok=True)
    c = run.knot_conf_head(d, port) + 'template:\n' + run.knot_template(zdir) + 'zone:\n'
    path = os.path.join(d, 'knot.conf')
    with open(path, 'w') as f:
        f.write(c)
        f.write(''.join(f'  - domain: {x}\n' for x in domains))
    return ['knotd', '-c', path]


def nsd_conf(d, port, zdir, domains):
    """As run.py's nsd.conf (server-count 1, rrl-ratelimit 0, no database, control off)."""
    c = run.nsd_conf_head(d, port, zdir)
    path = os.path.join(d, 'nsd.conf')
    with open(path, 'w') as f:
        f.write(c)
        f.write(''.join(f'zone:\n    name: {x}\n    zonefile: {x}.zone\n' for x in domains))
    return ['nsd', '-d', '-c', path]


def pick_port(args):
    port = args.port_base
    while not run.port_free(port):
        port += 1
        if port > args.port_base + 200:
            sys.exit(f'no free port from {args.port_base}: choose another --port-base')
    return port


def start_and_wait(args, tmp, name, cmd_for, probe, sample, timeout):
    """Start a server; wait for a correct answer to probe (the last listed domain), then to each of
    sample. Returns (Proc, result dict); the caller stops the Proc."""
    port = pick_port(args)
    srv = Proc(name, port, tmp, args, None)      # makes tmp/name, where the configs go
    srv.cmd = cmd_for(srv.dir, port)
    res = dict(server=name, port=port)
    prober = Prober(port)
    try:
        t0, t0_real = time.monotonic(), time.time()
        srv.start()
        deadline = t0 + timeout
        alive = lambda: srv.proc.poll() is None  # noqa: E731
        t1 = prober.wait_answer(probe, 'A', deadline, args.poll_ms / 1000, alive)
        if t1 is None:
            res['error'] = ('exited (rc %s)' % srv.proc.returncode if not alive() else f'no answer in {timeout} s')
            res['stderr'] = srv.stderr_tail(8)
            return srv, res
        res['first_answer_s'] = t1 - t0
        res['mem_first'] = group_mem(srv)
        t2 = t1
        for dom in sample:
            t2 = prober.wait_answer(dom, 'A', deadline, args.poll_ms / 1000, alive)
            if t2 is None:
                res['error'] = f'{dom}: no answer in {timeout} s'
                res['stderr'] = srv.stderr_tail(8)
                return srv, res
        res['load_s'] = t2 - t0
        res['t0_real'] = t0_real
        time.sleep(args.settle)
        res['mem'] = group_mem(srv)
        res['wall_start'] = t0_real
        return srv, res
    finally:
        prober.close()


# ---------------------------------------------------------------- load

def bench_load(args, tmp, n, expect):
    """--rounds loads of one list of n domains."""
    log(f'load {human(n)}: generating {n:,} domains ...')
    t = time.monotonic()
    domains = gen_queries.seized_domains(args.seed + n, n)
    listed = set(domains)
    r = random.Random(args.seed)
    sample = r.sample(domains, min(args.sample, n))
    last = domains[-1]
    absent = unlisted(args.seed + n + 1, listed, 3)
    ldir = os.path.join(tmp, f'load-{human(n)}')
    os.makedirs(ldir)
    lpath = os.path.join(ldir, 'seized.list')
    gen_queries.write_list(lpath, domains, f'bench/seized.py: {n} domains, seed {args.seed + n}')
    zones = None
    if args.as_zones:
        zdir = os.path.join(ldir, 'zones')
        write_zone_files(zdir, domains)
        zones = [(x, zdir) for x in domains]
    del domains, listed
    log(f'load {human(n)}: list written in {time.monotonic() - t:.1f} s ({os.path.getsize(lpath) / MB:.0f} MB)')
    results = []
    for rnd in range(args.rounds):
        def cmd_for(d, port):
            conf = os.path.join(d, 'sinkholed.yml')
            sinkholed_conf(conf, port, lpath, zones)
            return [args.sinkholed, '-c', conf]
        srv, res = start_and_wait(args, tmp, f'sinkholed-{human(n)}-r{rnd}', cmd_for, last, [],
                                  args.load_timeout)
        res.update(size=n, round=rnd)
        try:
            if 'error' not in res:
                m = proc_mem(srv.proc.pid)
                res['vmrss_mb'] = m.get('VmRSS', 0) / MB
                res['vmhwm_mb'] = m.get('VmHWM', 0) / MB
                ok, bad = check_answers(srv.port, expect, [last] + sample, absent, args.seed + rnd)
                res['checks_ok'], res['checks_failed'] = ok, bad[:10]
                res['checks_failed_n'] = len(bad)
        finally:
            srv.stop()
        for t_log, level, msg in LogTail(srv.stderr_path).lines():
            if msg.startswith('seized:'):
                res['seized_line'] = msg
                res['seized'] = parse_seized(msg)
                if t_log is not None and 't0_real' in res:
                    res['seized_log_s'] = t_log - res['t0_real']
            elif msg.startswith('ready:'):
                res['ready_line'] = msg
                if t_log is not None and 't0_real' in res:
                    res['ready_log_s'] = t_log - res['t0_real']
        results.append(res)
        if 'error' in res:
            log(f'load {human(n)} r{rnd}: ERROR {res["error"]}: {res.get("stderr", "")}')
            break          # the same list fails the same way every round
        s = res.get('seized') or {}
        log(f'load {human(n)} r{rnd}: answered after {res["load_s"]:.3f} s, VmRSS {res["vmrss_mb"]:.0f} MB, '
            f'VmHWM {res["vmhwm_mb"]:.0f} MB, {s.get("domains", "?")} domains logged, checks {res["checks_ok"]} ok '
            f'{res["checks_failed_n"]} failed' + (f': {res["checks_failed"][0]}' if res['checks_failed'] else ''))
    if not args.keep_tmp:
        shutil.rmtree(ldir, ignore_errors=True)
    return results


# ---------------------------------------------------------------- reload under load

def bench_reload(args, tmp, expect):
    n = args.reload_size
    k = max(2, round(1 / args.reload_change))
    log(f'reload: generating two lists of {n:,} domains differing by 1/{k} ...')
    allx = gen_queries.seized_domains(args.seed + 7, n + n // k + 1)
    a, extra = allx[:n], allx[n:]
    b = list(a)
    for i in range(k - 1, n, k):
        b[i] = extra[i // k]
    only_a = [a[i] for i in range(k - 1, n, k)]
    only_b = [b[i] for i in range(k - 1, n, k)]
    common = [a[i] for i in range(n) if i % k != k - 1]
    rdir = os.path.join(tmp, 'reload')
    os.makedirs(rdir)
    paths = {}
    zones = {}
    for tag, lst in (('A', a), ('B', b)):
        paths[tag] = os.path.join(rdir, f'list-{tag}.list')
        gen_queries.write_list(paths[tag], lst, f'bench/seized.py reload list {tag}: {n} domains')
        if args.as_zones:
            zdir = os.path.join(rdir, 'zones')
            write_zone_files(zdir, lst)
            zones[tag] = [(x, zdir) for x in lst]
    qpath = os.path.join(rdir, 'queries.txt')
    with open(qpath, 'w') as f:
        for line in gen_queries.seized_queries(random.Random(args.seed + 8), common, args.reload_queries):
            f.write(line + '\n')
    r = random.Random(args.seed + 9)
    sample = r.sample(common, min(args.sample, len(common)))
    absent = unlisted(args.seed + 10, set(a) | set(b), 2)
    last = a[-1] if (n - 1) % k != k - 1 else a[-2]
    del allx, a, b, extra, common
    res = dict(size=n, reloads_asked=args.reloads, change=1 / k, outstanding=args.outstanding, cap=args.cap,
               reloads=[])
    current = os.path.join(rdir, 'current.list')

    def swap(tag, conf_path):
        # a new name for the version, renamed over the one the config names: atomic, nothing copied
        # (--as-zones: the two versions are configs, each with its zones)
        src, dst = (conf_path + '.' + tag, conf_path) if zones else (paths[tag], current)
        tmpname = dst + '.new'
        if os.path.lexists(tmpname):
            os.unlink(tmpname)
        os.link(src, tmpname)
        os.replace(tmpname, dst)

    def cmd_for(d, port):
        conf = os.path.join(d, 'sinkholed.yml')
        if zones:
            for tag in ('A', 'B'):
                sinkholed_conf(conf + '.' + tag, port, zones=zones[tag])
        else:
            sinkholed_conf(conf, port, current)
        res['conf'] = conf
        swap('A', conf)
        return [args.sinkholed, '-c', conf]

    srv, st = start_and_wait(args, tmp, 'sinkholed-reload', cmd_for, last, [], args.load_timeout)
    res['start'] = st
    dp = None
    try:
        if 'error' in st:
            res['error'] = 'start: ' + st['error'] + ': ' + st.get('stderr', '')
            log(f'reload: {res["error"]}')
            return res
        conf = res['conf']
        srv.pin()
        if args.cap:
            srv.cap(args.cap)
        tail = LogTail(srv.stderr_path)
        tail.lines()
        est = st['load_s']
        secs = args.reload_seconds or int(min(1800, 30 + args.reloads * (3 * est + 3)))
        res['dnsperf_limit_s'] = secs
        cmd = ['taskset', '-c', args.client_cpu, 'dnsperf', '-s', '127.0.0.1', '-p', str(srv.port), '-d', qpath,
               '-c', '1', '-q', str(args.outstanding), '-l', str(secs), '-t', '5', '-b', '4096']
        res['dnsperf_cmd'] = cmd
        dp_out = os.path.join(rdir, 'dnsperf.out')
        with open(dp_out, 'w') as out:
            dp = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        dp_t0 = time.monotonic()
        log(f'reload: sinkholed answered after {est:.2f} s; dnsperf -q {args.outstanding} -l {secs} '
            f'(stopped with SIGINT {args.tail:.0f} s after the last reload); {args.reloads} reloads')
        time.sleep(args.warmup)
        res['rss_start_mb'] = proc_mem(srv.proc.pid).get('VmRSS', 0) / MB
        peak = res['rss_start_mb']
        for i in range(1, args.reloads + 1):
            tag = 'B' if i % 2 else 'A'
            swap(tag, conf)
            under_load = dp.poll() is None
            t_hup = time.time()
            os.kill(srv.proc.pid, signal.SIGHUP)
            one = dict(i=i, list=tag, under_load=under_load)
            deadline = time.monotonic() + args.reload_timeout
            done = None
            while done is None and time.monotonic() < deadline and srv.proc.poll() is None:
                time.sleep(0.02)
                peak = max(peak, proc_mem(srv.proc.pid).get('VmRSS', 0) / MB)
                for t_log, level, msg in tail.lines():
                    if msg.startswith('reloading'):
                        one['t_reloading'] = t_log
                    elif msg.startswith('seized:'):
                        one['seized'] = parse_seized(msg)
                    elif msg.startswith('reloaded:') or msg.startswith('reload failed'):
                        one['t_done'] = t_log
                        one['line'] = msg
                        done = msg.startswith('reloaded:')
                    elif level in ('error', 'warning'):
                        one.setdefault('other', []).append(msg)
            one['detected_s'] = time.time() - t_hup
            if done is None:
                one['error'] = 'sinkholed exited' if srv.proc.poll() is not None else \
                    f'no reloaded/reload failed line in {args.reload_timeout} s'
                res['reloads'].append(one)
                log(f'reload {i}: {one["error"]}')
                break
            one['ok'] = done
            if one.get('t_reloading') and one.get('t_done'):
                one['reload_s'] = one['t_done'] - one['t_reloading']
            if one.get('t_done'):
                one['hup_to_log_s'] = one['t_done'] - t_hup
            one['rss_mb'] = proc_mem(srv.proc.pid).get('VmRSS', 0) / MB
            peak = max(peak, one['rss_mb'])
            # the list really changed: a name only in the new one answers, one only in the old does not
            new, old = (only_b, only_a) if tag == 'B' else (only_a, only_b)
            m_new = ask(srv.port, new[i % len(new)], 'A')
            m_old = ask(srv.port, old[i % len(old)], 'A')
            one['switch_ok'] = bool(m_new is not None and m_new.rcode() == dns.rcode.NOERROR and m_new.answer
                                    and m_old is not None and m_old.rcode() == dns.rcode.REFUSED)
            res['reloads'].append(one)
            nan = float('nan')
            log(f'reload {i}/{args.reloads} ({tag}): {"ok" if done else "FAILED"} {one.get("reload_s", nan):.3f} s '
                f'(SIGHUP to log {one.get("hup_to_log_s", nan):.3f} s), '
                f'RSS {one["rss_mb"]:.0f} MB, switch {"ok" if one["switch_ok"] else "NOT seen"}'
                + ('' if under_load else ', dnsperf had ended: NOT under load'))
            time.sleep(args.reload_gap)
        time.sleep(args.tail)
        res['rss_end_mb'] = proc_mem(srv.proc.pid).get('VmRSS', 0) / MB
        res['rss_peak_mb'] = max(peak, res['rss_end_mb'])
        res['vmhwm_mb'] = proc_mem(srv.proc.pid).get('VmHWM', 0) / MB
        if dp.poll() is None:
            os.kill(dp.pid, signal.SIGINT)
        try:
            dp.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(dp.pid, signal.SIGKILL)
            dp.wait(timeout=10)
        res['dnsperf_s'] = time.monotonic() - dp_t0
        res['dnsperf'] = run.parse_dnsperf(dp_out)
        res['dnsperf'].pop('latencies')
        ok, bad = check_answers(srv.port, expect, sample[:3], absent, args.seed)
        res['checks_ok'], res['checks_failed'] = ok, bad[:10]
        return res
    finally:
        if dp is not None and dp.poll() is None:
            try:
                os.killpg(dp.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            dp.wait(timeout=10)
        srv.stop()
        if not args.keep_tmp:
            shutil.rmtree(rdir, ignore_errors=True)


# ---------------------------------------------------------------- compare with Knot DNS and NSD

def bench_compare(args, tmp, expect):
    n = args.compare
    log(f'compare {human(n)}: generating {n:,} domains and zone files ...')
    t = time.monotonic()
    domains = gen_queries.seized_domains(args.seed + 3, n)
    cdir = os.path.join(tmp, f'compare-{human(n)}')
    zdir = os.path.join(cdir, 'zones')
    write_zone_files(zdir, domains)
    lpath = os.path.join(cdir, 'seized.list')
    gen_queries.write_list(lpath, domains, f'bench/seized.py compare: {n} domains')
    last = domains[-1]
    r = random.Random(args.seed + 4)
    sample = r.sample(domains[:-1], min(args.sample, n - 1))
    absent = unlisted(args.seed + 5, set(domains), 2)
    log(f'compare {human(n)}: {n:,} zone files written in {time.monotonic() - t:.1f} s')

    def cmd_for(name):
        if name == 'knot':
            return lambda d, port: knot_conf(d, port, zdir, domains)
        if name == 'nsd':
            return lambda d, port: nsd_conf(d, port, zdir, domains)

        def sk(d, port):
            conf = os.path.join(d, 'sinkholed.yml')
            sinkholed_conf(conf, port, lpath, [(x, zdir) for x in domains] if name == 'sinkholed-zones' else None)
            return [args.sinkholed, '-c', conf]
        return sk

    results = []
    for rnd in range(args.rounds):
        for name in args.compare_servers:
            srv, res = start_and_wait(args, tmp, f'{name}-{human(n)}-r{rnd}', cmd_for(name), last, sample,
                                      args.compare_timeout)
            res.update(size=n, round=rnd)
            try:
                if 'error' not in res:
                    ok, bad = check_answers(srv.port, expect, [last] + sample[:3], absent, args.seed + rnd)
                    res['checks_ok'], res['checks_failed'] = ok, bad[:10]
            finally:
                srv.stop()
            for _, _, msg in LogTail(srv.stderr_path).lines():
                if msg.startswith('seized:'):
                    res['seized'] = parse_seized(msg)
            results.append(res)
            if 'error' in res:
                log(f'compare {name} r{rnd}: ERROR {res["error"]}: {res.get("stderr", "")}')
            else:
                mem = res['mem']
                bad = res['checks_failed']
                log(f'compare {name} {human(n)} r{rnd}: all of {len(sample) + 1} probed zones answered after '
                    f'{res["load_s"]:.2f} s (last configured: {res["first_answer_s"]:.2f} s), '
                    f'PSS {mem["pss_mb"]:.0f} MB, RSS {mem["rss_mb"]:.0f} MB over {mem["procs"]} processes, '
                    f'checks {res["checks_ok"]} ok {len(bad)} failed' + (f': {bad[0]}' if bad else ''))
    if not args.keep_tmp:
        shutil.rmtree(cdir, ignore_errors=True)
    return results


# ---------------------------------------------------------------- report

def med_range(xs, spec):
    xs = [x for x in xs if x is not None]
    if not xs:
        return '-'
    m = format(statistics.median(xs), spec)
    if len(xs) == 1:
        return m
    return f'{m} ({format(min(xs), spec)}-{format(max(xs), spec)})'


def print_report(d, out=sys.stdout):
    m = d['machine']
    a = d['args']
    print(f'## bench/seized.py: {d["started"]}, sinkholed {d["sinkholed_rev"]}, {m["nproc"]} CPUs ({m["cpu"]}), '
          f'load average at start {" ".join(m["loadavg"])}', file=out)
    targets = []
    loads = d.get('loads') or []
    if loads:
        how = 'one `zones:` entry per domain (--as-zones)' if a.get('as_zones') else 'one seized list'
        print(f'\n### Load: sinkholed, {how}, template zones/seized-template.zone\n', file=out)
        print(f'{a["rounds"]} rounds; exec to the first correct answer for the last listed domain (a query '
              f'every {a["poll_ms"]} ms); VmRSS {a["settle"]} s after it, VmHWM; MB = 10^6 bytes; median (min-max).\n',
              file=out)
        print('| domains | load s | `ready:` logged at s | VmRSS MB | VmHWM MB | B/domain (RSS) | checks | target |', file=out)
        print('|---|---|---|---|---|---|---|---|', file=out)
        for n in dict.fromkeys(r['size'] for r in loads):
            rs = [r for r in loads if r['size'] == n and 'error' not in r]
            err = [r for r in loads if r['size'] == n and 'error' in r]
            if not rs:
                print(f'| {n:,} | ERROR: {err[0]["error"]} | | | | | | |', file=out)
                continue
            rss = [r['vmrss_mb'] for r in rs]
            lt = [r['load_s'] for r in rs]
            ck = f'{sum(r["checks_ok"] for r in rs)} ok, {sum(r["checks_failed_n"] for r in rs)} failed'
            tg = '-'
            if n in TARGETS:
                ts, tm = TARGETS[n]
                met = statistics.median(lt) <= ts and statistics.median(rss) <= tm
                tg = f'<= {ts:g} s, <= {tm} MB: {"met" if met else "NOT met"}'
                targets.append(f'{n:,} domains: load {statistics.median(lt):.2f} s (target <= {ts:g}), RSS '
                               f'{statistics.median(rss):.0f} MB (target <= {tm}): {"met" if met else "NOT met"}')
            print(f'| {n:,} | {med_range(lt, ".2f")} | {med_range([r.get("ready_log_s") for r in rs], ".2f")} | '
                  f'{med_range(rss, ".0f")} | {med_range([r["vmhwm_mb"] for r in rs], ".0f")} | '
                  f'{statistics.median(rss) * MB / n:.0f} | {ck} | {tg} |', file=out)
        for n in dict.fromkeys(r['size'] for r in loads):
            line = next((r.get('seized_line') for r in loads if r['size'] == n and r.get('seized_line')), None)
            if line:
                print(f'\n{n:,}: `{line}`', file=out)
            bad = next((r for r in loads if r['size'] == n and r.get('checks_failed')), None)
            if bad:
                print(f'\n{n:,}: failed check, e.g. {bad["checks_failed"][0]}', file=out)
            s = next((r.get('seized') for r in loads if r['size'] == n and r.get('seized')), None)
            if s and s['domains'] != n:
                print(f'\n{n:,}: sinkholed logged {s["domains"]:,} domains, the list has {n:,}', file=out)
    rl = d.get('reload')
    if rl:
        print(f'\n### Reload under load: {rl["size"]:,} domains, {rl["reloads_asked"]} SIGHUPs, two lists '
              f'{rl["change"]:.0%} apart swapped by rename\n', file=out)
        if rl.get('error'):
            print(f'ERROR: {rl["error"]}', file=out)
        else:
            dp = rl.get('dnsperf', {})
            rr = rl['reloads']
            done = [x for x in rr if x.get('ok')]
            failed = [x for x in rr if not x.get('ok')]
            cap = f', server capped at {rl["cap"]}%' if rl.get('cap') else ''
            print(f'dnsperf -c 1 -q {rl["outstanding"]}{cap}, names at and below domains in both lists; reload s from '
                  'the `reloading` to the `reloaded` log line; RSS is VmRSS (start: before the first SIGHUP; end: '
                  f'{a.get("tail")} s after the last reload).\n', file=out)
            print('| reloads ok | failed | under load | switch seen | reload s | SIGHUP to log s | dnsperf lost | '
                  'completed | QPS | rcodes | RSS MB start / peak / end | end / start |', file=out)
            print('|---|---|---|---|---|---|---|---|---|---|---|---|', file=out)
            ratio = rl['rss_end_mb'] / rl['rss_start_mb'] if rl.get('rss_start_mb') else None
            rc = ', '.join(f'{k} {v}' for k, v in dp.get('rcodes', {}).items())
            print(f'| {len(done)} | {len(failed)} | {sum(1 for x in rr if x.get("under_load"))} | '
                  f'{sum(1 for x in rr if x.get("switch_ok"))} | {med_range([x.get("reload_s") for x in done], ".2f")} | '
                  f'{med_range([x.get("hup_to_log_s") for x in done], ".2f")} | {dp.get("lost", "-")} | '
                  f'{dp.get("completed", 0):,} | {dp.get("qps", 0):,.0f} | {rc} | '
                  f'{rl["rss_start_mb"]:.0f} / {rl["rss_peak_mb"]:.0f} / {rl["rss_end_mb"]:.0f} | '
                  f'{run.fmt(ratio, ".2f")} |', file=out)
            print('\nRSS after each reload (MB): ' + ', '.join(f'{x["rss_mb"]:.0f}' for x in rr if 'rss_mb' in x),
                  file=out)
            allok = (len(done) == rl['reloads_asked'] and all(x.get('under_load') for x in rr))
            other = set(dp.get('rcodes', {})) - {'NOERROR'}
            met = allok and dp.get('lost') == 0 and not other and ratio is not None and ratio <= RELOAD_RSS_RATIO
            targets.append(f'{len(done)} of {rl["reloads_asked"]} reloads of {rl["size"]:,} under load, '
                           f'{dp.get("lost", "?")} lost (target 0), rcodes {rc or "-"}, RSS end/start '
                           f'{run.fmt(ratio, ".2f")} (target <= {RELOAD_RSS_RATIO:.2f}): {"met" if met else "NOT met"}')
    cmp_ = d.get('compare') or []
    if cmp_:
        n = cmp_[0]['size']
        print(f'\n### {n:,} domains: one zone file per domain (Knot DNS, NSD) beside a seized list (sinkholed)\n',
              file=out)
        print('Each server pinned to core 1, one worker (configured as in run.py), alone on the machine; load s: exec '
              f'to a correct answer from the last configured zone and {a.get("sample")} others; memory of the process '
              f'group {a["settle"]} s later (PSS summed, RSS summed, largest VmHWM); median (min-max).\n', file=out)
        print('| server | loads | load s | last zone answered s | PSS MB | RSS MB (sum) | VmHWM MB | B/domain (PSS) | '
              'checks |', file=out)
        print('|---|---|---|---|---|---|---|---|---|', file=out)
        for name in dict.fromkeys(r['server'].rsplit('-', 2)[0] for r in cmp_):
            rs = [r for r in cmp_ if r['server'].rsplit('-', 2)[0] == name]
            ok = [r for r in rs if 'error' not in r]
            if not ok:
                print(f'| {name} | ERROR: {rs[0]["error"]} | | | | | | | |', file=out)
                continue
            pss = [r['mem']['pss_mb'] for r in ok]
            ck = f'{sum(r["checks_ok"] for r in ok)} ok, {sum(len(r["checks_failed"]) for r in ok)} failed'
            print(f'| {name} | {len(ok)} of {len(rs)} | {med_range([r["load_s"] for r in ok], ".2f")} | '
                  f'{med_range([r["first_answer_s"] for r in ok], ".2f")} | {med_range(pss, ".0f")} | '
                  f'{med_range([r["mem"]["rss_mb"] for r in ok], ".0f")} | '
                  f'{med_range([r["mem"]["hwm_mb"] for r in ok], ".0f")} | {statistics.median(pss) * MB / n:.0f} | '
                  f'{ck} |', file=out)
    if targets:
        print('\n### Targets (issue 4)\n', file=out)
        for t in targets:
            print('- ' + t, file=out)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sizes', type=sizes_arg, default=sizes_arg('1000000,10000000'),
                    help='list sizes to load, comma-separated (1M, 100k accepted); "none" skips the loads '
                    '(default 1000000,10000000)')
    ap.add_argument('--rounds', type=int, default=3, help='loads per size (and per server with --compare)')
    ap.add_argument('--reload-size', type=count, default=1000000)
    ap.add_argument('--reloads', type=int, default=19, help='SIGHUPs under load (0: no reload run)')
    ap.add_argument('--reload-change', type=float, default=0.10,
                    help='share of the domains that differ between the two alternating lists')
    ap.add_argument('--reload-queries', type=int, default=100000, help='lines of the reload run\'s query file')
    ap.add_argument('--reload-gap', type=float, default=0.5,
                    help='seconds between a `reloaded:` line and the next SIGHUP')
    ap.add_argument('--reload-timeout', type=float, default=180,
                    help='seconds one reload may take before the run stops')
    ap.add_argument('--reload-seconds', type=int, default=0,
                    help='dnsperf -l for the reload run (0: 30 + reloads x (3 x the start-up load time + 3), at most '
                    '1800; dnsperf is stopped with SIGINT --tail seconds after the last reload anyway)')
    ap.add_argument('--warmup', type=float, default=3.0, help='seconds of load before the first SIGHUP')
    ap.add_argument('--tail', type=float, default=3.0, help='seconds of load after the last reload')
    ap.add_argument('--outstanding', type=int, default=200, help='dnsperf -q in the reload run')
    ap.add_argument('--cap', type=int, default=0,
                    help='cap sinkholed at this %% of one core during the reload run (cap-cpu.sh; 0: uncapped, the '
                    'default: the worker and the loader thread then share core 1)')
    ap.add_argument('--compare', type=count, default=0,
                    help='also load this many domains as one zone file per domain into Knot DNS and NSD (0: no)')
    ap.add_argument('--compare-servers', default='sinkholed,knot,nsd',
                    help='comma-separated, in run order: sinkholed (a seized list), sinkholed-zones (one zones: entry '
                    'per domain), knot, nsd')
    ap.add_argument('--compare-timeout', type=float, default=180)
    ap.add_argument('--load-timeout', type=float, default=300, help='seconds a sinkholed load may take')
    ap.add_argument('--sample', type=int, default=20,
                    help='listed domains checked after each load (and polled with --compare)')
    ap.add_argument('--settle', type=float, default=1.0, help='seconds after the first answer before reading memory')
    ap.add_argument('--poll-ms', type=float, default=5.0)
    ap.add_argument('--seed', type=int, default=20261122)
    ap.add_argument('--as-zones', action='store_true',
                    help='harness test: sinkholed gets one zones: entry per domain instead of a seized list (and the '
                    'reload run swaps two configs); not issue 4\'s figure; for small sizes only')
    ap.add_argument('--port-base', type=int, default=25450)
    ap.add_argument('--server-cpu', default='1')
    ap.add_argument('--client-cpu', default='0')
    ap.add_argument('--sinkholed', default=os.path.join(REPO, 'build-bench', 'server', 'sinkholed'))
    ap.add_argument('--no-build', dest='build', action='store_false')
    ap.add_argument('--results', default=os.path.join(BENCH, 'results'))
    ap.add_argument('--keep-tmp', action='store_true', help='keep the temp dir (lists, configs, logs)')
    ap.add_argument('--report', metavar='JSON', help='print the tables of an earlier run; run nothing')
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            return print_report(json.load(f))
    args.compare_servers = [x for x in args.compare_servers.split(',') if x]
    for x in args.compare_servers:
        if x not in ('sinkholed', 'sinkholed-zones', 'knot', 'nsd'):
            sys.exit(f'unknown --compare-servers entry {x!r}')
    if args.cap and os.geteuid() != 0:
        sys.exit('--cap needs root (cgroups)')
    if args.compare and args.compare < 2:
        sys.exit('--compare needs at least 2 domains')
    args.cap_period_us = 10000          # run.Server.cap
    if args.build and args.sinkholed == os.path.join(REPO, 'build-bench', 'server', 'sinkholed'):
        run.build(args)
    tools = ['dnsperf'] if args.reloads else []
    if args.compare:
        tools += [{'knot': 'knotd', 'nsd': 'nsd'}[x] for x in args.compare_servers if x in ('knot', 'nsd')]
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f'{tool} not found (apt-get install -y knot nsd dnsperf)')
    # this script and dnsperf on the client CPU, the server alone on its own
    os.sched_setaffinity(0, {int(args.client_cpu)})
    expect = Expect()
    started = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    info = run.machine_info()
    tmp = tempfile.mkdtemp(prefix='sinkholed-seized-')
    d = dict(suite='seized', started=started, argv=sys.argv, sinkholed_rev=run.git_rev(), machine=info,
             loads=[], reload=None, compare=[])
    t_all = time.monotonic()
    try:
        for n in args.sizes:
            d['loads'] += bench_load(args, tmp, n, expect)
        if args.reloads:
            d['reload'] = bench_reload(args, tmp, expect)
        if args.compare:
            d['compare'] = bench_compare(args, tmp, expect)
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f'kept {tmp}')
    d['args'] = {k: v for k, v in vars(args).items()}
    d['elapsed_s'] = round(time.monotonic() - t_all, 1)
    print_report(d)
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f'seized-{started.replace(":", "")}.json')
    with open(path, 'w') as f:
        json.dump(d, f, indent=1)
    print(f'\nraw results: {os.path.relpath(path, os.getcwd())} ({d["elapsed_s"]:.0f} s in all)')


if __name__ == '__main__':
    main()
