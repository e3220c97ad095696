#!/usr/bin/env python3
"""Plots roofline % per configuration from a committed results table, beside the targets.

    python3 bench/plot_roofline.py [bench/results/h100.csv] [docs/roofline-h100.png]

Needs matplotlib (pip install matplotlib==3.9.2); nothing else in the project does.

Bars: our roofline % per row of the table (DESIGN.md section 6: roofline time / measured time).
Line: the target. The b = 128 grid rows need >= 90%, the memory-bound ones (s_q * h_q <= 32 at
s_k = 16384) >= 97%; the small-batch rows have time targets, shown as the roofline % that time
would be. Dots: the reference FlashMLA's roofline % on the rows DESIGN.md measured it on (against
its own ceilings, 730 TFLOP/s GEMM, so not strictly comparable with ours).
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Small-batch rows: (b, s_q, s_k, h_q) -> target time in us (DESIGN.md section 6).
TIME_TARGETS_US = {(1, 1, 65536, 128): 35.0, (1, 1, 4096, 128): 12.0, (4, 4, 13296, 16): 35.0}
# Reference FlashMLA roofline % from DESIGN.md: (dtype, b, s_q, s_k, h_q, varlen) -> %.
REFERENCE_PCT = {
    ("bf16", 128, 1, 16384, 16, 0): 96,
    ("bf16", 128, 1, 8192, 128, 0): 76,
    ("bf16", 128, 2, 4096, 64, 1): 72,
    ("bf16", 128, 2, 16384, 128, 0): 85,
    ("bf16", 1, 1, 65536, 128, 0): 31,
    ("bf16", 1, 1, 4096, 128, 0): 7,
    ("bf16", 4, 4, 13296, 16, 1): 23,
    ("bf16", 32, 1, 8192, 128, 0): 69,
    ("fp16", 128, 1, 8192, 128, 0): 70,
}


def target_pct(row, pct, time_us):
    key = (row["b"], row["s_q"], row["s_k"], row["h_q"])
    if key in TIME_TARGETS_US:  # the roofline % that the target time would be
        return pct * time_us / TIME_TARGETS_US[key]
    if row["b"] == 128 and row["s_q"] * row["h_q"] <= 32 and row["s_k"] == 16384:
        return 97.0
    return 90.0


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "bench/results/h100.csv"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/roofline-h100.png"
    with open(path) as f:
        rows = list(csv.DictReader(f))
    labels, ours, targets, ref_x, ref_y = [], [], [], [], []
    for i, r in enumerate(rows):
        row = {k: int(r[k]) for k in ("b", "s_q", "s_k", "h_q", "varlen")}
        pct, time_us = float(r["roofline_pct"]), float(r["time_us"])
        label = f'{r["dtype"]} b{row["b"]} q{row["s_q"]} k{row["s_k"] // 1024}K h{row["h_q"]}'
        labels.append(label + (" var" if row["varlen"] else ""))
        ours.append(pct)
        targets.append(target_pct(row, pct, time_us))
        key = (r["dtype"], row["b"], row["s_q"], row["s_k"], row["h_q"], row["varlen"])
        if key in REFERENCE_PCT:
            ref_x.append(i)
            ref_y.append(REFERENCE_PCT[key])

    fig, ax = plt.subplots(figsize=(16, 6))
    x = range(len(rows))
    ax.bar(x, ours, color="#4477aa", label="ours (roofline %)")
    ax.step([i - 0.5 for i in x] + [len(rows) - 0.5], targets + [targets[-1]], where="post",
            color="#cc3311", linewidth=1.5, label="target")
    ax.scatter(ref_x, ref_y, color="black", zorder=3, s=18, label="reference FlashMLA (DESIGN.md)")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=90, fontsize=7)
    ax.set_ylabel("roofline %")
    ax.set_ylim(0, 105)
    gpu, commit = rows[0]["gpu"], rows[0]["commit"]
    ax.set_title(f"{gpu}: roofline % per configuration (commit {commit}; copy {rows[0]['copy_gbs']} GB/s, "
                 f"GEMM {rows[0]['gemm_tflops']} TFLOP/s)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out} ({len(rows)} rows from {path})")


if __name__ == "__main__":
    main()
