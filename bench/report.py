#!/usr/bin/python3
"""bench/report.py: issue 8's figure for `sinkhole-report report`: 10,000,000 records in at most 60 s.

  bench/report.py                              # 10M records (7.5 GB; 0.9 GB as gzip -1) in 8 files, 2 rounds each
  bench/report.py --records 1M --rounds 3
  bench/report.py --input gzip                 # only the gzip-compressed copies
  bench/report.py --keep-data DIR              # generate once into DIR and keep it (reused if present)

The records are JSON lines in the exact format sinkholed writes (README, Telemetry; every field, in
order), generated here with a fixed seed: --days UTC days, --victims distinct victims (half ECS
subnets behind public resolvers, half resolver addresses), 40 seized domains under 4 cases, 180
geolocations (60 countries, 120 ASNs), 1% queries for names outside every zone. Lines are made from
a few templates, so generating 7 GB takes about a minute; it is not part of the measured time.

Measured: wall time of the whole command (read, sum, write every CSV, summary.json and report.html),
its CPU time and peak RSS (getrusage of the child), records/s and MB/s of JSON, and the machine's
load and pressure stall figures around it (a shared machine: other work slows a run, and 7.5 GB of
plain files may not stay in the page cache, so the plain run can wait for the disk; the gzip run
reads 8x fewer bytes). Writes bench/results/report-<UTC time>.json.
"""
import argparse
import datetime
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)


def count(text):
    t = text.lower().replace("_", "")
    mult = {"k": 1000, "m": 1000000, "g": 1000000000}
    return int(float(t[:-1]) * mult[t[-1]]) if t[-1] in mult else int(t)


def pools(rng, nvictims):
    countries = ["SE", "US", "DE", "GB", "FR", "BR", "IN", "JP", "RU", "CN", "NL", "PL", "IT", "ES", "CA",
                 "AU", "KR", "TR", "MX", "ID", "VN", "TH", "UA", "RO", "CZ", "AR", "CO", "ZA", "EG", "NG",
                 "PK", "BD", "PH", "MY", "SG", "HK", "TW", "IR", "IQ", "SA", "AE", "IL", "GR", "PT", "AT",
                 "CH", "BE", "DK", "NO", "FI", "IE", "HU", "BG", "RS", "HR", "SK", "LT", "LV", "EE", "CL"]
    geos = []
    for i in range(180):
        cc = countries[i % len(countries)]
        asn = 64500 + i % 120
        lat, lon = rng.uniform(-50, 65), rng.uniform(-170, 170)
        geos.append('{"country":"%s","region_code":"R%d","region":"Region %d","city":"City %d",'
                    '"lat":%.4f,"lon":%.4f,"asn":%d,"as_org":"Example Network %d"}'
                    % (cc, i % 7, i % 7, i, lat, lon, asn, asn))
    cases = ['{"case":"1:2%d-cv-%04d","operation":"Operation %s","family":"%s"}'
             % (i, 1000 + i, name, fam) for i, (name, fam) in
             enumerate([("Azure", "Lumma"), ("Necurs", "Necurs"), ("Endgame", "Qakbot"), ("Cronos", "LockBit")])]
    domains = ["seized%02d-%s.%s" % (i, rng.choice(["alpha", "beta", "gamma", "delta"]),
                                     ["com", "net", "org", "info"][i % 4]) for i in range(40)]
    victims = []
    for v in range(nvictims):
        g = rng.randrange(len(geos))
        if v % 2:
            a, b, c = rng.randrange(1, 224), rng.randrange(256), rng.randrange(256)
            ecs = "%d.%d.%d.0/24" % (a, b, c)
            src = rng.choice(["8.8.8.8", "8.8.4.4", "1.1.1.1", "9.9.9.9", "2001:4860:4860::8888"])
            edns = '{"size":1232,"do":false,"ecs":"%s","cookie":false,"cookie_state":null,"nsid":false}' % ecs
            victims.append((src, edns, geos[(g + 1) % len(geos)], geos[g]))
        else:
            if v % 4 == 0:
                src = "2001:db8:%x:%x::%x" % (rng.randrange(65536), rng.randrange(65536), rng.randrange(1, 65536))
            else:
                src = "%d.%d.%d.%d" % (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256),
                                       rng.randrange(1, 255))
            edns = rng.choice(['{"size":1232,"do":false,"ecs":null,"cookie":true,"cookie_state":"client","nsid":false}',
                               "null"])
            victims.append((src, edns, geos[g], "null"))
    return victims, domains, cases


def generate(paths, nrecords, ndays, nvictims, seed=8):
    """Write nrecords JSON lines spread over paths, in time order; returns bytes written."""
    rng = random.Random(seed)
    victims, domains, cases = pools(rng, nvictims)
    start = int(datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc).timestamp())
    span = ndays * 86400
    per_file = (nrecords + len(paths) - 1) // len(paths)
    # Each victim is infected by one family: its domains come from one case.
    vcase = [rng.randrange(len(cases)) for _ in range(nvictims)]
    total = 0
    seq = 0
    for fi, path in enumerate(paths):
        n = min(per_file, nrecords - fi * per_file)
        if n <= 0:
            open(path, "w").close()
            continue
        out = []
        size = 0
        f = open(path, "w", encoding="utf-8")
        # victims drawn with a skew: a few very active, most quiet
        vidx = [int(nvictims * (rng.random() ** 2)) for _ in range(n)]
        t0 = start + span * fi // len(paths)
        t1 = start + span * (fi + 1) // len(paths)
        step = (t1 - t0) * 1000000 // n
        last_sec, ts = None, ""
        for k in range(n):
            seq += 1
            us = t0 * 1000000 + k * step
            sec, frac = divmod(us, 1000000)
            if sec != last_sec:
                last_sec, ts = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            v = vidx[k]
            src, edns, geo, ecs_geo = victims[v]
            c = vcase[v]
            if k % 100 == 99:
                line = ('{"time":"%s.%06dZ","node":"ns9.sinkhole.example","seq":%d,"transport":"udp","src":"%s",'
                        '"sport":%d,"dst":"192.0.2.53","dport":53,"id":%d,"opcode":"QUERY","flags":"rd",'
                        '"qname":"probe%d.example.","qtype":"A","qclass":"IN","edns":%s,"rcode":"REFUSED",'
                        '"aa":false,"tc":false,"size":40,"zone":null,"tags":null,"geo":%s,"ecs_geo":%s,"rrl":null}\n'
                        % (ts, frac, seq, src, 1024 + k % 60000, k & 0xFFFF, k, edns, geo, ecs_geo))
            else:
                d = domains[c * 10 + (v + (k & 1)) % 10]   # two domains per victim
                line = ('{"time":"%s.%06dZ","node":"ns9.sinkhole.example","seq":%d,"transport":"udp","src":"%s",'
                        '"sport":%d,"dst":"192.0.2.53","dport":53,"id":%d,"opcode":"QUERY","flags":"rd",'
                        '"qname":"www.%s.","qtype":"A","qclass":"IN","edns":%s,"rcode":"NOERROR","aa":true,'
                        '"tc":false,"size":64,"zone":"%s.","tags":%s,"geo":%s,"ecs_geo":%s,"rrl":null}\n'
                        % (ts, frac, seq, src, 1024 + k % 60000, k & 0xFFFF, d, edns, d, cases[c], geo, ecs_geo))
            out.append(line)
            size += len(line)
            if len(out) >= 20000:
                f.write("".join(out))
                out = []
        f.write("".join(out))
        f.close()
        total += os.path.getsize(path)
        print(f"  wrote {path}: {n:,} records", file=sys.stderr)
    return total


def find_binary(arg):
    if arg:
        return arg
    build = os.path.join(REPO, "build-bench")
    if not os.path.isdir(build):
        subprocess.run(["meson", "setup", build, "--buildtype=release", "-Dwerror=false"], check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", build, "tools/sinkhole-report"], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(build, "tools", "sinkhole-report")


def pressure():
    """Stall figures of the shared machine (Linux PSI, avg10): how much of the time something
    waited for the CPU or the disk."""
    out = {}
    for res in ("cpu", "io"):
        try:
            text = open(f"/proc/pressure/{res}").read()
            out[res] = float(text.split("avg10=")[1].split()[0])
        except (OSError, IndexError, ValueError):
            out[res] = None
    out["loadavg"] = float(open("/proc/loadavg").read().split()[0])
    return out


def run_once(binary, files, outdir, timeout):
    shutil.rmtree(outdir, ignore_errors=True)
    before_p = pressure()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([binary, "report", "--out", outdir] + files, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"sinkhole-report failed ({p.returncode}): {p.stderr}")
    summary = json.load(open(os.path.join(outdir, "summary.json")))
    return {"pressure_before": before_p, "pressure_after": pressure(), "wall_s": round(wall, 3),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
            "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
            "records": summary["records"], "malformed": summary["malformed"],
            "victims": summary["totals"]["victims"]["total"], "stderr": p.stderr.strip()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default="10M", help="records in all (default 10M)")
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--victims", default="200k")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--input", choices=["plain", "gzip", "both"], default="both",
                    help="time the plain files, their gzip -1 copies, or both (default)")
    ap.add_argument("--keep-data", metavar="DIR", help="generate into DIR (reused when complete) and keep it")
    ap.add_argument("--binary", help="sinkhole-report to time (default: build-bench/, release)")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    nrec, nvict = count(args.records), count(args.victims)
    binary = find_binary(args.binary)
    data = args.keep_data or tempfile.mkdtemp(prefix="sinkhole-report-bench-")
    os.makedirs(data, exist_ok=True)
    stamp = os.path.join(data, f"complete-{nrec}-{args.files}-{args.days}-{nvict}")
    files = [os.path.join(data, f"events-{i}.jsonl") for i in range(args.files)]
    result = {"bench": "report", "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "argv": sys.argv, "records_asked": nrec, "files": args.files, "days": args.days,
              "victims_asked": nvict, "binary": binary, "nproc": os.cpu_count(),
              "loadavg": open("/proc/loadavg").read().split()[:3], "rounds": []}
    try:
        if not os.path.exists(stamp):
            t0 = time.monotonic()
            print(f"generating {nrec:,} records in {args.files} files under {data}", file=sys.stderr)
            size = generate(files, nrec, args.days, nvict)
            open(stamp, "w").write(str(size))
            print(f"  {size / 1e9:.2f} GB in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        size = int(open(stamp).read())
        result["bytes"] = size
        variants = []
        if args.input in ("plain", "both"):
            variants.append(("plain", files))
        if args.input in ("gzip", "both"):
            gz = [f + ".gz" for f in files]
            missing = [f for f, g in zip(files, gz) if not os.path.exists(g)]
            if missing:
                print(f"compressing {len(missing)} files (gzip -1, two at a time)", file=sys.stderr)
                procs = []
                for f in missing:
                    if len(procs) == 2:
                        procs.pop(0).wait()
                    procs.append(subprocess.Popen(f"gzip -1 -c '{f}' > '{f}.gz.tmp' && mv '{f}.gz.tmp' '{f}.gz'",
                                                  shell=True))
                for p in procs:
                    p.wait()
            result["gzip_bytes"] = sum(os.path.getsize(g) for g in gz)
            variants.append(("gzip", gz))
        outdir = os.path.join(data, "out")
        for r in range(args.rounds):
            for name, fl in variants:
                res = run_once(binary, fl, outdir, args.timeout)
                res.update(variant=name, round=r + 1, records_per_s=round(res["records"] / res["wall_s"]),
                           mb_per_s=round(size / 1e6 / res["wall_s"], 1))
                result["rounds"].append(res)
                verdict = "within" if res["wall_s"] <= 60 * res["records"] / 1e7 else "OVER"
                print(f"round {r + 1} {name}: {res['records']:,} records in {res['wall_s']:.1f} s "
                      f"({res['records_per_s']:,} records/s, {res['mb_per_s']} MB/s of JSON), CPU {res['cpu_s']:.1f} s, "
                      f"peak RSS {res['peak_rss_mb']:.0f} MB; {res['victims']:,} unique victims "
                      f"[{verdict} the 60 s per 10M target]")
                print(f"  {res['stderr']}")
                print(f"  machine: load {res['pressure_before']['loadavg']} -> {res['pressure_after']['loadavg']}, "
                      f"PSI some cpu {res['pressure_after']['cpu']}%, io {res['pressure_after']['io']}% (avg10 at the end)")
    finally:
        if not args.keep_data:
            shutil.rmtree(data, ignore_errors=True)
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    now = datetime.datetime.strptime(result["started"], "%Y-%m-%dT%H:%M:%SZ")
    out = os.path.join(BENCH, "results", "report-" + now.strftime("%Y-%m-%dT%H%M%SZ") + ".json")
    json.dump(result, open(out, "w"), indent=1)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
