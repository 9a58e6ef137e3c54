#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""Kernel instructions per iteration, by function, from insnprof runs (tools/insnprof).

A run is a path prefix: RUN.tb is the plugin's output ("user N", then "pc ninsns execs" per
kernel translation block), RUN.out the guest command's output, which ends with the module's
lines of /proc/kallsyms. Kernel pcs are mapped with the kernel's System.map (the perf kernel has
no KASLR), module pcs with the run's own kallsyms lines.

  analyze.py --map System.map --base BASE -n N [--top K] RUN [RUN2]
      (RUN - BASE) / N per function; with RUN2, both side by side with the ratio RUN/RUN2.
  analyze.py --map System.map [--base BASE] -n N --fn SUBSTR RUN...
      the blocks of each function whose name contains SUBSTR: offset in the function, block
      length, executions per iteration (minus BASE's if given). For a module function, read
      against `objdump -d --disassemble=MANGLED kqueue.ko` (the mangled name is printed).
"""
import argparse
import bisect
import os
import re
import shutil
import signal
import subprocess
import sys

MAX_FN = 64 * 1024      # a pc further than this past the last symbol below it is [unknown]
USER = '[user]'
UNKNOWN = '[unknown]'


def read_symbols(system_map, run_out):
    """Sorted (addr, raw name, in module) of the kernel's and the run's module text symbols."""
    syms = []
    with open(system_map) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[1] in 'tTwW':
                syms.append((int(p[0], 16), p[2], False))
    with open(run_out) as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and p[3] == '[kqueue]' and p[1] in 'tT':
                syms.append((int(p[0], 16), p[2], True))
    if not any(m for _, _, m in syms):
        sys.exit(f'analyze: no [kqueue] symbols in {run_out} (the run failed?)')
    syms.sort()
    return syms


def read_blocks(tb):
    """(user instruction count, [(pc, ninsns, execs)])"""
    user, blocks = 0, []
    with open(tb) as f:
        for line in f:
            p = line.split()
            if p[0] == 'user':
                user = int(p[1])
            else:
                blocks.append((int(p[0], 16), int(p[1]), int(p[2])))
    return user, blocks


class Names:
    """Readable names for raw symbols: Rust v0 names demangled (c++filt, else a crude
    fallback), crate hashes and kqueue_main:: dropped, module paths shortened."""

    def __init__(self):
        self.cache = {}

    def prepare(self, raw_names):
        todo = sorted({n for n in raw_names if n.startswith('_R') and n not in self.cache})
        demangled = None
        if todo and shutil.which('c++filt'):
            r = subprocess.run(['c++filt'], input='\n'.join(todo) + '\n', capture_output=True, text=True)
            lines = r.stdout.split('\n')
            if r.returncode == 0 and len(lines) >= len(todo):
                demangled = lines[:len(todo)]
        for i, n in enumerate(todo):
            d = demangled[i] if demangled and demangled[i] != n else crude_demangle(n)
            self.cache[n] = shorten(d)

    def __call__(self, raw):
        return self.cache.get(raw, raw)


def crude_demangle(n):
    """The identifiers of a v0 name, last three joined by :: (when c++filt cannot)."""
    out, i = [], 0
    while i < len(n):
        if n[i].isdigit() and (i == 0 or not n[i - 1].isdigit()):
            j = i
            while j < len(n) and n[j].isdigit():
                j += 1
            w = n[j:j + int(n[i:j])].lstrip('_')
            if w[:1].isalpha() and w not in ('kqueue_main', 'kernel', 'core', 'alloc'):
                out.append(w)
            i = j + int(n[i:j])
        else:
            i += 1
    return '::'.join(out[-3:]) if out else n


def shorten(d):
    d = re.sub(r'\[[0-9a-f]+\]', '', d)             # crate disambiguators
    d = d.replace('kqueue_main::', '')
    d = d.replace('core::ptr::drop_in_place::<', 'drop_in_place<').replace('::<', '<')

    # A path to a type: keep the last module only for the leading (self) type, none elsewhere.
    def typ(m):
        return m.group(1) + m.group(2) if m.start() <= 1 else m.group(2)
    d = re.sub(r'(?:[a-z_][a-z0-9_]*::)*([a-z_][a-z0-9_]*::)([A-Z])', typ, d)
    d = re.sub(r'^<([\w:]+)>::', r'\1::', d)         # <kqueue::KQueue>::scan -> kqueue::KQueue::scan
    return d


class Run:
    def __init__(self, prefix, system_map, names):
        self.prefix = prefix
        self.label = os.path.basename(prefix)
        self.syms = read_symbols(system_map, prefix + '.out')
        self.addrs = [a for a, _, _ in self.syms]
        self.user, self.blocks = read_blocks(prefix + '.tb')
        names.prepare(n for _, n, _ in self.syms)
        self.names = names

    def lookup(self, pc):
        i = bisect.bisect_right(self.addrs, pc) - 1
        if i < 0 or pc - self.addrs[i] > MAX_FN:
            return None
        return self.syms[i]

    def calls(self):
        """Executions of blocks that start a function: calls (and tail calls) into it."""
        starts = {a for a, _, _ in self.syms}
        return sum(c for pc, _, c in self.blocks if pc in starts)

    def by_function(self):
        """{(readable name, in module): instructions} plus USER."""
        d = {}
        for pc, n, c in self.blocks:
            s = self.lookup(pc)
            key = (self.names(s[1]), s[2]) if s else (UNKNOWN, False)
            d[key] = d.get(key, 0) + n * c
        d[(USER, False)] = self.user
        return d


def per_iteration(run, base, n):
    a, b = run.by_function(), base.by_function()
    return {k: (a.get(k, 0) - b.get(k, 0)) / n for k in a.keys() | b.keys()}


def totals(d):
    kernel = sum(v for k, v in d.items() if k[0] != USER)
    module = sum(v for k, v in d.items() if k[1])
    neg = sum(v for k, v in d.items() if v < 0)
    user = d[(USER, False)]
    return {'kernel': kernel, 'module': module, 'user': user, 'total': kernel + user, 'neg': neg}


def fmt(v):
    return f'{v:9.1f}' if abs(v) < 1e7 else f'{v:9.3g}'


def top(d, k):
    rows = sorted(((v, key) for key, v in d.items() if key[0] != USER and v >= 0.05), key=lambda r: (-round(r[0], 1), r[1]))
    return rows[:k]


def cell(row, width):
    if row is None:
        return ' ' * (width + 12)
    v, (name, mod) = row
    name = name if len(name) <= width else name[:width - 1] + '~'
    return f'{fmt(v)} {"*" if mod else " "} {name:<{width}}'


def report(runs, base, n, k):
    ds = [per_iteration(r, base, n) for r in runs]
    ts = [totals(d) for d in ds]
    labels = [r.label for r in runs]
    print(f'Instructions per iteration, N={n}, minus the baseline run "{base.label}" (same binary, no loop)')
    print()
    w = max(14, max(len(lab) for lab in labels) + 2)
    head = f'  {"":<22}' + ''.join(f'{lab:>{w}}' for lab in labels)
    print(head + (f'{"ratio":>{w}}' if len(runs) == 2 else ''))
    rows = [('kernel', 'kernel', True), ('  of which kqueue.ko', 'module', False), ('user', 'user', True),
            ('total', 'total', True), ('below-zero residue', 'neg', False)]
    for title, key, ratio in rows:
        line = f'  {title:<22}' + ''.join(f'{t[key]:{w}.1f}' for t in ts)
        if len(runs) == 2 and ratio and ts[1][key] > 0:
            line += f'{ts[0][key] / ts[1][key]:{w}.2f}'
        print(line)
    # Each call and return is an indirect jump for TCG (a translation-block lookup on the
    # host): the wall clock of an emulated run charges calls far more than their instructions.
    calls = [(r.calls() - base.calls()) / n for r in runs]
    line = f'  {"kernel function calls":<22}' + ''.join(f'{c:{w}.1f}' for c in calls)
    if len(runs) == 2 and calls[1] > 0:
        line += f'{calls[0] / calls[1]:{w}.2f}'
    print(line)
    print()
    print('Kernel functions by instructions per iteration (* = in kqueue.ko):')
    width = 52 if len(runs) == 2 else 90
    tops = [top(d, k) for d in ds]
    print('  ' + ' | '.join(f'{lab:<{width + 12}}' for lab in labels).rstrip())
    for i in range(max(len(t) for t in tops)):
        print('  ' + ' | '.join(cell(t[i] if i < len(t) else None, width) for t in tops).rstrip())
    print()
    print('"below-zero residue": the sum of the functions that ran less than in the baseline; boot')
    print('noise that the subtraction did not cancel shows there (divided by N like the rest).')


def function_blocks(run, sub):
    """Blocks of the functions matching sub: {(name, in module): (raw, size, {(offset, ninsns): execs})}"""
    fns = {}
    for i, (addr, raw, mod) in enumerate(run.syms):
        name = run.names(raw)
        if sub not in name and sub not in raw:
            continue
        end = run.syms[i + 1][0] if i + 1 < len(run.syms) else addr + MAX_FN
        blocks = {}
        for pc, k, c in run.blocks:
            if addr <= pc < end:
                blocks[(pc - addr, k)] = blocks.get((pc - addr, k), 0) + c
        if blocks:
            fns[(name, mod)] = (raw, end - addr, blocks)
    return fns


def function_report(run, base, n, sub):
    fns = function_blocks(run, sub)
    if not fns:
        sys.exit(f'analyze: no function executed in {run.prefix} matches "{sub}"')
    bfns = function_blocks(base, sub) if base else {}
    for (name, mod), (raw, size, blocks) in sorted(fns.items()):
        bblocks = bfns.get((name, mod), (0, 0, {}))[2]
        rows = sorted((off, k, (c - bblocks.get((off, k), 0)) / n) for (off, k), c in blocks.items())
        if all(abs(c) < 0.05 for _, _, c in rows):
            continue
        total = sum(k * c for _, k, c in rows)
        print(f'== {name}{" [kqueue.ko]" if mod else ""} in {run.label}: {total:.1f} instructions per iteration'
              f'{" minus " + base.label if base else ""}, {size} bytes')
        if mod:
            print(f'   objdump -d --disassemble={raw} kqueue.ko')
        for off, k, c in rows:
            if abs(c) >= 0.05:
                print(f'   +{off:#06x} {k:3d} insns x {c:8.2f}')


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)      # quiet under | head
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--map', required=True, help="the kernel's System.map")
    ap.add_argument('--base', help='the baseline run (prefix)')
    ap.add_argument('-n', type=int, required=True, help='iterations of the runs')
    ap.add_argument('--top', type=int, default=25, help='functions listed (25)')
    ap.add_argument('--fn', metavar='SUBSTR', help='per-block counts of the matching functions')
    ap.add_argument('runs', nargs='+', metavar='RUN')
    a = ap.parse_args()
    names = Names()
    runs = [Run(r, a.map, names) for r in a.runs]
    if a.fn:
        base = Run(a.base, a.map, names) if a.base else None
        for r in runs:
            function_report(r, base, a.n, a.fn)
        return
    if not a.base or len(runs) > 2:
        ap.error('a table needs --base and one or two runs')
    report(runs, Run(a.base, a.map, names), a.n, a.top)


if __name__ == '__main__':
    main()
