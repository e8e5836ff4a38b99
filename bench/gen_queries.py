#!/usr/bin/python3
"""gen_queries.py: write the bench query mixes (dnsperf data files, "name TYPE" per line) to bench/queries/.

  bench/gen_queries.py [--lines 100000] [--seed 20261121] [--out bench/queries]

Deterministic: the same seed and line count give byte-identical files, so every server and every run
sees the same queries. bench/run.py calls this when a file is missing or older than this script.

Files:
  wildcard.txt   random subdomains of the sinkhole zone aitism.net (DGA-like labels, 1-2 labels, some
                 mixed case); 85% A, 10% AAAA, 5% MX/TXT (NOERROR without data at the wildcard).
                 Also used, with different dnsperf flags, by the edns-ecs and tcp mixes.
  nxdomain.txt   NXDOMAIN/REFUSED-heavy: 60% random names under nxtest.example (a zone without a
                 wildcard: NXDOMAIN), 35% random names outside every zone (REFUSED), 5% names that
                 exist in nxtest.example (NOERROR).
  seized.list    10,000 seized domains (issue 4), DGA-like (8-20 of [a-z0-9] and a TLD among
                 com/net/org/info/biz/ru/cn), one per line: the list run.py's sinkholed loads with
                 zones/seized-template.zone, and Knot DNS and NSD as one zone file per domain.
  seized.txt     names at and below the domains of seized.list, all NOERROR: 30% at the apex
                 (A/AAAA/MX/TXT), 15% www (A/AAAA), 55% below (wildcard; a fifth of them two labels
                 down), A/AAAA mostly; 5% of the names, and a tenth of the labels below,
                 in randomised case (0x20).
bench/seized.py uses seized_domains() and seized_queries() for its lists of millions.
"""
import argparse
import os
import random

ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'
TLDS = ['com', 'net', 'org', 'info', 'ru', 'cn', 'top', 'xyz', 'de', 'uk']


def label(r, lo=6, hi=20):
    s = ''.join(r.choice(ALNUM) for _ in range(r.randint(lo, hi)))
    if r.random() < 0.1:                      # some clients randomise case (0x20); keep a few
        s = ''.join(c.upper() if r.random() < 0.5 else c for c in s)
    return s


def qtype(r):
    x = r.random()
    return 'A' if x < 0.85 else 'AAAA' if x < 0.95 else 'MX' if x < 0.975 else 'TXT'


def gen_wildcard(r, n):
    for _ in range(n):
        name = label(r) + '.aitism.net'
        if r.random() < 0.2:
            name = label(r, 3, 10) + '.' + name
        yield f'{name} {qtype(r)}'


def gen_nxdomain(r, n):
    for _ in range(n):
        x = r.random()
        if x < 0.60:
            yield f'{label(r)}.nxtest.example {qtype(r)}'
        elif x < 0.95:
            yield f'{label(r)}.{r.choice(TLDS)} {qtype(r)}'
        else:
            yield f'{r.choice(["www.nxtest.example", "mail.nxtest.example", "nxtest.example"])} A'


SEIZED_TLDS = ['com', 'net', 'org', 'info', 'biz', 'ru', 'cn']
SEIZED_DOMAINS = 10000          # the run.py seized mix's list


def seized_domains(seed, n):
    """n unique DGA-like domains, 8-20 random [a-z0-9] and a TLD of SEIZED_TLDS, in a random order.

    Deterministic for (seed, n) under one Python version. Built from blocks of random bytes rather
    than a random.choice() per character: ten million names take seconds, not minutes."""
    r = random.Random(seed)
    # 252 = 7 * 36: bytes >= 252 are dropped, so each character is uniform over the 36
    table = bytes(ALNUM[i % 36].encode()[0] if i < 252 else 0 for i in range(256))
    out, seen = [], set()
    while len(out) < n:
        need = n - len(out)
        chars = r.randbytes(need * 16).translate(table).replace(b'\0', b'').decode()
        meta = r.randbytes(2 * need)
        pos = 0
        for i in range(need):
            ln = 8 + meta[2 * i] % 13
            if pos + ln > len(chars):
                break
            name = chars[pos:pos + ln] + '.' + SEIZED_TLDS[meta[2 * i + 1] % len(SEIZED_TLDS)]
            pos += ln
            if name not in seen:
                seen.add(name)
                out.append(name)
    return out


def write_list(path, domains, header=''):
    """A seized list: '#' comment lines, then one domain per line (written whole, then renamed)."""
    with open(path + '.tmp', 'w') as f:
        if header:
            f.write(''.join(f'# {ln}\n' for ln in header.splitlines()))
        f.write('\n'.join(domains))
        f.write('\n')
    os.replace(path + '.tmp', path)


def seized_queries(r, domains, n):
    """n dnsperf lines for names at and below the given domains; every answer is NOERROR."""
    for _ in range(n):
        d = r.choice(domains)
        x = r.random()
        if x < 0.30:
            y = r.random()
            name, t = d, 'A' if y < 0.6 else 'AAAA' if y < 0.85 else 'MX' if y < 0.95 else 'TXT'
        elif x < 0.45:
            name, t = 'www.' + d, 'A' if r.random() < 0.8 else 'AAAA'
        else:
            name = label(r, 3, 12) + '.' + d
            if r.random() < 0.2:
                # not below www (it exists: the wildcard does not cover x.www.D, RFC 4592)
                while name.split('.', 1)[0].lower() == 'www':
                    name = label(r, 3, 12) + '.' + d
                name = label(r, 3, 8) + '.' + name
            t = 'A' if r.random() < 0.85 else 'AAAA'
        if r.random() < 0.05:
            name = ''.join(c.upper() if r.random() < 0.5 else c for c in name)
        yield f'{name} {t}'


def gen_seized(r, n, out, seed):
    """Writes out/seized.list (SEIZED_DOMAINS domains) and yields n query lines under them."""
    domains = seized_domains(seed, SEIZED_DOMAINS)
    write_list(os.path.join(out, 'seized.list'), domains,
               f'bench/gen_queries.py: {SEIZED_DOMAINS} seized domains, seed {seed} (run.py seized mix)')
    return seized_queries(r, domains, n)


MIXES = {'wildcard': gen_wildcard, 'nxdomain': gen_nxdomain}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--lines', type=int, default=100000)
    ap.add_argument('--seed', type=int, default=20261121)
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'queries'))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    # seeds by position in this list: a new mix goes at the end, so the older files stay the same
    gens = [(name, gen) for name, gen in sorted(MIXES.items())]
    gens.append(('seized', lambda r, n: gen_seized(r, n, a.out, a.seed * 100 + 99)))
    for i, (name, gen) in enumerate(gens):
        r = random.Random(a.seed * 100 + i)
        path = os.path.join(a.out, name + '.txt')
        with open(path + '.tmp', 'w') as f:
            for line in gen(r, a.lines):
                f.write(line + '\n')
        os.replace(path + '.tmp', path)
        print(f'{path}: {a.lines} queries')


if __name__ == '__main__':
    main()
