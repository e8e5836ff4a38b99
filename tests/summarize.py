#!/usr/bin/python3
"""summarize.py OUTDIR -- count results: TAP assertions of the unit tests (from meson's test log of
each build folder that ran them: gcc, asan), pytest's JUnit XML files (integration.xml,
integration-asan.xml), one result per fuzz target (fuzz_<name>.result) and per regression input
(regress-<target>-<file>.result). Prints one line per group, then the closing
'N passed, N failed, N skipped', and exits 1 when anything failed or nothing ran."""
import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

out = sys.argv[1]
groups = {}   # name -> [passed, failed, skipped]


def add(group, passed=0, failed=0, skipped=0):
    g = groups.setdefault(group, [0, 0, 0])
    g[0] += passed
    g[1] += failed
    g[2] += skipped


def unit(build):
    log = os.path.join(out, build, 'meson-logs', 'testlog.json')
    if not os.path.exists(log):
        return False
    for line in open(log):
        t = json.loads(line)
        oks = len(re.findall(r'^ok \d+', t.get('stdout', ''), re.M))
        bad = len(re.findall(r'^not ok \d+', t.get('stdout', ''), re.M))
        add(f'unit ({build})', oks, bad)
        # an executable that crashed or exited non-zero without a failed assertion still fails
        if t.get('result') not in ('OK', 'SKIP', 'EXPECTEDFAIL') and bad == 0:
            add(f'unit ({build})', failed=1)
            print(f'unit ({build}): {t.get("name")} ended {t.get("result")}')
    return True


if not unit('gcc'):
    add('unit (gcc)', failed=1)
    print('no unit test log at', os.path.join(out, 'gcc', 'meson-logs', 'testlog.json'))
unit('asan')

for f in sorted(glob.glob(os.path.join(out, '*.xml'))):
    root = ET.parse(f).getroot()
    for suite in ([root] if root.tag == 'testsuite' else root.iter('testsuite')):
        n = int(suite.get('tests', 0))
        fl = int(suite.get('failures', 0)) + int(suite.get('errors', 0))
        sk = int(suite.get('skipped', 0))
        add(suite.get('name') or os.path.basename(f), n - fl - sk, fl, sk)

for f in sorted(glob.glob(os.path.join(out, '*.result'))):
    base = os.path.basename(f)
    group = 'fuzz regression inputs' if base.startswith('regress-') else 'fuzz runs'
    if open(f).read().strip() == 'pass':
        add(group, 1)
    else:
        add(group, failed=1)
        print(f'{group}: {base[:-len(".result")]} failed')

passed = failed = skipped = 0
for name, (p, fl, sk) in groups.items():
    print(f'  {name}: {p} passed, {fl} failed' + (f', {sk} skipped' if sk else ''))
    passed, failed, skipped = passed + p, failed + fl, skipped + sk

line = f'{passed} passed, {failed} failed'
if skipped:
    line += f', {skipped} skipped'
print(line)
sys.exit(1 if failed or passed == 0 else 0)
