#!/usr/bin/python3
"""mkmmdb.py -- write a small MaxMind DB file (binary format 2.0) from a JSON description.

Standard library only. For test databases of a few networks; not a replacement for MaxMind's
writers (no IPv4 aliases at ::ffff:0:0/96 or 2002::/16, no merging of equal neighbours).

usage: tools/mkmmdb.py SPEC.json OUT.mmdb

SPEC is a JSON object:
  database_type  "city ipvAll", "GeoLite2-City", ...          (required)
  ip_version     4 or 6                                        (default 6)
  record_size    24, 28 or 32                                  (default 24)
  build_epoch    seconds since 1970, fixed so output is reproducible; libmaxminddb refuses 0
                 (default 1700000000)
  description    {"en": "..."}                                 (default {})
  languages      ["en", ...]                                   (default [])
  networks       [["89.160.20.112/28", RECORD], ["2001:218::/32", RECORD], ...]

An IPv4 network in an IPv6 database goes where libmaxminddb looks IPv4 addresses up: ::a.b.c.d/96+n.
A longer prefix inside a shorter one wins for its addresses, whatever the order of the list.
RECORD values map to MaxMind DB types: string -> utf8_string, float -> double, int -> uint32
(uint64 when larger, int32 when negative), true/false -> boolean, object -> map, list -> array;
an object with one "$type" key names a type: {"$float": 58.4167} (32-bit float), {"$double": x},
{"$uint16": n}, {"$uint32": n}, {"$uint64": n}, {"$uint128": n}, {"$int32": n}, {"$bytes": "hex"}.
Identical records are stored once, and a string met again is stored as a pointer to its first copy,
as MaxMind's writers do.
"""
import ipaddress
import json
import os
import struct
import sys

T_POINTER, T_UTF8, T_DOUBLE, T_BYTES, T_UINT16, T_UINT32, T_MAP = 1, 2, 3, 4, 5, 6, 7
T_INT32, T_UINT64, T_UINT128, T_ARRAY, T_BOOLEAN, T_FLOAT = 8, 9, 10, 11, 14, 15
METADATA_MARKER = b'\xab\xcd\xefMaxMind.com'


def control(t, size):
    """Control byte, extended type byte, then the size's extra bytes (spec: 'Data Field Format')."""
    first, ext = (0, bytes([t - 7])) if t > 7 else (t << 5, b'')
    if size < 29:
        return bytes([first | size]) + ext
    if size < 29 + 256:
        return bytes([first | 29]) + ext + bytes([size - 29])
    if size < 285 + 65536:
        return bytes([first | 30]) + ext + (size - 285).to_bytes(2, 'big')
    return bytes([first | 31]) + ext + (size - 65821).to_bytes(3, 'big')


def pointer(off):
    if off < 2048:
        return bytes([0x20 | off >> 8, off & 0xff])
    if off < 2048 + (1 << 19):
        o = off - 2048
        return bytes([0x28 | o >> 16]) + (o & 0xffff).to_bytes(2, 'big')
    if off < 526336 + (1 << 27):
        o = off - 526336
        return bytes([0x30 | o >> 24]) + (o & 0xffffff).to_bytes(3, 'big')
    return bytes([0x38]) + off.to_bytes(4, 'big')


class Encoder:
    """Appends values to one section; with share=True, repeated strings become pointers."""

    def __init__(self, share):
        self.out = bytearray()
        self.strings = {} if share else None

    def uint(self, t, v, width):
        if not 0 <= v < 1 << (8 * width):
            raise ValueError('%d does not fit type %d' % (v, t))
        b = v.to_bytes((v.bit_length() + 7) // 8, 'big')
        self.out += control(t, len(b)) + b

    def string(self, s):
        b = s.encode('utf-8')
        if self.strings is not None and s in self.strings:
            self.out += pointer(self.strings[s])
            return
        if self.strings is not None and len(b) >= 3:
            self.strings[s] = len(self.out)
        self.out += control(T_UTF8, len(b)) + b

    def value(self, v):
        if isinstance(v, bool):
            self.out += control(T_BOOLEAN, int(v))
        elif isinstance(v, str):
            self.string(v)
        elif isinstance(v, float):
            self.out += control(T_DOUBLE, 8) + struct.pack('>d', v)
        elif isinstance(v, int):
            if v < 0:
                self.out += control(T_INT32, 4) + struct.pack('>i', v)
            else:
                self.uint(T_UINT32 if v < 1 << 32 else T_UINT64, v, 8)
        elif isinstance(v, dict) and len(v) == 1 and next(iter(v)).startswith('$'):
            self.typed(*next(iter(v.items())))
        elif isinstance(v, dict):
            self.out += control(T_MAP, len(v))
            for k, x in v.items():
                self.string(k)
                self.value(x)
        elif isinstance(v, list):
            self.out += control(T_ARRAY, len(v))
            for x in v:
                self.value(x)
        else:
            raise TypeError('cannot encode %r' % (v,))

    def typed(self, name, v):
        if name == '$float':
            self.out += control(T_FLOAT, 4) + struct.pack('>f', v)
        elif name == '$double':
            self.out += control(T_DOUBLE, 8) + struct.pack('>d', v)
        elif name == '$int32':
            self.out += control(T_INT32, 4) + struct.pack('>i', v)
        elif name == '$bytes':
            b = bytes.fromhex(v)
            self.out += control(T_BYTES, len(b)) + b
        elif name in ('$uint16', '$uint32', '$uint64', '$uint128'):
            t = {'$uint16': T_UINT16, '$uint32': T_UINT32, '$uint64': T_UINT64, '$uint128': T_UINT128}[name]
            self.uint(t, v, {T_UINT16: 2, T_UINT32: 4, T_UINT64: 8, T_UINT128: 16}[t])
        else:
            raise ValueError('unknown type %s' % name)


def network_bits(text, ip_version):
    """The network as (integer of its address bits in the tree, prefix length in the tree)."""
    net = ipaddress.ip_network(text, strict=True)
    if net.version == 6 and ip_version == 4:
        raise ValueError('%s: an IPv6 network in an IPv4 database' % text)
    if net.prefixlen == 0:
        raise ValueError('%s: a /0 network is not supported' % text)
    shift = 96 if net.version == 4 and ip_version == 6 else 0
    return int(net.network_address), net.prefixlen + shift


def build_tree(networks, bits):
    """A binary trie: a node is [left, right]; a child is a node, None (empty) or ('data', offset)."""
    root = [None, None]
    seen = set()
    for addr, plen, leaf in sorted(networks, key=lambda n: n[1]):
        if (addr, plen) in seen:
            raise ValueError('network listed twice: %x/%d' % (addr, plen))
        seen.add((addr, plen))
        node = root
        for depth in range(plen):
            bit = addr >> (bits - 1 - depth) & 1
            if depth == plen - 1:
                node[bit] = leaf
            else:
                if not isinstance(node[bit], list):
                    node[bit] = [node[bit], node[bit]]   # push the shorter network's answer down
                node = node[bit]
    order, index = [root], {id(root): 0}          # breadth first: the root is node 0
    for node in order:
        for child in node:
            if isinstance(child, list):
                index[id(child)] = len(order)
                order.append(child)
    return order, index


def encode_record(left, right, record_size):
    if record_size == 24:
        return left.to_bytes(3, 'big') + right.to_bytes(3, 'big')
    if record_size == 28:
        return (left & 0xffffff).to_bytes(3, 'big') + bytes([(left >> 24) << 4 | right >> 24]) + \
            (right & 0xffffff).to_bytes(3, 'big')
    return left.to_bytes(4, 'big') + right.to_bytes(4, 'big')


def build(spec):
    ip_version = spec.get('ip_version', 6)
    record_size = spec.get('record_size', 24)
    if ip_version not in (4, 6) or record_size not in (24, 28, 32):
        raise ValueError('ip_version must be 4 or 6, record_size 24, 28 or 32')
    bits = 32 if ip_version == 4 else 128
    data, offsets, networks = Encoder(share=True), {}, []
    for text, record in spec['networks']:
        key = json.dumps(record, sort_keys=True)
        if key not in offsets:
            offsets[key] = len(data.out)
            data.value(record)
        networks.append(network_bits(text, ip_version) + (('data', offsets[key]),))
    order, index = build_tree(networks, bits)
    node_count = len(order)

    def ref(child):
        if child is None:
            return node_count
        if isinstance(child, list):
            return index[id(child)]
        return node_count + 16 + child[1]

    if node_count + 16 + len(data.out) >= 1 << record_size:
        raise ValueError('the data section is too large for %d-bit records' % record_size)
    tree = b''.join(encode_record(ref(n[0]), ref(n[1]), record_size) for n in order)
    meta = Encoder(share=False)
    meta.value({
        'binary_format_major_version': {'$uint16': 2},
        'binary_format_minor_version': {'$uint16': 0},
        'build_epoch': {'$uint64': spec.get('build_epoch', 1700000000)},
        'database_type': spec['database_type'],
        'description': spec.get('description', {}),
        'ip_version': {'$uint16': ip_version},
        'languages': spec.get('languages', []),
        'node_count': {'$uint32': node_count},
        'record_size': {'$uint16': record_size},
    })
    return tree + bytes(16) + bytes(data.out) + METADATA_MARKER + bytes(meta.out)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write('usage: %s SPEC.json OUT.mmdb\n' % argv[0])
        return 2
    with open(argv[1], encoding='utf-8') as f:
        spec = json.load(f)
    out = build(spec)
    tmp = argv[2] + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(out)
    # Renamed into place, as geoipupdate does: a running sinkholed may have the old file mapped.
    os.replace(tmp, argv[2])
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
