"""ctlhelpers -- sinkholectl and /metrics from the tests: run the real client, scrape with curl,
read the Prometheus text format back (checking its rules as it goes).

Imported by test_ctl.py and test_two_nodes.py.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import skhelpers as sk


def sinkholectl_path():
    """$SINKHOLECTL, else tools/sinkholectl beside the sinkholed under test (build/tools/)."""
    env = os.environ.get("SINKHOLECTL")
    if env:
        return Path(env)
    return sk.sinkholed_path().parent.parent / "tools" / "sinkholectl"


def need(tool, package):
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} not installed (Debian package {package}; tools/install-deps.sh --test)",
                    pytrace=False)
    return path


def ctl(sock, *args, timeout=60, config=None):
    """Run sinkholectl; returns (exit status, stdout, stderr)."""
    binary = sinkholectl_path()
    if not binary.exists():
        pytest.fail(f"sinkholectl not built: {binary}", pytrace=False)
    cmd = [str(binary)] + (["-c", str(config)] if config else ["-s", str(sock)]) + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def ctl_ok(sock, *args, **kw):
    rc, out, err = ctl(sock, *args, **kw)
    assert rc == 0, f"sinkholectl {' '.join(map(str, args))}: exit {rc}\n{out}{err}"
    return out


def kv(text):
    """'key value' lines as a dict (the first word is the key)."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        out[k] = v
    return out


def curl(url, *extra):
    """curl a URL; returns (HTTP status, headers text, body)."""
    p = subprocess.run([need("curl", "curl"), "-s", "-S", "-i", "--max-time", "10", *extra, url],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    raw = p.stdout.decode("utf-8", "replace")
    head, _, body = raw.partition("\r\n\r\n")
    status = int(head.split()[1])
    return status, head, body


def scrape(addr, port):
    status, head, body = curl(f"http://{addr}:{port}/metrics")
    assert status == 200, head
    assert re.search(r"(?im)^content-type: text/plain; version=0\.0\.4; charset=utf-8\r?$", head), head
    return body


def promtool_check(body):
    """promtool check metrics: the Prometheus project's own reader and linter."""
    p = subprocess.run([need("promtool", "prometheus"), "check", "metrics"], input=body.encode(),
                       capture_output=True, timeout=30)
    assert p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")
    return (p.stdout + p.stderr).decode(errors="replace")


_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?\}})? (\S+)$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_metrics(body):
    """The text exposition format 0.0.4, checked line by line: HELP and TYPE at most once per
    family and before its samples, samples named after the current family, label names and
    escapes as the format allows, no label twice, values that are floats, no sample twice.
    Returns {(name, frozenset of (label, value)): float}."""
    assert body.endswith("\n"), "the exposition must end with a line feed"
    types, helps, samples = {}, set(), {}
    family = None
    for n, line in enumerate(body.splitlines(), 1):
        where = f"line {n}: {line!r}"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                name, typ = parts[2], parts[3]
                assert re.fullmatch(_NAME, name), where
                assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), where
                assert name not in types, f"{where}: TYPE twice"
                types[name] = typ
                family = name
            elif len(parts) >= 3 and parts[1] == "HELP":
                assert parts[2] not in helps, f"{where}: HELP twice"
                helps.add(parts[2])
            continue
        assert line.strip(), f"{where}: blank line"
        m = _SAMPLE.match(line)
        assert m, f"{where}: not a sample line"
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        assert family and name == family, f"{where}: sample outside its family ({family})"
        pairs = _LABEL_RE.findall(labels)
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"{where}: a label twice"
        float(value)
        key = (name, frozenset((k, v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
                               for k, v in pairs))
        assert key not in samples, f"{where}: the same series twice"
        samples[key] = float(value)
    return samples


def value(samples, name, **labels):
    """One series' value (0 when it is absent: zero query counts are left out)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples, name):
    """Every series of a family: {frozenset(labels): value}."""
    return {k[1]: v for k, v in samples.items() if k[0] == name}
