"""reportgen -- a telemetry set with known answers for sinkhole-report (tests/integration/test_report.py).

Records are written as sinkholed writes them (README, Telemetry: every field, in order), from a fixed
seed: five UTC days, IPv4 and IPv6 resolver addresses and ECS subnets, six countries (one without an
ASN, one looked up and not found), three seized domains with their cases, records outside every zone,
and a few lines that are not records. The expected answers are computed here from the same records,
independently of the tool: exact sets per day and dimension.
"""
import gzip
import ipaddress
import json
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

GEOS = {
    "se": {"country": "SE", "region_code": "E", "region": "\u00d6sterg\u00f6tland County", "city": "Link\u00f6ping",
           "lat": 58.4167, "lon": 15.6167, "asn": 29518, "as_org": "Bredband2 AB"},
    "us": {"country": "US", "region_code": "WA", "region": "Washington", "city": "Milton",
           "lat": 47.2513, "lon": -122.3149, "asn": 209, "as_org": "CenturyLink Communications, LLC"},
    "gb": {"country": "GB", "region_code": "ENG", "region": "England", "city": "London",
           "lat": 51.5142, "lon": -0.0931},
    "de": {"country": "DE", "region_code": "BE", "region": "Berlin", "city": "Berlin",
           "lat": 52.5244, "lon": 13.4105, "asn": 3320, "as_org": "Deutsche Telekom AG"},
    "jp": {"country": "JP", "region_code": "13", "region": "Tokyo", "city": "Tokyo",
           "lat": 35.6895, "lon": 139.6917, "asn": 2516, "as_org": "KDDI CORPORATION"},
    # An AS name a spreadsheet would take for a formula.
    "br": {"country": "BR", "region_code": "SP", "region": "S\u00e3o Paulo", "city": "S\u00e3o Paulo",
           "lat": -23.5475, "lon": -46.6361, "asn": 28573, "as_org": "=Claro S.A."},
    "none": {},
}

TAGS = {
    "aitism.net.": {"case": "1:24-cv-2323", "operation": "Azure Abuse Enterprise", "family": "Lumma"},
    "necurs-abc.com.": {"case": "1:20-cv-01217", "operation": "Necurs", "family": "Necurs"},
    "qakbot-x.org.": {"case": "EU-2024-05", "operation": "Endgame, phase \"2\"", "family": "Qakbot"},
}

# (name, src, ecs or None, geo of src, geo of the ECS subnet)
VICTIMS = [
    ("A1", "81.2.69.142", None, "gb", None),
    ("A2", "2001:db8:1:2::5", None, "jp", None),
    ("A3", "216.160.83.57", None, "us", None),
    ("A4", "192.0.2.77", None, "none", None),
    ("A5", "203.0.113.9", "0.0.0.0/0", "de", None),            # ECS /0: the address is the victim
    ("S1", "8.8.8.8", "89.160.20.112/28", "us", "se"),
    ("S2", "8.8.4.4", "89.160.20.0/24", "us", "se"),           # same /24 network as S1
    ("S3", "2001:4860:4860::8888", "2a02:1234:5678:9a00::/56", "us", "de"),
    ("S4", "1.1.1.1", "177.10.20.0/24", "us", "br"),
    ("S5", "9.9.9.9", "10.1.0.0/16", "us", "none"),            # a short subnet is its own network
]

DAYS = [datetime(2026, 11, 18, tzinfo=timezone.utc) + timedelta(days=i) for i in range(5)]
DOMAINS = list(TAGS)


def victim_of(rec):
    """(kind, text, geo) of a record as the README defines the victim; None without a zone."""
    if rec["zone"] is None:
        return None
    ecs = (rec["edns"] or {}).get("ecs")
    if ecs and not ecs.endswith("/0"):
        return ("subnet", ecs, rec["ecs_geo"] or {})
    return ("address", rec["src"], rec["geo"] or {})


def network_of(text):
    net = ipaddress.ip_network(text, strict=False)
    want = 24 if net.version == 4 else 48
    return str(net.supernet(new_prefix=want) if net.prefixlen > want else net)


def record(t, seq, name, src, ecs, geo, ecs_geo, qname, zone, sport):
    edns = None
    if ecs is not None or seq % 3:
        edns = {"size": 1232, "do": False, "ecs": ecs, "cookie": seq % 2 == 0,
                "cookie_state": "client" if seq % 2 == 0 else None, "nsid": False}
    ts = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"
    return {"time": ts, "node": "ns9.sinkhole.example", "seq": seq, "transport": "udp" if seq % 5 else "tcp",
            "src": src, "sport": sport, "dst": "192.0.2.53", "dport": 53, "id": seq & 0xFFFF, "opcode": "QUERY",
            "flags": "rd", "qname": qname, "qtype": "A", "qclass": "IN", "edns": edns,
            "rcode": "NOERROR" if zone else "REFUSED", "aa": zone is not None, "tc": False, "size": 64,
            "zone": zone, "tags": TAGS.get(zone) if zone else None,
            "geo": GEOS[geo] if geo else None,
            "ecs_geo": GEOS[ecs_geo] if (ecs_geo and ecs and not ecs.endswith("/0")) else None,
            "rrl": None}


def generate(seed=8):
    """The records (dicts, in time order) and the non-record lines to mix in."""
    rng = random.Random(seed)
    recs = []
    seq = 0
    for di, day in enumerate(DAYS):
        for vi, (name, src, ecs, geo, ecs_geo) in enumerate(VICTIMS):
            # Not every victim every day; each one infected by one or two families.
            if (vi + di) % 4 == 3:
                continue
            doms = [DOMAINS[vi % 3]] + ([DOMAINS[(vi + 1) % 3]] if vi % 2 else [])
            for d in doms:
                for _ in range(1 + rng.randrange(6)):
                    t = day + timedelta(seconds=rng.randrange(86400), microseconds=rng.randrange(1000000))
                    sub = rng.choice(["www.", "", "cdn.", "WwW."])
                    recs.append((t, name, src, ecs, geo, ecs_geo, sub + d, d))
        for k in range(3):   # a scanner asking for names we do not serve
            t = day + timedelta(seconds=rng.randrange(86400))
            recs.append((t, "scan", "198.51.100.7", None, "us", None, f"probe{k}.example.", None))
    recs.sort(key=lambda r: r[0])
    out = []
    for t, name, src, ecs, geo, ecs_geo, qname, zone in recs:
        seq += 1
        out.append(record(t, seq, name, src, ecs, geo, ecs_geo, qname, zone, 1024 + rng.randrange(64000)))
    junk = ["this is not json", '{"time":"2026-11-20T10:00:00.000000Z","src":"1.2.3.4"', "",
            '{"time":"yesterday","src":"192.0.2.1","zone":"aitism.net."}']
    return out, junk


def line(rec):
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


def odd_line(rec):
    """The same record with its members in another order and members the tool does not know:
    the format may gain fields (README: none is renamed), readers must not care."""
    items = list(rec.items())[::-1]
    d = dict(items)
    d["future"] = {"nested": [1, {"s": "}{\"],"}], "more": "x\\\"y"}
    return json.dumps(d, ensure_ascii=True, separators=(", ", ": "))


def write_set(folder, recs, junk):
    """Three files, out of time order: a plain one with the last days, a gzip one (two members)
    with the first days, a plain one with the middle day mixed with junk and an odd line.
    Returns the file paths."""
    folder.mkdir(parents=True, exist_ok=True)
    by_day = defaultdict(list)
    for r in recs:
        by_day[r["time"][:10]].append(r)
    days = sorted(by_day)
    late = folder / "events.jsonl"
    early = folder / "events.jsonl.2.gz"
    mid = folder / "events.jsonl.1"
    late.write_text("".join(line(r) + "\n" for d in days[3:] for r in by_day[d]), encoding="utf-8")
    first, second = by_day[days[0]], by_day[days[1]]
    with open(early, "wb") as f:
        f.write(gzip.compress("".join(line(r) + "\n" for r in first).encode()))
        f.write(gzip.compress("".join(line(r) + "\n" for r in second).encode()))
    mid_recs = by_day[days[2]]
    parts = [line(r) for r in mid_recs[:-1]] + [odd_line(mid_recs[-1])]
    for i, j in enumerate(junk):
        parts.insert(1 + 2 * i, j)
    mid.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return [late, early, mid]


def expected(recs):
    """Known answers: per day (and "all") and dimension, unique victims of each kind and queries;
    the notification rows; the victims."""
    cells = defaultdict(lambda: {"queries": 0, "address": set(), "subnet": set()})
    rows = {}
    victims = {}
    unmatched = defaultdict(int)
    records = defaultdict(int)
    for r in recs:
        day = r["time"][:10]
        records[day] += 1
        v = victim_of(r)
        if v is None:
            unmatched[day] += 1
            continue
        kind, text, geo = v
        tags = r["tags"] or {}
        values = {"country": geo.get("country", ""), "asn": str(geo.get("asn", 0)), "domain": r["zone"],
                  "case": tags.get("case", ""), "operation": tags.get("operation", ""),
                  "family": tags.get("family", ""), "network": network_of(text)}
        for d in (day, "all"):
            cells[(d, "total", "")]["queries"] += 1
            cells[(d, "total", "")][kind].add(text)
            for dim, val in values.items():
                c = cells[(d, dim, val)]
                c["queries"] += 1
                c[kind].add(text)
        key = (text, r["zone"], day)
        row = rows.get(key)
        if row is None or r["time"] < row["timestamp"]:
            rows[key] = row = dict(row or {"queries": 0, "last_seen": r["time"]},
                                   timestamp=r["time"], address=text, port=r["sport"], geo=geo,
                                   domain=r["zone"], tags=tags, kind=kind)
        row["queries"] += 1
        row["last_seen"] = max(row["last_seen"], r["time"])
        vt = victims.setdefault(text, {"kind": kind, "first": r["time"], "last": r["time"], "queries": 0,
                                       "days": set(), "domains": set()})
        vt["first"], vt["last"] = min(vt["first"], r["time"]), max(vt["last"], r["time"])
        vt["queries"] += 1
        vt["days"].add(day)
        vt["domains"].add(r["zone"])
    return {"cells": cells, "rows": rows, "victims": victims, "unmatched": unmatched, "records": records}
