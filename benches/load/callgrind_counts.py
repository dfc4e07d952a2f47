#!/usr/bin/env python3
"""Reads one callgrind dump (written with --compress-strings=no or not) and prints
`instructions allocations reallocations`: the total Ir and the number of calls into the
allocators (mimalloc's entry points that Rust's MiMalloc calls, glibc's malloc family for C code,
nginx and a system-allocator build). With `--top N [--per R]` it prints the N functions with the
most self instructions instead (divided by R, e.g. per request). Used by profile.sh: callgrind
counts are repeatable where wall-clock time on a shared box is not."""
import argparse
import collections
import re

# The bottom entry points only (`__rust_alloc` calls one of these: counting both would count twice).
ALLOC = {"mi_malloc_aligned", "mi_zalloc_aligned", "malloc", "calloc", "posix_memalign", "memalign",
         "aligned_alloc"}
REALLOC = {"mi_realloc_aligned", "realloc"}

parser = argparse.ArgumentParser()
parser.add_argument("dump")
parser.add_argument("--top", type=int, default=0)
parser.add_argument("--per", type=float, default=1.0)
parser.add_argument("--callers", help="print who calls this function, by inclusive cost")
parser.add_argument("--inclusive", help="print functions matching this regex by inclusive cost")
args = parser.parse_args()

names, total, allocs, reallocs = {}, 0, 0, 0
current, callee, after_call = "", None, False
self_cost = collections.Counter()
callers = collections.Counter()
inclusive = collections.Counter()
name_re = re.compile(r"^(c?fn)=(?:\((\d+)\))?\s*(.*)$")
for line in open(args.dump, encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    if not line:
        continue
    first = line[0]
    if first.isdigit() or first in "+-*":
        if after_call:
            after_call = False  # the inclusive cost of the call just named: not self cost
            parts = line.split()
            if len(parts) > 1:
                inclusive[current] += int(parts[1])
                if args.callers and callee.split("'")[0] == args.callers:
                    callers[current] += int(parts[1])
        else:
            parts = line.split()
            if len(parts) > 1:
                self_cost[current] += int(parts[1])
                inclusive[current] += int(parts[1])
        continue
    m = name_re.match(line)
    if m:
        kind, ident, name = m.groups()
        if ident is not None:
            if name:
                names[ident] = name
            name = names.get(ident, ident)
        if kind == "fn":
            current = name
        else:
            callee = name
    elif line.startswith("calls=") and callee is not None:
        after_call = True
        n = int(line[6:].split()[0])
        base = callee.split("'")[0]
        if base in ALLOC:
            allocs += n
        elif base in REALLOC:
            reallocs += n
    elif line.startswith(("totals:", "summary:")):
        total = max(total, int(line.split()[1]))
if args.inclusive:
    pattern = re.compile(args.inclusive)
    shown = [(n, c) for n, c in inclusive.most_common() if pattern.search(n)]
    for name, cost in shown[: args.top or 40]:
        print(f"{cost / args.per:10.0f}  {name[:170]}")
elif args.callers:
    for name, cost in callers.most_common(args.top or 20):
        print(f"{cost / args.per:10.0f}  {name[:170]}")
elif args.top:
    for name, cost in self_cost.most_common(args.top):
        print(f"{cost / args.per:10.0f} {100.0 * cost / max(total, 1):5.1f}%  {name[:150]}")
else:
    print(total, allocs, reallocs)
