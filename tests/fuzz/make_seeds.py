#!/usr/bin/python3
"""make_seeds.py -- write the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

    tests/fuzz/make_seeds.py            (re)write corpus/query, zone, list and conf

Seeds are small, meaningful inputs that reach each part of a parser early (libFuzzer mutates from
them); the files written are kept in git, so this is only run again when a seed is added. The
corpus of fuzz_respond (hand-made queries) is not touched. Standard library only.
"""
import shutil
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS = HERE / "corpus"


# -- queries (fuzz_query) -------------------------------------------------------------------------

def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def question(qname="www.fuzz.example", qtype=1, qclass=1):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def option(code, data):
    return struct.pack("!HH", code, len(data)) + data


def opt(options=b"", payload=1232, version=0, do=False, owner=b"\0"):
    ttl = (version << 16) | (0x8000 if do else 0)
    return owner + struct.pack("!HHIH", 41, payload, ttl, len(options)) + options


def ecs(family, source, addr):
    return option(8, struct.pack("!HBB", family, source, 0) + addr)


def tsig(key="key.example", alg="hmac-sha256", mac=b"\x11" * 32, orig_id=0x1234):
    rdata = (name(alg) + struct.pack("!HI", 0, 1700000000) + struct.pack("!H", 300) +
             struct.pack("!H", len(mac)) + mac + struct.pack("!HHH", orig_id, 0, 0))
    return name(key) + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata


def rr(owner, rtype, rdata, ttl=300):
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def queries():
    q = question()
    cookie = bytes(range(1, 9))
    return {
        "plain-a": header() + q,
        "edns-do": header(ar=1) + q + opt(do=True),
        "ecs-v4-24": header(ar=1) + q + opt(ecs(1, 24, bytes([198, 51, 100]))),
        "ecs-v6-56": header(ar=1) + q + opt(ecs(2, 56, bytes.fromhex("20010db8abcdef"))),
        "ecs-v4-0": header(ar=1) + q + opt(ecs(1, 0, b"")),
        "ecs-spare-bits": header(ar=1) + q + opt(ecs(1, 23, bytes([198, 51, 101]))),
        "cookie-client": header(ar=1) + q + opt(option(10, cookie)),
        "cookie-server": header(ar=1) + q + opt(option(10, cookie + bytes(range(16)))),
        "cookie-bad-len": header(ar=1) + q + opt(option(10, cookie[:5])),
        "nsid": header(ar=1) + q + opt(option(3, b"")),
        "all-options": header(ar=1) + q + opt(option(3, b"") + ecs(1, 32, bytes([192, 0, 2, 1])) +
                                              option(10, cookie) + option(65001, b"unknown") +
                                              option(12, b"\0" * 16), do=True),
        "unknown-option": header(ar=1) + q + opt(option(15, b"\0\x12")),
        "two-opts": header(ar=2) + q + opt() + opt(option(3, b"")),
        "opt-in-answer": header(an=1) + q + opt(),
        "opt-not-root": header(ar=1) + q + opt(owner=name("x")),
        "opt-option-overrun": header(ar=1) + q + opt()[:-2] + struct.pack("!H", 8) +
                              struct.pack("!HH", 8, 40) + b"\0\1\x18\0",
        "edns-version-1": header(ar=1) + q + opt(version=1),
        "tsig": header(ar=2) + q + opt() + tsig(),
        "tsig-compressed-key": header(ar=1) + q + b"\xc0\x0c" + tsig()[len(name("key.example")):],
        "notify": header(flags=0x2000) + question("fuzz.example", 6),
        "opcode-update": header(flags=0x2800) + q,
        "sections-compressed": header(an=1, ns=1, ar=1) + q +
                               rr(b"\xc0\x0c", 1, bytes([192, 0, 2, 1])) +
                               rr(b"\x03sub\xc0\x0c", 2, b"\x02ns\xc0\x0c") + opt(),
        "pointer-loop": header(an=1) + q + b"\xc0\x1e" + struct.pack("!HHIH", 1, 1, 0, 0),
        "qdcount-2": header(qd=2) + q + q,
        "qname-no-type": header() + name("version.bind") + b"\0\x10",
        "qname-pointer": header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
        "qname-max": header() + question(".".join(["a" * 63] * 3 + ["b" * 61]), 16),
        "trailing-bytes": header() + q + b"\0\0\0",
        "response": header(flags=0x8000) + q,
        "short": header()[:11],
        "chaos-version": header() + question("version.bind", 16, 3),
        "any-class-any": header() + question("fuzz.example", 255, 255),
    }


# -- zone files (fuzz_zone: first line is the config's name:) --------------------------------------

ZONE_EXTRA = {
    "types": """fuzz.example.
$TTL 300
@ SOA ns9.sinkhole.example. hostmaster.sinkhole.example. 1 3600 900 1209600 60
@ NS ns9.sinkhole.example.
@ MX 10 mail
@ MX \\# 3 000a00
mx2 MX \\# 5 000a026d7800
@ CAA 0 issue "ca.example"
@ TXT "a" "b;c" "quote\\"d"
_sip._tcp SRV 0 5 5060 mail
srv2 SRV \\# 6 000000000000
naptr NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" .
tlsa TLSA 3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
hinfo HINFO "PC" "Linux"
rp RP hostmaster.sinkhole.example. txt.fuzz.example.
ptr PTR www.fuzz.example.
gen TYPE65000 \\# 4 01020304
soa2 SOA \\# 0
mail A 192.0.2.25
mail AAAA 2001:db8::25
""",
    "include": """
$ORIGIN inc.example.
@ SOA ns hostmaster 1 3600 900 1209600 60 (
  )
  NS ns
$INCLUDE inc1 sub
$INCLUDE "inc2"
%%
$TTL 60
@ A 192.0.2.7
www CNAME @
%%
ns A 192.0.2.53
$INCLUDE inc1
""",
    "template": """-template
$TTL 600
@ SOA ns9.sinkhole.example. hostmaster.sinkhole.example. 1 3600 900 1209600 60
  NS ns9.sinkhole.example.
  A 192.0.2.1
* A 192.0.2.2
www CNAME mail.sinkhole.example.
mx MX 10 mail
""",
    "deleg": """deleg.example
@ 3600 IN SOA ns hostmaster 2024 7200 3600 1209600 300
@ NS ns
ns A 192.0.2.53
kid NS ns.kid
kid NS ns.elsewhere.example.
kid DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.kid A 192.0.2.54
ns.kid AAAA 2001:db8::54
deep.below.kid A 192.0.2.55
*.wild A 192.0.2.9
*.wild MX 10 mail.wild
*.cn CNAME *.wild
loop CNAME loop
""",
    "errors": """err.example.
@ SOA ns hostmaster 1 2 3 4 5
@ SOA ns hostmaster 1 2 3 4 5
both CNAME x
both A 192.0.2.1
two CNAME a
two CNAME b
dup A 192.0.2.1
dup A 192.0.2.1
ttl 10 A 192.0.2.1
ttl 20 A 192.0.2.2
outside.example. A 192.0.2.1
ch CH TXT "x"
bad A 999.1.1.1
) stray
"unclosed
""",
}


def zones():
    seeds = {"fuzz": "\n" + (HERE / "fuzz.zone").read_text()}
    seeds.update(ZONE_EXTRA)
    for f in sorted((REPO / "tests" / "unit" / "data" / "db").glob("*.zone")):
        if "$INCLUDE" not in f.read_text():
            seeds["unit-" + f.stem] = ("named.test\n" if f.stem == "named" else "\n") + f.read_text()
    for f in ("sinkhole.test.zone", "other.test.zone"):
        seeds["it-" + f.split(".")[0]] = "\n" + (REPO / "tests" / "integration" / "zones" / f).read_text()
    seeds["tpl-sinkhole"] = "-template\n" + (REPO / "zones" / "templates" / "sinkhole.zone").read_text()
    return seeds


# -- seized lists (fuzz_list) ----------------------------------------------------------------------

def lists():
    long_name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57]) + ".example"
    return {
        "plain": "seized-a.example\nseized-b.example.\nSub.Seized.Example\n",
        "comments": "# a list\n\n   \nseized.example   # trailing comment\n\t# indented comment\nx.test\n",
        "crlf": "seized.example\r\nother.example\r\n\r\n",
        "overlaps": "fuzz.example\nin.fuzz.example\nwww.fuzz.example\nseized.example\nseized.example\n",
        "two-lists": "one.example\nshared.example\n#--list2\nshared.example\ntwo.example\n",
        "invalid": "ok.example\n-bad.example\nbad-.example\nsingle\nsp ace.example\nok2.example\n"
                   "under_score.example\nx..example\n",
        "mostly-invalid": "a b\nc d\ne f\nok.example\n",
        "long": long_name + "\n" + "x" * 64 + ".example\n" + "a." * 126 + "b\n",
        "no-newline": "last.example",
        "warnings": "".join(f"fuzz.example\n" for _ in range(25)) + "fine.example\n",
    }


# -- configs (fuzz_conf) ---------------------------------------------------------------------------

def confs():
    seeds = {}
    data = REPO / "tests" / "unit" / "data" / "conf"
    for f in ("full", "minimal", "names", "telemetry", "telemetry_unix", "version_hidden",
              "version_quoted_no", "bad_many", "bad_seized", "bad_dnstap", "bad_syntax_flow",
              "bad_tags_not_map", "bad_listen_forms", "bad_cpus"):
        seeds[f] = (data / (f + ".yaml")).read_bytes()
    seeds["example"] = (REPO / "zones" / "example.yml").read_bytes()
    seeds["anchors"] = b"""server: &s
  listen: ["127.0.0.1@5353", "[::1]@5353"]
  workers: 2
zones:
  - &z {file: a.zone, name: a.example, tags: {case: "1"}}
  - *z
telemetry: {jsonl: {path: /tmp/x.jsonl, rotate_mb: 0}, dnstap: {tcp: "127.0.0.1@6000", messages: queries}}
"""
    return seeds


def write(target, seeds):
    d = CORPUS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for key, data in seeds.items():
        (d / key).write_bytes(data.encode() if isinstance(data, str) else data)
    print(f"{target}: {len(seeds)} seeds in {d.relative_to(REPO)}")


def main():
    write("query", queries())
    write("zone", zones())
    write("list", lists())
    write("conf", confs())


if __name__ == "__main__":
    main()
