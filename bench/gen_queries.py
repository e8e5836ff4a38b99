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
  seized.txt     not written yet: the seized-list mix comes with issue 4 (lists of seized domains).
                 The hook is gen_seized() below and the 'seized' mix in run.py, skipped while the file
                 is absent.
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


def gen_seized(r, n):
    """Hook for issue 4: names below the seized domains of a generated list (not yet built)."""
    raise NotImplementedError('the seized-list mix comes with issue 4')


MIXES = {'wildcard': gen_wildcard, 'nxdomain': gen_nxdomain}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--lines', type=int, default=100000)
    ap.add_argument('--seed', type=int, default=20261121)
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'queries'))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for i, (name, gen) in enumerate(sorted(MIXES.items())):
        r = random.Random(a.seed * 100 + i)
        path = os.path.join(a.out, name + '.txt')
        with open(path + '.tmp', 'w') as f:
            for line in gen(r, a.lines):
                f.write(line + '\n')
        os.replace(path + '.tmp', path)
        print(f'{path}: {a.lines} queries')


if __name__ == '__main__':
    main()
