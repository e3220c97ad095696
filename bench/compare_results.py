#!/usr/bin/env python3
"""Compares two result tables of `flashmla-bench --grid` row by row.

    python3 bench/compare_results.py BEFORE.csv AFTER.csv [--threshold 3]

Rows are matched on their configuration (dtype, b, s_q, s_k, h_q, h_kv, varlen), so two runs of
different row subsets (--rows) compare on what they share. For each row: both times, the ratio
after/before, both roofline percentages, and a mark where the time moved by more than the
threshold (percent). Then, over the b = 128 rows both tables hold: the geometric mean and minimum
of the roofline % (bf16 rows, as in bench/NOTES.md) and how many rows meet the issue's bar (>= 97%
for the memory-bound s_q*h_q <= 32 rows at s_k = 16384, >= 90% for the others).

Only compare runs of one call (one machine) for changes of a few percent: machines of one kind
differ by up to ~4% on identical code (bench/NOTES.md).
"""

import argparse
import csv
import math
import sys

KEY_FIELDS = ("dtype", "b", "s_q", "s_k", "h_q", "h_kv", "varlen")


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    table = {}
    for row in rows:
        table[tuple(row[k] for k in KEY_FIELDS)] = row
    return rows, table


def label(key):
    dtype, b, s_q, s_k, h_q, h_kv, varlen = key
    text = f"{dtype} b={b} s_q={s_q} s_k={s_k} h_q={h_q}"
    if h_kv != "1":
        text += f" h_kv={h_kv}"
    return text + (" varlen" if varlen == "1" else "")


def bar_of(key):
    dtype, b, s_q, s_k, h_q, h_kv, varlen = key
    memory_bound = int(s_q) * int(h_q) <= 32 and s_k == "16384"
    return 97.0 if memory_bound else 90.0


def summary(keys, table):
    pcts = [float(table[k]["roofline_pct"]) for k in keys if k[0] == "bf16"]
    met = sum(float(table[k]["roofline_pct"]) >= bar_of(k) for k in keys)
    if not pcts:
        return "no bf16 b=128 rows"
    geomean = math.exp(sum(math.log(p) for p in pcts) / len(pcts))
    return f"geomean {geomean:.1f}%, min {min(pcts):.1f}% over {len(pcts)} bf16 rows; {met} of {len(keys)} rows meet their bar"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--threshold", type=float, default=3.0, help="percent change to mark (default 3)")
    args = parser.parse_args()

    before_rows, before = load(args.before)
    _, after = load(args.after)
    keys = [tuple(r[k] for k in KEY_FIELDS) for r in before_rows]
    shared = [k for k in keys if k in after]
    if not shared:
        print("the two tables share no configuration", file=sys.stderr)
        return 1
    commits = (before_rows[0].get("commit", "?"), next(iter(after.values())).get("commit", "?"))
    print(f"before: {args.before} ({commits[0]})   after: {args.after} ({commits[1]})")
    width = max(len(label(k)) for k in shared)
    print(f"{'configuration':<{width}}  {'before us':>10} {'after us':>10} {'ratio':>6}  {'before %':>8} {'after %':>8}")
    for k in shared:
        t0 = float(before[k]["time_us"])
        t1 = float(after[k]["time_us"])
        ratio = t1 / t0
        mark = ""
        if ratio > 1 + args.threshold / 100:
            mark = "  slower"
        elif ratio < 1 - args.threshold / 100:
            mark = "  faster"
        print(f"{label(k):<{width}}  {t0:10.1f} {t1:10.1f} {ratio:6.3f}  "
              f"{float(before[k]['roofline_pct']):8.1f} {float(after[k]['roofline_pct']):8.1f}{mark}")
    grid = [k for k in shared if k[1] == "128"]
    if grid:
        print(f"b=128 rows before: {summary(grid, before)}")
        print(f"b=128 rows after:  {summary(grid, after)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
