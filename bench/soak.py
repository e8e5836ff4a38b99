#!/usr/bin/python3
"""bench/soak.py: issue 6's soak run. sinkholed under dnsperf for --minutes with telemetry on (JSON
lines with geolocation, dnstap to a file) and a reload every --reload-every seconds; prints memory,
open file descriptors and crashes at the start and the end, and whether they stayed flat.

  bench/soak.py                      # 10 minutes, a SIGHUP every 30 s, dnsperf -Q 20000
  bench/soak.py --minutes 2 --qps 5000

What it does (everything on loopback; the server and dnsperf are started here and stopped here):
  * builds build/ if needed; writes a config in a temporary folder: the bench zones, a seized list
    of 10,000 domains (bench/queries/seized.list), JSONL (rotated at 64 MiB, 2 kept) with the
    MaxMind test databases, dnstap to a file; 2 workers, ring 16384;
  * runs dnsperf (-c 2 -q 200 -Q QPS -l SECONDS, the wildcard mix with an ECS option) in the
    background: a steady, bounded load, not a saturating one: a soak looks for leaks, not speed;
  * every --reload-every seconds: edits the zone (new serial and address) and swaps the seized list
    for one with 1% other domains, sends SIGHUP and waits for the `reloaded:` line (a SIGUSR1, the
    telemetry reopen of logrotate, goes with every other reload);
  * samples VmRSS, the open descriptors (/proc/PID/fd) and the threads every 10 s, 5 s off the
    reloads (a sample during a reload would count the loader's open files);
  * the baseline is the sample at --warmup seconds (rings, caches and both list versions have been
    allocated by then); the end is the last sample before SIGTERM. Flat: RSS at most 5% above the
    baseline (less is reported, not failed: a reload may give memory back), descriptors equal. Crashes: the server must be alive at every sample and exit 0 at SIGTERM.
Exit status 0 when every check holds. Writes bench/results/soak-<UTC time>.json.
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: shared constants and the dnsperf parser)


def status(pid):
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.strip()
    return out


def sample(pid, t0):
    st = status(pid)
    return dict(t=round(time.monotonic() - t0, 1), rss_kb=int(st['VmRSS'].split()[0]),
                fds=len(os.listdir(f'/proc/{pid}/fd')), threads=int(st['Threads']))


def write_zone(path, version):
    src = os.path.join(run.BENCH, 'zones', 'aitism.net.zone')
    with open(src) as f:
        text = f.read()
    # the serial: the first number after "IN SOA MNAME RNAME (" ; bumped by the version
    text, n = re.subn(r'(IN\s+SOA\s+\S+\s+\S+\s*\(?\s*)(\d+)',
                      lambda m: m.group(1) + str(int(m.group(2)) + version), text, count=1)
    assert n == 1, f'no SOA serial found in {src}'
    text += f'\nsoak-{version % 2} 60 IN A 192.0.2.{1 + version % 200}\n'
    tmp = path + '.new'
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, path)


def write_list(path, domains, version):
    rng = random.Random(version)
    keep = [d for d in domains if rng.random() >= 0.01]
    extra = [f'soak{version}-{i}.example' for i in range(len(domains) - len(keep))]
    tmp = path + '.new'
    with open(tmp, 'w') as f:
        f.write('\n'.join(keep + extra) + '\n')
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--minutes', type=float, default=10)
    ap.add_argument('--reload-every', type=float, default=30)
    ap.add_argument('--qps', type=int, default=20000)
    ap.add_argument('--warmup', type=float, default=60)
    ap.add_argument('--port', type=int, default=25453)
    ap.add_argument('--sinkholed', default=os.path.join(run.REPO, 'build', 'server', 'sinkholed'))
    ap.add_argument('--keep', action='store_true', help='keep the temporary folder')
    args = ap.parse_args()
    seconds = int(args.minutes * 60)
    if args.warmup >= seconds:
        args.warmup = seconds / 4
    if not os.path.exists(args.sinkholed):
        subprocess.run(['ninja', '-C', os.path.join(run.REPO, 'build')], check=True)

    d = tempfile.mkdtemp(prefix='sk-soak-')
    zone = os.path.join(d, 'aitism.net.zone')
    lst = os.path.join(d, 'seized.list')
    with open(os.path.join(run.BENCH, 'queries', 'seized.list')) as f:
        domains = [l.strip() for l in f if l.strip() and not l.startswith('#')][:10000]
    write_zone(zone, 0)
    write_list(lst, domains, 0)
    tags = ', '.join(f'{k}: "{v}"' for k, v in run.ZONES[0][2].items())
    conf = os.path.join(d, 'sinkholed.yml')
    with open(conf, 'w') as f:
        f.write(f"""server:
  listen: ["127.0.0.1@{args.port}"]
  workers: 2
  identity: soak.sinkhole.example
zones:
  - file: {zone}
    name: aitism.net
    tags: {{{tags}}}
seized:
  - list: {lst}
    template: {os.path.join(run.BENCH, 'zones', run.SEIZED_TEMPLATE)}
telemetry:
  stats_interval_s: 30
  jsonl: {{path: {d}/events.jsonl, rotate_mb: 64, keep: 2}}
  dnstap: {{file: {d}/events.tap, messages: all}}
geoip:
  city: {run.GEOIP}/GeoIP2-City-Test.mmdb
  asn: {run.GEOIP}/GeoLite2-ASN-Test.mmdb
""")
    log_path = os.path.join(d, 'sinkholed.log')
    logf = open(log_path, 'w')
    srv = subprocess.Popen([args.sinkholed, '-c', conf], stdout=logf, stderr=subprocess.STDOUT,
                           start_new_session=True)
    dp = None
    result = dict(date=datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC'), machine=run.machine_info(),
                  git=run.git_rev(), minutes=args.minutes, reload_every=args.reload_every, qps=args.qps,
                  samples=[], reloads=0, reload_failures=0, crashes=0)
    try:
        deadline = time.monotonic() + 10
        while 'ready:' not in open(log_path).read():
            if srv.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f'sinkholed did not start:\n{open(log_path).read()[-2000:]}')
            time.sleep(0.1)
        t0 = time.monotonic()
        result['at_ready'] = sample(srv.pid, t0)
        dp_out = os.path.join(d, 'dnsperf.out')
        dp = subprocess.Popen(['dnsperf', '-s', '127.0.0.1', '-p', str(args.port), '-d',
                               os.path.join(run.BENCH, 'queries', 'wildcard.txt'), '-c', '2', '-q', '200',
                               '-Q', str(args.qps), '-l', str(seconds), '-E', run.ECS_OPT],
                              stdout=open(dp_out, 'w'), stderr=subprocess.STDOUT, start_new_session=True)
        next_reload = t0 + args.reload_every
        # Samples fall halfway between reloads, never while the loader holds files open.
        next_sample = t0 + min(5.0, args.reload_every / 2)
        version = 0
        while time.monotonic() - t0 < seconds and dp.poll() is None:
            now = time.monotonic()
            if srv.poll() is not None:
                result['crashes'] += 1
                break
            if now >= next_sample:
                s = sample(srv.pid, t0)
                result['samples'].append(s)
                print(f"t={s['t']:6.1f}s  rss {s['rss_kb'] / 1024:7.1f} MiB  fds {s['fds']:3d}  "
                      f"threads {s['threads']}  reloads {result['reloads']}", flush=True)
                next_sample += 10
            if now >= next_reload:
                version += 1
                write_zone(zone, version)
                write_list(lst, domains, version)
                before = open(log_path).read().count('reloaded:')
                failed_before = open(log_path).read().count('reload failed')
                srv.send_signal(signal.SIGHUP)
                if version % 2 == 0:
                    srv.send_signal(signal.SIGUSR1)
                wait_until = time.monotonic() + 20
                while time.monotonic() < wait_until:
                    text = open(log_path).read()
                    if text.count('reloaded:') > before or text.count('reload failed') > failed_before:
                        break
                    time.sleep(0.1)
                text = open(log_path).read()
                if text.count('reloaded:') > before:
                    result['reloads'] += 1
                else:
                    result['reload_failures'] += 1
                next_reload += args.reload_every
            time.sleep(0.2)
        if srv.poll() is None:
            result['at_end'] = sample(srv.pid, t0)
        if dp.poll() is None:
            dp.wait(timeout=seconds + 30)
        perf = run.parse_dnsperf(dp_out)
        result['dnsperf'] = {k: perf.get(k) for k in ('sent', 'completed', 'lost', 'qps', 'rcodes')}
    finally:
        if dp and dp.poll() is None:
            os.killpg(dp.pid, signal.SIGINT)
            dp.wait(timeout=10)
        if srv.poll() is None:
            os.killpg(srv.pid, signal.SIGTERM)
            try:
                srv.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(srv.pid, signal.SIGKILL)
                srv.wait()
        logf.close()
    result['exit_status'] = srv.returncode
    text = open(log_path).read()
    m = None
    for m in re.finditer(r'telemetry: (.*?)dropped \(ring full\) (\d+); processed (\d+)', text):
        pass
    result['telemetry_line'] = m.group(0) if m else None

    base = next((s for s in result['samples'] if s['t'] >= args.warmup), None)
    end = result.get('at_end')
    checks = {}
    if base and end:
        result['baseline'] = base
        growth = (end['rss_kb'] - base['rss_kb']) / base['rss_kb']
        # Growth is what a leak looks like; RSS that falls (malloc_trim after a reload gives back
        # what the loader used) is reported but not a failure.
        checks['rss flat: at most 5% above the baseline at the end'] = growth <= 0.05
        checks['open descriptors flat'] = end['fds'] == base['fds']
        result['rss_growth'] = round(growth, 4)
    checks['no crash (alive at every sample, exit 0 at SIGTERM)'] = \
        result['crashes'] == 0 and result['exit_status'] == 0
    checks['every reload succeeded'] = result['reload_failures'] == 0 and result['reloads'] > 0
    checks['no answer lost'] = (result.get('dnsperf') or {}).get('lost') == 0
    result['checks'] = checks

    print()
    print(f"soak: {args.minutes:g} min, dnsperf -Q {args.qps} (ECS), a reload every {args.reload_every:g} s, "
          f"{result['machine']}, {result['date']}")
    print('| | RSS MiB | open fds | threads |')
    print('| --- | --- | --- | --- |')
    for name in ('at_ready', 'baseline', 'at_end'):
        s = result.get(name)
        if s:
            print(f"| {name.replace('_', ' ')} (t={s['t']} s) | {s['rss_kb'] / 1024:.1f} | {s['fds']} | {s['threads']} |")
    dpr = result.get('dnsperf') or {}
    print(f"reloads {result['reloads']} (failed {result['reload_failures']}), crashes {result['crashes']}, "
          f"exit status {result['exit_status']}, answers {dpr.get('completed')} of {dpr.get('sent')} "
          f"(lost {dpr.get('lost')}), {result['telemetry_line']}")
    for k, v in checks.items():
        print(f"  {'ok  ' if v else 'FAIL'} {k}")
    os.makedirs(os.path.join(run.BENCH, 'results'), exist_ok=True)
    out = os.path.join(run.BENCH, 'results',
                       'soak-' + datetime.datetime.utcnow().strftime('%Y%m%dT%H%M%SZ') + '.json')
    with open(out, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'written {out}')
    if args.keep:
        print(f'kept {d}')
    else:
        shutil.rmtree(d, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
