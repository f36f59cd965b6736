"""Print the shortest instruction path from '# LLVM-MCA-BEGIN fn' to its END marker in a g++ .s
file: the fast path of a kernel whose rare cases branch away (sigmoid, silu and AVX2 gelu check
their range once per vector). Usage: fast_path.py file.s fn"""

import re
import sys
from functools import lru_cache

sys.setrecursionlimit(10000)
lines = open(sys.argv[1]).read().split("\n")
fn = sys.argv[2]
labels = {}
for i, l in enumerate(lines):
    m = re.match(r"^(\.L\w+):", l)
    if m:
        labels[m.group(1)] = i
start = next(i for i, l in enumerate(lines) if l.strip() == f"# LLVM-MCA-BEGIN {fn}")


def is_instr(l):
    s = l.strip()
    return s and not s.startswith("#") and not s.startswith(".") and not re.match(r"^[\w.]+:", s)


@lru_cache(None)
def best(i):
    # returns tuple of instruction lines on the shortest path from line i to the END marker
    out = []
    while True:
        l = lines[i]
        s = l.strip()
        if s == f"# LLVM-MCA-END {fn}":
            return tuple(out)
        if is_instr(l):
            op = s.split()[0]
            if op == "jmp":
                return tuple(out) + best(labels[s.split()[1]])
            if op.startswith("j"):
                a = best(i + 1)
                b = best(labels[s.split()[1]])
                return tuple(out) + (s,) + (a if len(a) <= len(b) else b)
            out.append(s)
        i += 1


print("\n".join(best(start + 1)))
