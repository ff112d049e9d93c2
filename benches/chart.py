#!/usr/bin/env python3
"""Draws docs/bench-throughput.svg from the rows `cargo bench` appended to
target/bench-results.csv (name,unit,contender,value,scale; each row shows its latest
run's contenders). Only rows recorded at the scale of the file's last throughput row are
drawn, so a `BENCH_SCALE=0.1` smoke run neither adds panels of its own nor mixes into a
full run's.
Rows without a scale (files from before it was recorded) count as scale 1.

One panel per throughput row (req/s, reads/s), one bar per backend or peer, bars scaled
within the panel so rows of very different size read alike; the figure sits on each bar.

Usage: python3 benches/chart.py [results.csv] [out.svg]
"""
import csv
import html
import sys

COLORS = {
    "ringloop-uring": "#d9480f",
    "ringloop-epoll": "#f08c00",
    "ringloop": "#d9480f",
    "tokio": "#1971c2",
    "monoio": "#2f9e44",
    "redis-server": "#862e9c",
}
RATES = ("req/s", "reads/s")


def load(path):
    with open(path, newline="") as f:
        records = [r + ["1"] if len(r) == 4 else r for r in csv.reader(f)]
    records = [r for r in records if len(r) == 5 and r[1] in RATES]
    if not records:
        return []
    last_scale = records[-1][4]
    rows = {}
    order = []
    for name, unit, contender, value, scale in records:
        if scale != last_scale:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if number != number:  # NaN: not measured
            continue
        key = (name, unit)
        if key not in rows:
            rows[key] = {}
            order.append(key)
        # A run records each contender of a row once: one seen again starts the row's
        # next run, so contenders a later run no longer has lose their old bars.
        if contender in rows[key]:
            rows[key] = {}
        rows[key][contender] = number
    return [(name, unit, rows[(name, unit)]) for name, unit in order]


def human(value):
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


def draw(panels):
    width, label_w, bar_h, gap = 900, 230, 16, 4
    out = []
    y = 40
    for name, unit, values in panels:
        out.append(
            f'<text x="10" y="{y}" font-weight="bold">{html.escape(name)} ({unit}, higher is better)</text>'
        )
        y += 8
        top = max(values.values())
        for contender, value in values.items():
            length = (width - label_w - 90) * value / top
            color = COLORS.get(contender, "#868e96")
            out.append(f'<text x="20" y="{y + bar_h - 4}">{html.escape(contender)}</text>')
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{color}"/>'
            )
            out.append(f'<text x="{label_w + length + 6:.1f}" y="{y + bar_h - 4}">{human(value)}</text>')
            y += bar_h + gap
        y += 24
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
        'font-family="sans-serif" font-size="12">'
        f'<rect width="{width}" height="{y}" fill="white"/>'
        '<text x="10" y="20" font-size="15" font-weight="bold">'
        "ringloop throughput by backend and peer (latest run of each row; same machine, server on one core)</text>"
    )
    return head + "".join(out) + "</svg>\n"


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "target/bench-results.csv"
    target = sys.argv[2] if len(sys.argv) > 2 else "docs/bench-throughput.svg"
    panels = load(source)
    if not panels:
        sys.exit(f"no throughput rows in {source}: run `cargo bench` first")
    with open(target, "w") as f:
        f.write(draw(panels))
    print(f"wrote {target}: {len(panels)} panels")


if __name__ == "__main__":
    main()
