"""test_report -- `sinkhole-report report` against a telemetry set with known answers (reportgen.py):
daily sums, notification CSVs per ASN and per country, victims, summary.json, privacy modes, and the
HTML report rendered by headless Chromium (no console errors, charts drawn, a screenshot)."""
import csv
import gzip
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import reportgen as rg
import skhelpers as sk

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def report_path():
    p = os.environ.get("SINKHOLE_REPORT")
    if p:
        return Path(p)
    return sk.sinkholed_path().parents[1] / "tools" / "sinkhole-report"


def run_report(out, files, *extra, check=True):
    binary = report_path()
    if not binary.exists():
        pytest.fail(f"sinkhole-report not built: {binary} (build it, or set SINKHOLE_REPORT)", pytrace=False)
    p = subprocess.run([str(binary), "report", "--out", str(out), *extra, *map(str, files)],
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"exit {p.returncode}: {p.stderr}"
    return p


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("telemetry")
    recs, junk = rg.generate()
    files = rg.write_set(d, recs, junk)
    hashes = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    return {"recs": recs, "junk": junk, "files": files, "exp": rg.expected(recs), "dir": d, "hashes": hashes}


@pytest.fixture(scope="module")
def plain(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    p = run_report(out, dataset["files"], "--title", "test set")
    return {"out": out, "stderr": p.stderr}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- sums ---------------------------------------------------------------------------------------

def test_daily_sums_equal_known_answers(dataset, plain):
    exp = dataset["exp"]["cells"]
    got = {}
    for row in read_csv(plain["out"] / "csv" / "daily.csv"):
        key = (row["day"], row["dimension"], row["key"])
        assert key not in got, f"daily.csv repeats {key}"
        got[key] = (int(row["queries"]), int(row["addresses"]), int(row["subnets"]), int(row["victims"]))
    want = {k: (c["queries"], len(c["address"]), len(c["subnet"]), len(c["address"]) + len(c["subnet"]))
            for k, c in exp.items()}
    assert set(got) == set(want), f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}"
    bad = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not bad, f"(queries, addresses, subnets, victims) got vs want: {dict(list(bad.items())[:8])}"
    # the data set really exercises what it claims to
    days = {k[0] for k in want if k[0] != "all"}
    assert len(days) == 5
    assert want[("all", "total", "")][1] >= 4 and want[("all", "total", "")][2] >= 4
    assert ("all", "country", "") in want and ("all", "asn", "0") in want, "unknown country and ASN present"


def test_summary_json(dataset, plain):
    exp = dataset["exp"]
    s = json.loads((plain["out"] / "summary.json").read_text())
    assert s["records"] == len(dataset["recs"])
    assert s["malformed"] == 3, "three of the junk lines are not records (the empty line is skipped)"
    assert s["unmatched"] == sum(exp["unmatched"].values())
    assert s["first"] == dataset["recs"][0]["time"] and s["last"] == dataset["recs"][-1]["time"]
    tot = exp["cells"][("all", "total", "")]
    assert s["totals"]["queries"] == tot["queries"]
    assert s["totals"]["victims"] == {"total": len(tot["address"]) + len(tot["subnet"]),
                                      "addresses": len(tot["address"]), "subnets": len(tot["subnet"])}
    assert [d["day"] for d in s["days"]] == sorted(exp["records"])
    for d in s["days"]:
        c = exp["cells"][(d["day"], "total", "")]
        assert d["records"] == exp["records"][d["day"]] and d["unmatched"] == exp["unmatched"][d["day"]]
        assert d["victims"]["addresses"] == len(c["address"]) and d["victims"]["subnets"] == len(c["subnet"])
        countries = {x["key"]: (x["victims"], x["queries"]) for x in d["by_country"]}
        want = {k[2]: (len(v["address"]) + len(v["subnet"]), v["queries"]) for k, v in exp["cells"].items()
                if k[0] == d["day"] and k[1] == "country"}
        assert countries == want, d["day"]
        victims = [x["victims"] for x in d["by_asn"]]
        assert victims == sorted(victims, reverse=True), "lists are ranked by unique victims"
    asn = {x["key"]: x["name"] for x in s["totals"]["by_asn"]}
    assert asn[29518] == "Bredband2 AB" and asn[209] == "CenturyLink Communications, LLC" and asn[0] == ""
    nets = {x["key"]: x["victims"] for x in s["totals"]["top_networks"]}
    assert nets["89.160.20.0/24"] == 2 and nets["10.1.0.0/16"] == 1 and nets["2a02:1234:5678::/48"] == 1
    bad = re.findall(r"events\.jsonl\.1:(\d+): not a telemetry record, skipped", plain["stderr"])
    assert len(bad) == 3, plain["stderr"]
    lines = (dataset["dir"] / "events.jsonl.1").read_text(encoding="utf-8").split("\n")
    assert {lines[int(n) - 1] for n in bad} == set(dataset["junk"]) - {""}, "the named lines are the junk ones"


# -- notification files -------------------------------------------------------------------------

NOTIFY_COLUMNS = ["timestamp", "address", "port", "asn", "as_name", "country", "region", "city", "domain",
                  "case", "operation", "family", "queries", "last_seen"]


def expected_row(r):
    g, t = r["geo"], r["tags"]
    return {"timestamp": r["timestamp"], "address": r["address"], "port": str(r["port"]),
            "asn": str(g["asn"]) if g.get("asn") else "", "as_name": g.get("as_org", ""),
            "country": g.get("country", ""), "region": g.get("region", ""), "city": g.get("city", ""),
            "domain": r["domain"], "case": t.get("case", ""), "operation": t.get("operation", ""),
            "family": t.get("family", ""), "queries": str(r["queries"]), "last_seen": r["last_seen"]}


def unguard(row):
    # a cell that would start a formula is written with a quote in front
    return {k: v[1:] if v.startswith("'=") else v for k, v in row.items()}


@pytest.mark.parametrize("by", ["asn", "country"])
def test_notification_csv_per_group(dataset, plain, by):
    rows = dataset["exp"]["rows"]
    want = {}
    for r in rows.values():
        g = r["geo"]
        name = (f"AS{g['asn']}" if g.get("asn") else "unknown") if by == "asn" else (g.get("country") or "unknown")
        want.setdefault(name + ".csv", []).append(expected_row(r))
    folder = plain["out"] / "csv" / by
    assert sorted(p.name for p in folder.iterdir()) == sorted(want), "one file per group, no other"
    for name, rows_want in want.items():
        text = (folder / name).read_text(encoding="utf-8")
        assert text.splitlines()[0] == ",".join(NOTIFY_COLUMNS)
        got = [unguard(r) for r in read_csv(folder / name)]
        assert [r["timestamp"] for r in got] == sorted(r["timestamp"] for r in got), f"{name}: time order"
        key = lambda r: (r["timestamp"], r["address"], r["domain"])
        assert sorted(got, key=key) == sorted(rows_want, key=key), name


def test_csv_quoting_and_formula_guard(plain):
    text = (plain["out"] / "csv" / "asn" / "AS28573.csv").read_text(encoding="utf-8")
    assert "\"'=Claro S.A.\"" in text, "a name starting with = is quoted and prefixed with '"
    assert '"Endgame, phase ""2"""' in text, "a comma and quotes in a tag: quoted, quotes doubled"
    us = (plain["out"] / "csv" / "asn" / "AS209.csv").read_text(encoding="utf-8")
    assert '"CenturyLink Communications, LLC"' in us


def test_victims_csv(dataset, plain):
    exp = dataset["exp"]["victims"]
    got = {r["address"]: r for r in read_csv(plain["out"] / "csv" / "victims.csv")}
    assert set(got) == set(exp)
    for text, v in exp.items():
        g = got[text]
        assert (g["kind"], g["first_seen"], g["last_seen"], int(g["days"]), int(g["domains"]), int(g["queries"])) == \
            (v["kind"], v["first"], v["last"], len(v["days"]), len(v["domains"]), v["queries"]), text
    assert got["203.0.113.9"]["kind"] == "address", "ECS /0 leaves the source address as the victim"
    assert got["89.160.20.112/28"]["kind"] == "subnet" and got["89.160.20.112/28"]["country"] == "SE"


def test_order_and_compression_do_not_matter(dataset, plain, tmp_path):
    """The same records in one plain file, reversed: the same answers."""
    one = tmp_path / "all.jsonl"
    one.write_text("".join(rg.line(r) + "\n" for r in reversed(dataset["recs"])), encoding="utf-8")
    out = tmp_path / "out"
    run_report(out, [one])
    for f in ("csv/daily.csv", "csv/victims.csv", "csv/asn/AS29518.csv", "csv/country/SE.csv"):
        assert (out / f).read_text() == (plain["out"] / f).read_text(), f


def test_output_folder(dataset, tmp_path):
    """A folder that is neither empty nor an earlier report is refused; an earlier report's
    notification files for groups no longer in the data are removed."""
    other = tmp_path / "home"
    other.mkdir()
    (other / "notes.txt").write_text("mine\n")
    p = run_report(other, dataset["files"], check=False)
    assert p.returncode == 1 and "holds no earlier report" in p.stderr
    assert sorted(x.name for x in other.iterdir()) == ["notes.txt"]
    out = tmp_path / "again"
    run_report(out, dataset["files"])
    stale = out / "csv" / "asn" / "AS64496.csv"
    stale.write_text("old\n")
    run_report(out, dataset["files"])
    assert not stale.exists() and (out / "csv" / "asn" / "AS29518.csv").exists()


def test_bad_input_files(tmp_path):
    missing = run_report(tmp_path / "o1", [tmp_path / "nope.jsonl"], check=False)
    assert missing.returncode == 1 and "nope.jsonl" in missing.stderr
    cut = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(b"".join(rg.line(r).encode() + b"\n" for r in rg.generate()[0][:200]))
    cut.write_bytes(data[: len(data) // 2])
    p = run_report(tmp_path / "o2", [cut], check=False)
    assert p.returncode == 1 and "corrupt or cut gzip" in p.stderr
    p = run_report(tmp_path / "o3", [cut], "--privacy", "hash", check=False)
    assert p.returncode == 2 and "--hash-key" in p.stderr


# -- privacy --------------------------------------------------------------------------------------

def test_privacy_truncate(dataset, plain, tmp_path):
    out = tmp_path / "t"
    run_report(out, dataset["files"], "--privacy", "truncate")
    want = {"81.2.69.142": "81.2.69.0/24", "2001:db8:1:2::5": "2001:db8:1::/48",
            "89.160.20.112/28": "89.160.20.0/24", "2a02:1234:5678:9a00::/56": "2a02:1234:5678::/48",
            "10.1.0.0/16": "10.1.0.0/16", "177.10.20.0/24": "177.10.20.0/24"}
    got = {r["address"] for r in read_csv(out / "csv" / "victims.csv")}
    assert set(want.values()) <= got
    assert not (set(want) - set(want.values())) & got, "no full address or long subnet is left"
    for f in (out / "csv" / "asn").iterdir():
        for r in read_csv(f):
            assert r["address"].count("/") == 1, f"{f.name}: {r['address']}"
    # counting is done on the real victims: the sums do not change
    assert (out / "csv" / "daily.csv").read_text() == (plain["out"] / "csv" / "daily.csv").read_text()
    assert json.loads((out / "summary.json").read_text())["privacy"] == "truncate"
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in dataset["files"]} == dataset["hashes"], \
        "the raw log is never changed"


def test_privacy_hash(dataset, plain, tmp_path):
    key = tmp_path / "k"
    key.write_bytes(b"0123456789abcdef-report-test-key\n")
    mac = lambda t: "h:" + hmac.new(b"0123456789abcdef-report-test-key", t.encode(), hashlib.sha256).hexdigest()[:32]
    out = tmp_path / "h"
    run_report(out, dataset["files"], "--privacy", "hash", "--hash-key", key)
    rows = read_csv(out / "csv" / "asn" / "AS29518.csv")
    assert rows and all(re.fullmatch(r"h:[0-9a-f]{32}", r["address"]) for r in rows)
    assert {r["address"] for r in rows} == {mac("89.160.20.112/28"), mac("89.160.20.0/24")}, \
        "HMAC-SHA-256 with the key, as documented: anyone holding the key can recompute it"
    got = {r["address"] for r in read_csv(out / "csv" / "victims.csv")}
    assert got == {mac(t) for t in dataset["exp"]["victims"]}
    nets = json.loads((out / "summary.json").read_text())["totals"]["top_networks"]
    assert all(n["key"].startswith("h:") for n in nets), "networks are pseudonymised too"
    html = (out / "report.html").read_text()
    assert "81.2.69.142" not in html and "89.160.20." not in html
    key.write_bytes(b"another-key-of-enough-length")
    out2 = tmp_path / "h2"
    run_report(out2, dataset["files"], "--privacy", "hash", "--hash-key", key)
    assert not {r["address"] for r in read_csv(out2 / "csv" / "victims.csv")} & got, "another key, other values"
    assert (out2 / "csv" / "daily.csv").read_text().count("\n") == (plain["out"] / "csv" / "daily.csv").read_text().count("\n")
    key.write_bytes(b"short")
    p = run_report(tmp_path / "h3", dataset["files"], "--privacy", "hash", "--hash-key", key, check=False)
    assert p.returncode == 2 and "16 to 256 bytes" in p.stderr


# -- the HTML report in a real browser -----------------------------------------------------------

def chromium(args, timeout=90):
    if not CHROMIUM:
        pytest.skip("chromium is not installed (tools/install-deps.sh --test installs it)")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def console_errors(stderr):
    return [l for l in stderr.splitlines() if "CONSOLE" in l and re.search(r"error|uncaught", l, re.I)]


def test_html_self_contained(plain):
    html = (plain["out"] / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I), "no external resource"
    assert "@import" not in html and "url(http" not in html
    assert "default-src 'none'" in html, "the page forbids itself any network access"
    data = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    d = json.loads(data)
    assert d["title"] == "test set" and len(d["days"]) == 5 and d["points"]


def test_html_renders_in_chromium(plain, tmp_path):
    page = plain["out"] / "report.html"
    p = chromium(["--dump-dom", page.as_uri()])
    dom = p.stdout
    assert "<html" in dom, f"no DOM from chromium (exit {p.returncode}): {p.stderr[-1500:]}"
    m = re.search(r'<html[^>]*data-errors="(\d+)"[^>]*data-charts="(\d+)"', dom)
    assert m, dom[:500]
    assert m.group(1) == "0", re.search(r"<title>(.*?)</title>", dom).group(1)
    assert "<title>ok</title>" in dom
    assert int(m.group(2)) >= 5
    assert len(re.findall(r'<svg[^>]*class="chart"', dom)) == int(m.group(2))
    assert len(re.findall(r"<rect ", dom)) > 20 and "<polyline" in dom and "<circle" in dom
    assert not console_errors(p.stderr), console_errors(p.stderr)
    assert "SE Sweden" in dom or "SE " in dom, "countries are labelled"

    shot = tmp_path / "report.png"
    p = chromium([f"--screenshot={shot}", "--window-size=1400,2000", "--hide-scrollbars", page.as_uri()])
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p.stderr[-1500:]
    assert shot.stat().st_size > 20000, "a screenshot of drawn charts, not a blank page"
    assert not console_errors(p.stderr), console_errors(p.stderr)
    if os.environ.get("SK_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["SK_REPORT_SCREENSHOT"])


def test_html_error_detection_works(plain, tmp_path):
    """The check above can fail: a page whose data is broken reports the error."""
    bad = tmp_path / "bad.html"
    html = (plain["out"] / "report.html").read_text()
    bad.write_text(re.sub(r'(<script id="report-data" type="application/json">).*?(</script>)',
                          r"\1{not json\2", html, flags=re.S))
    dom = chromium(["--dump-dom", bad.as_uri()]).stdout
    assert re.search(r'data-errors="[1-9]', dom) and "<title>error:" in dom
