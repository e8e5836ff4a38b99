"""conftest -- fixtures that run the real sinkholed on free loopback ports.

`server`        one sinkholed for the whole session with the default test zones (read-only use).
`make_server`   a factory for servers with their own config; each is killed at teardown.
`via`           (transport, family) parametrization: udp4, tcp4, udp6, tcp6; v6 skipped with a reason
                when ::1 cannot be bound.
"""
import sys

import pytest

import skhelpers as sk


def pytest_report_header(config):
    lines = [f"sinkholed: {sk.sinkholed_path()}"]
    if not sk.have_ipv6():
        lines.append("IPv6: ::1 unavailable, IPv6 tests will be skipped")
    return lines


def _need_binary():
    p = sk.sinkholed_path()
    if not p.exists():
        pytest.fail(f"sinkholed not built: {p} does not exist (build it, or set SINKHOLED)", pytrace=False)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    _need_binary()
    d = tmp_path_factory.mktemp("sinkholed-main")
    sk.copy_zones(d)
    srv = sk.SinkServer(d)
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


@pytest.fixture
def make_server(tmp_path):
    """make_server(zones=None, zone_files=None, start=True, **conf) -> SinkServer in its own folder."""
    _need_binary()
    started = []

    def factory(zones=None, zone_files=None, start=True, subdir=None, **conf):
        d = tmp_path / (subdir or f"srv{len(started)}")
        sk.copy_zones(d, zone_files)
        srv = sk.SinkServer(d, zones=zones, **conf)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in started:
        srv.kill()


def _family_ok(family):
    if family == 6 and not sk.have_ipv6():
        msg = "IPv6 unavailable: cannot bind ::1"
        print(f"SKIP: {msg}", file=sys.stderr)
        pytest.skip(msg)


VIAS = [("udp", 4), ("tcp", 4), ("udp", 6), ("tcp", 6)]


@pytest.fixture(params=VIAS, ids=[f"{t}{f}" for t, f in VIAS])
def via(request):
    transport, family = request.param
    _family_ok(family)
    return transport, family


@pytest.fixture(params=[4, 6], ids=["v4", "v6"])
def family(request):
    _family_ok(request.param)
    return request.param


@pytest.fixture(params=["udp", "tcp"])
def transport(request):
    return request.param
