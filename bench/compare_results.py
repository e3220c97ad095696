#!/usr/bin/env python3
"""Compares two result tables of `flashmla-bench --grid` row by row.

    python3 bench/compare_results.py BEFORE.csv AFTER.csv [--threshold 3] [--across min|median]

Rows are matched on their configuration (dtype, b, s_q, s_k, h_q, h_kv, varlen), so two runs of
different row subsets (--rows) compare on what they share. For each row: both times, the ratio
after/before, both roofline percentages, and a mark where the time moved by more than the
threshold (percent). Then the geometric mean of the time ratios over the shared rows, and over
the b = 128 rows both tables hold: the geometric mean and minimum of the roofline % (bf16 rows,
as in bench/NOTES.md) and how many rows meet the issue's bar (>= 97% for the memory-bound
s_q*h_q <= 32 rows at s_k = 16384, >= 90% for the others).

Either side may be several runs, as a comma-separated list of tables (A_1.csv,A_2.csv): each row
then takes its fastest run (--across min, the default, which suits same-call A/B runs whose
noise only ever adds time) or its median run (--across median). tools/ab_grid.sh writes such runs.

Only compare runs of one call (one machine) for changes of a few percent: machines of one kind
differ by up to ~4% on identical code (bench/NOTES.md).
"""

import argparse
import csv
import math
import sys

KEY_FIELDS = ("dtype", "b", "s_q", "s_k", "h_q", "h_kv", "varlen")


def key_of(row):
    return tuple(row[k] for k in KEY_FIELDS)


def load(paths, across="min"):
    """The rows of one side, in the first table's order, each row the chosen one of its runs."""
    order, runs = [], {}
    for path in paths.split(","):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                key = key_of(row)
                if key not in runs:
                    order.append(key)
                    runs[key] = []
                runs[key].append(row)
    table = {}
    for key, rows in runs.items():
        rows = sorted(rows, key=lambda r: float(r["time_us"]))
        table[key] = rows[0] if across == "min" else rows[(len(rows) - 1) // 2]
    return [table[k] for k in order], table


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
    parser.add_argument("before", help="a table, or a comma-separated list of runs")
    parser.add_argument("after", help="a table, or a comma-separated list of runs")
    parser.add_argument("--threshold", type=float, default=3.0, help="percent change to mark (default 3)")
    parser.add_argument("--across", choices=("min", "median"), default="min",
                        help="which of a row's several runs counts (default min)")
    args = parser.parse_args()

    try:
        before_rows, before = load(args.before, args.across)
        _, after = load(args.after, args.across)
    except (OSError, KeyError, ValueError) as error:
        print(f"compare_results.py: cannot read the tables: {error!r}", file=sys.stderr)
        return 2
    keys = [key_of(r) for r in before_rows]
    shared = [k for k in keys if k in after]
    if not shared:
        print("the two tables share no configuration", file=sys.stderr)
        return 1
    commits = (before_rows[0].get("commit", "?"), next(iter(after.values())).get("commit", "?"))
    print(f"before: {args.before} ({commits[0]})   after: {args.after} ({commits[1]})")
    width = max(len(label(k)) for k in shared)
    log_ratios = []
    print(f"{'configuration':<{width}}  {'before us':>10} {'after us':>10} {'ratio':>6}  {'before %':>8} {'after %':>8}")
    for k in shared:
        t0 = float(before[k]["time_us"])
        t1 = float(after[k]["time_us"])
        ratio = t1 / t0
        log_ratios.append(math.log(ratio))
        mark = ""
        if ratio > 1 + args.threshold / 100:
            mark = "  slower"
        elif ratio < 1 - args.threshold / 100:
            mark = "  faster"
        print(f"{label(k):<{width}}  {t0:10.1f} {t1:10.1f} {ratio:6.3f}  "
              f"{float(before[k]['roofline_pct']):8.1f} {float(after[k]['roofline_pct']):8.1f}{mark}")
    print(f"time ratio after/before: geomean {math.exp(sum(log_ratios) / len(log_ratios)):.4f} over {len(shared)} rows")
    grid = [k for k in shared if k[1] == "128"]
    if grid:
        print(f"b=128 rows before: {summary(grid, before)}")
        print(f"b=128 rows after:  {summary(grid, after)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
