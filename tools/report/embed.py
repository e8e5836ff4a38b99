#!/usr/bin/env python3
"""embed.py -- turn report.html into a C header holding it as one string (build step, meson)."""
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    text = open(src, encoding="utf-8").read()
    out = ["/* generated from report.html by embed.py: do not edit */",
           "static const char rp_html_template[] ="]
    for line in text.splitlines(keepends=True):
        esc = line.encode("utf-8").decode("latin-1")
        esc = esc.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        # non-ASCII bytes as octal escapes, so the header is plain ASCII
        esc = "".join(c if ord(c) < 128 else "\\%03o" % ord(c) for c in esc)
        out.append('\t"' + esc + '"')
    out.append(";")
    open(dst, "w", encoding="ascii").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
