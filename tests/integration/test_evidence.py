"""test_evidence -- the JSON lines manifest of a real sinkholed (rotation, shutdown, a crash, SIGUSR1
after a move, pruning by keep) checked by `sinkhole-report verify`: an untouched chain verifies, with
and without its Ed25519 public key; one flipped byte, a deleted file, two swapped files, a cut file, a
wrong key, a removed or reordered manifest line are each found and named."""
import os
import re
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest

import skhelpers as sk
import tmhelpers as tm
from test_report import report_path

HEAD = re.compile(r"manifest head ([0-9a-f]{64})")


TRUE = True    # tmhelpers writes a boolean as YAML true


def report(*args, check=None):
    binary = report_path()
    if not binary.exists():
        pytest.fail(f"sinkhole-report not built: {binary}", pytrace=False)
    p = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)
    if check is not None:
        assert p.returncode == check, f"exit {p.returncode}, want {check}:\n{p.stdout}\n{p.stderr}"
    return p


def seg_lines(out):
    """{seg number: its verify line}."""
    return {int(m.group(1)): m.group(0) for m in re.finditer(r"^seg (\d+) .*$", out, re.M)}


def manifest_lines(folder):
    import json
    return [json.loads(l) for l in (folder / "events.jsonl.manifest").read_text().splitlines()]


def server(workdir, **jsonl):
    conf = {"path": "events.jsonl", "rotate_mb": 1, "keep": 10, "manifest": TRUE}
    conf.update(jsonl)
    sk.copy_zones(workdir)
    srv = tm.TmServer(workdir, telemetry={"flush_ms": 100, "stats_interval_s": 0, "jsonl": conf}, geoip=None)
    return srv.start()


def load(srv, tmp, n, tag):
    qf = tm.write_qfile(tmp / f"q-{tag}.txt", [f"{tag}{i}.sinkhole.test" for i in range(n)])
    res = tm.dnsperf(sk.V4, srv.port, qf, runs=1)
    assert res["lost"] == 0 and res["completed"] == n, res["output"][-800:]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A folder with a signed chain: a run of 10,000 queries (rotations, then a stop), a run killed
    with SIGKILL, a restart that notes the unsealed file, a SIGUSR1 after the file was moved away,
    and a last stop. Returns the folder, the public key and the log's last head."""
    base = tmp_path_factory.mktemp("evidence")
    d = base / "srv"
    d.mkdir()
    p = report("keygen", d / "sign", check=0)
    assert "public key" in p.stdout
    assert stat.S_IMODE((d / "sign.key").stat().st_mode) == 0o600
    srv = server(d, sign_key="sign.key")
    try:
        load(srv, base, 10000, "a")
        srv.stop_ok()
        lines = manifest_lines(d)
        assert len(lines) >= 4 and [l["end"] for l in lines[:-1]] == ["rotate"] * (len(lines) - 1)
        assert lines[-1]["end"] == "stop" and not (d / "events.jsonl").exists()
        assert sum(l["records"] for l in lines) == 10000

        srv = server(d, sign_key="sign.key")
        load(srv, base, 300, "b")
        tm.wait_for(lambda: tm.count_lines(d / "events.jsonl") == 300, 10)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(10)

        srv = server(d, sign_key="sign.key")
        assert "was not sealed by the run that wrote it" in srv.log_text(srv._log_start)
        load(srv, base, 200, "c")
        tm.wait_for(lambda: tm.count_lines(d / "events.jsonl") == 200, 10)
        os.rename(d / "events.jsonl", d / "events.jsonl-archived")
        srv.proc.send_signal(signal.SIGUSR1)
        tm.wait_for(lambda: (d / "events.jsonl").exists(), 5)
        load(srv, base, 100, "d")
        srv.stop_ok()
        heads = HEAD.findall(srv.log_text())
    finally:
        srv.kill()
    ends = [l["end"] for l in manifest_lines(d)]
    assert ends[-3:] == ["unsealed", "reopen", "stop"], ends
    return {"dir": d, "pub": d / "sign.pub", "head": heads[-1], "base": base}


def copy_of(chain, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(chain["dir"], dst, ignore=shutil.ignore_patterns("*.zone", "*.yml", "*.log", "sign.*"))
    return dst


def test_untouched_chain_verifies(chain):
    p = report("verify", "--pubkey", chain["pub"], "--head", chain["head"], chain["dir"], check=0)
    out = p.stdout
    n = len(manifest_lines(chain["dir"]))
    assert "chain: intact" in out and f"signatures: all {n} lines signed by the given key" in out
    assert re.search(r"^verified: \d+ segments intact, 1 unsealed$", out, re.M), out
    segs = seg_lines(out)
    assert len(segs) == n
    assert sum("ok:" in l for l in segs.values()) == n - 1
    unsealed = [l for l in segs.values() if "unsealed" in l]
    assert len(unsealed) == 1 and "left by a run that did not seal it" in unsealed[0]
    reopened = manifest_lines(chain["dir"])[-2]["seg"]
    assert "events.jsonl-archived  ok" in segs[reopened], "found by its content where logrotate put it"
    # without the key the signatures are named but not checked; the manifest file may be named too
    p = report("verify", chain["dir"] / "events.jsonl.manifest", check=0)
    assert "not checked (give --pubkey)" in p.stdout
    # and the records are all there for the report
    out = chain["base"] / "r"
    files = sorted(str(f) for f in chain["dir"].iterdir() if f.name.startswith("events.jsonl") and
                   not f.name.endswith(".manifest"))
    report("report", "-q", "--out", out, *files, check=0)
    import json
    assert json.loads((out / "summary.json").read_text())["records"] == 10000 + 300 + 200 + 100


def test_flipped_byte_is_altered(chain, tmp_path):
    d = copy_of(chain, tmp_path)
    victim = d / "events.jsonl.3"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    p = report("verify", "--pubkey", chain["pub"], d, check=1)
    bad = [l for l in seg_lines(p.stdout).values() if "ALTERED" in l]
    assert len(bad) == 1 and "events.jsonl.3" in bad[0], p.stdout
    assert "FAILED: 1 altered, 0 truncated, 0 missing, 0 reordered" in p.stdout


def test_deleted_segment_is_missing(chain, tmp_path):
    d = copy_of(chain, tmp_path)
    (d / "events.jsonl.4").unlink()
    p = report("verify", d, check=1)
    bad = [l for l in seg_lines(p.stdout).values() if "MISSING" in l]
    assert len(bad) == 1 and "expected as events.jsonl.4" in bad[0], p.stdout
    assert "0 altered, 0 truncated, 1 missing, 0 reordered" in p.stdout


def test_swapped_segments_are_reordered(chain, tmp_path):
    d = copy_of(chain, tmp_path)
    a, b, t = d / "events.jsonl.4", d / "events.jsonl.5", d / "tmp"
    os.rename(a, t)
    os.rename(b, a)
    os.rename(t, b)
    p = report("verify", d, check=1)
    bad = [l for l in seg_lines(p.stdout).values() if "REORDERED" in l]
    assert len(bad) == 2, p.stdout
    assert any("content is in events.jsonl.5, out of order" in l and "(rotation put it at events.jsonl.4)" in l
               for l in bad)
    assert any("content is in events.jsonl.4, out of order" in l and "(rotation put it at events.jsonl.5)" in l
               for l in bad)
    # the unsealed file (no hash: found by its size) moved out of its place is named too
    d = copy_of(chain, tmp_path / "again")
    os.rename(d / "events.jsonl.2", d / "events.jsonl.9")
    p = report("verify", d, check=1)
    assert re.search(r"^seg \d+  events\.jsonl\.9  REORDERED: its content is in events\.jsonl\.9, out of order "
                     r"with the segments around it \(rotation put it at events\.jsonl\.2\)$", p.stdout, re.M), p.stdout


def test_cut_segment_is_truncated(chain, tmp_path):
    d = copy_of(chain, tmp_path)
    f = d / "events.jsonl.5"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 3])
    p = report("verify", d, check=1)
    bad = [l for l in seg_lines(p.stdout).values() if "TRUNCATED" in l]
    assert len(bad) == 1 and f"{len(data) // 3} of {len(data)} bytes" in bad[0], p.stdout


def test_wrong_key_is_a_bad_signature(chain, tmp_path):
    report("keygen", tmp_path / "other", check=0)
    p = report("verify", "--pubkey", tmp_path / "other.pub", chain["dir"], check=1)
    n = len(manifest_lines(chain["dir"]))
    assert p.stdout.count("BAD SIGNATURE") == n, p.stdout
    # a line whose bytes changed (a count made smaller) does not verify under the right key either
    d = copy_of(chain, tmp_path)
    m = d / "events.jsonl.manifest"
    text = m.read_text().splitlines()
    text[1] = re.sub(r'"records":(\d+)', lambda x: f'"records":{int(x.group(1)) - 1}', text[1])
    m.write_text("\n".join(text) + "\n")
    p = report("verify", "--pubkey", chain["pub"], d, check=1)
    assert re.search(r"signature: line 2 \(seg \d+\): BAD SIGNATURE", p.stdout)
    assert "chain: line 3" in p.stdout, "the next line's prev no longer matches"


def test_manifest_lines_removed_or_reordered(chain, tmp_path):
    d = copy_of(chain, tmp_path)
    m = d / "events.jsonl.manifest"
    lines = m.read_text().splitlines()
    m.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    p = report("verify", d, check=1)
    assert "chain: line 3 (seg 4): prev does not match line 2" in p.stdout, p.stdout
    m.write_text("\n".join(lines[:1] + [lines[2], lines[1]] + lines[3:]) + "\n")
    p = report("verify", d, check=1)
    assert "REORDERED here" in p.stdout
    # the last line removed: the chain itself cannot show it (its file is then merely "not in the
    # manifest"); the head the server logged does
    m.write_text("\n".join(lines[:-1]) + "\n")
    p = report("verify", d, check=0)
    assert re.search(r"^file events\.jsonl\.1  not in the manifest", p.stdout, re.M), p.stdout
    p = report("verify", "--head", chain["head"], d, check=1)
    assert "does not match the expected" in p.stdout


def test_unrecorded_rename_is_not_tampering(chain, tmp_path):
    """A crash between a rotation's rename and its manifest line shifts every older file's name
    by one: order is kept, so nothing is reported reordered; a swap is still found."""
    d = copy_of(chain, tmp_path)
    names = sorted((f for f in d.iterdir() if re.fullmatch(r"events\.jsonl\.\d+", f.name)),
                   key=lambda f: -int(f.name.rsplit(".", 1)[1]))
    for f in names:                      # oldest first: .7 -> .8, ..., .1 -> .2
        n = int(f.name.rsplit(".", 1)[1])
        os.rename(f, d / f"events.jsonl.{n + 1}")
    (d / "events.jsonl.1").write_text('{"time":"2026-11-22T10:00:00.000000Z","seq":1}\n')
    p = report("verify", d, check=0)
    assert "REORDERED" not in p.stdout and re.search(r"^file events\.jsonl\.1  not in the manifest", p.stdout, re.M), \
        p.stdout


def test_crash_leftover_is_unsealed_not_tampered(chain, tmp_path):
    """A file still at the path (the server was killed) is reported, and verification passes."""
    d = copy_of(chain, tmp_path)
    (d / "events.jsonl").write_text('{"time":"2026-11-22T10:00:00.000000Z","seq":1}\n')
    p = report("verify", d, check=0)
    assert re.search(r"^file events\.jsonl  unsealed: the segment being written", p.stdout, re.M), p.stdout


def test_pruned_by_keep(tmp_path):
    d = tmp_path / "srv"
    d.mkdir()
    srv = server(d, keep=2)
    try:
        load(srv, tmp_path, 9000, "p")
        srv.stop_ok()
    finally:
        srv.kill()
    lines = manifest_lines(d)
    assert len(lines) >= 4
    p = report("verify", d, check=0)
    pruned = [l for l in seg_lines(p.stdout).values() if "pruned" in l]
    assert len(pruned) == len(lines) - 2 and all("(keep 2)" in l for l in pruned), p.stdout
    assert re.search(rf"verified: 2 segments intact, {len(lines) - 2} pruned by rotation", p.stdout)
    # a pruned segment is not "missing"; a deleted kept one is
    (d / "events.jsonl.2").unlink()
    p = report("verify", d, check=1)
    assert "1 missing" in p.stdout


def test_signing_key_errors(tmp_path):
    d = tmp_path / "srv"
    d.mkdir()
    (d / "bad.key").write_text("not a key\n")
    sk.copy_zones(d)
    srv = tm.TmServer(d, telemetry={"jsonl": {"path": "events.jsonl", "manifest": TRUE, "sign_key": "bad.key"}},
                      geoip=None)
    with pytest.raises(RuntimeError):
        srv.start(timeout=5)
    srv.kill()
    assert re.search(r"sign_key .*bad\.key: the key line is not valid base64", srv.log_text()), srv.log_text()[-1000:]
    srv2 = tm.TmServer(d, telemetry={"jsonl": {"path": "events.jsonl", "sign_key": "bad.key"}}, geoip=None)
    with pytest.raises(RuntimeError):
        srv2.start(timeout=5)
    srv2.kill()
    assert re.search(r"sinkholed\.yml:\d+: telemetry\.jsonl: sign_key signs the manifest: it needs manifest: true",
                     srv2.log_text()), srv2.log_text()[-1000:]
