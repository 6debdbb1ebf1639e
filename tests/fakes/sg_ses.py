#!/usr/bin/env python3
"""A stand-in for sg3_utils' sg_ses in the linux backend's tests.

Usage (as the wrapper the tests write calls it): sg_ses.py STATE_DIR ARGS...

The enclosure behind /dev/sgN is the verbatim `sg_ses --join` output kept in
STATE_DIR/sgN.join.txt (copied from tests/fixtures/sg_ses). `--join` prints
it. `--set=ident|fault` and `--clear=…` with `--dev-slot-num=N` or
`--index=T,E` change that element's Ident or Fault reqstd bit in the file,
as a real enclosure would then report. Every call is appended to
STATE_DIR/calls.log. Anything else exits 1 with a message, as sg_ses does.
"""
import os
import re
import sys

state, args = sys.argv[1], sys.argv[2:]
with open(os.path.join(state, "calls.log"), "a") as log:
    log.write(" ".join(args) + "\n")

node = args[-1] if args else ""
path = os.path.join(state, os.path.basename(node) + ".join.txt")
if not node.startswith("/") or not os.path.exists(path):
    print(f"sg_ses: error opening file: {node}: No such file or directory", file=sys.stderr)
    sys.exit(15)
text = open(path).read()
opts = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in args[:-1])

if "join" in opts:
    sys.stdout.write(text)
    sys.exit(0)

action = "set" if "set" in opts else "clear" if "clear" in opts else None
if action is None or opts[action] not in ("ident", "fault"):
    print("sg_ses: this fake knows --join, --set=ident|fault and --clear=ident|fault", file=sys.stderr)
    sys.exit(1)
bit = {"ident": "Ident", "fault": "Fault reqstd"}[opts[action]]

# Split into element blocks at lines that start at the left margin.
lines = text.splitlines(keepends=True)
starts = [i for i, l in enumerate(lines) if re.match(r"(\S.*)?\[\d+,-?\d+\]  Element type: ", l)]
starts.append(len(lines))
target = None
for a, b in zip(starts, starts[1:]):
    block = "".join(lines[a:b])
    head = re.search(r"\[(\d+),(-?\d+)\]", lines[a])
    if "dev-slot-num" in opts:
        m = re.search(r"device slot number: (\d+)", block)
        if m and m.group(1) == opts["dev-slot-num"]:
            target = (a, b)
    elif "index" in opts and f"{head.group(1)},{head.group(2)}" == opts["index"]:
        target = (a, b)
if target is None:
    print("sg_ses: no element found for that slot", file=sys.stderr)
    sys.exit(1)
a, b = target
value = "1" if action == "set" else "0"
for i in range(a, b):
    lines[i] = re.sub(rf"\b{bit}=\d", f"{bit}={value}", lines[i])
open(path, "w").write("".join(lines))
