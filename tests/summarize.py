#!/usr/bin/python3
"""summarize.py OUTDIR -- count results: TAP assertions of the unit tests (from meson's test log),
pytest's JUnit XML, and one result per fuzz target. Prints 'N passed, N failed, N skipped' and exits 1
when anything failed or nothing ran."""
import glob, json, os, re, sys
import xml.etree.ElementTree as ET

out = sys.argv[1]
passed = failed = skipped = 0

log = os.path.join(out, 'gcc', 'meson-logs', 'testlog.json')
if os.path.exists(log):
    for line in open(log):
        t = json.loads(line)
        oks = len(re.findall(r'^ok \d+', t.get('stdout', ''), re.M))
        bad = len(re.findall(r'^not ok \d+', t.get('stdout', ''), re.M))
        passed += oks
        failed += bad
        # an executable that crashed or exited non-zero without a failed assertion still fails
        if t.get('result') not in ('OK', 'SKIP', 'EXPECTEDFAIL') and bad == 0:
            failed += 1
else:
    failed += 1
    print('no unit test log at', log)

for f in glob.glob(os.path.join(out, '*.xml')):
    root = ET.parse(f).getroot()
    for suite in ([root] if root.tag == 'testsuite' else root.iter('testsuite')):
        n = int(suite.get('tests', 0))
        fl = int(suite.get('failures', 0)) + int(suite.get('errors', 0))
        sk = int(suite.get('skipped', 0))
        passed += n - fl - sk
        failed += fl
        skipped += sk

for f in glob.glob(os.path.join(out, '*.result')):
    if open(f).read().strip() == 'pass':
        passed += 1
    else:
        failed += 1

line = f'{passed} passed, {failed} failed'
if skipped:
    line += f', {skipped} skipped'
print(line)
sys.exit(1 if failed or passed == 0 else 0)
