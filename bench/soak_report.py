#!/usr/bin/env python3
"""bench/soak_report.py: turns bench/soak's samples into the Soak section of BENCHMARKS.md and
its plot. bench/soak calls it; it can be re-run on saved samples:

    python3 bench/soak_report.py --samples bench/results/soak.csv \
        --fleet bench/results/soak-fleet.json --plot bench/results/soak.png \
        --benchmarks BENCHMARKS.md --minutes 30 --rate 5000 --command "bench/soak" --commit abc123

Each of RSS, file descriptors and threads gets a least-squares line over the samples after the
warm-up (the first sixth of the run, at least 2 minutes); its slope is reported as a share of
the series' mean per 10 minutes. Flat means under 1 % per 10 minutes, as the issue asks.
"""

import argparse
import csv
import json

BEGIN = "<!-- soak:begin -->"
END = "<!-- soak:end -->"
FLAT_PERCENT_PER_10_MIN = 1.0


def slope_per_second(xs, ys):
    n = len(xs)
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return 0.0, mean_y
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    return cov / var, mean_y


def main():
    parser = argparse.ArgumentParser()
    for name in ["samples", "fleet", "plot", "benchmarks", "command", "commit"]:
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--minutes", type=int, required=True)
    parser.add_argument("--rate", type=int, required=True)
    args = parser.parse_args()

    with open(args.samples, encoding="utf-8") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if len(rows) < 4:
        raise SystemExit(f"only {len(rows)} samples in {args.samples}: too few to fit a line")
    with open(args.fleet, encoding="utf-8") as f:
        fleet = json.load(f)

    warm_up = max(120.0, args.minutes * 60 / 6)
    steady = [r for r in rows if r["seconds"] >= warm_up] or rows
    xs = [r["seconds"] for r in steady]
    series = {"RSS (kB)": "rss_kb", "open file descriptors": "fds", "threads": "threads"}
    lines = []
    flat = True
    for label, key in series.items():
        ys = [r[key] for r in steady]
        slope, mean = slope_per_second(xs, ys)
        percent = 100 * slope * 600 / mean if mean else 0.0
        flat = flat and abs(percent) < FLAT_PERCENT_PER_10_MIN
        lines.append(
            f"| {label} | {min(ys):.0f} | {max(ys):.0f} | {mean:.0f} | {slope * 600:+.2f} | {percent:+.3f} % |"
        )
    # CPU (% of a core per sample interval) is fitted too, but not part of the verdict: its level
    # follows the load, while a leak shows as growth of the other three.
    cpu_points = [(b["seconds"], 100 * (b["cpu_s"] - a["cpu_s"]) / max(1.0, b["seconds"] - a["seconds"]))
                  for a, b in zip(rows, rows[1:]) if b["seconds"] >= warm_up]
    if len(cpu_points) >= 2:
        cx, cy = [p[0] for p in cpu_points], [p[1] for p in cpu_points]
        slope, mean = slope_per_second(cx, cy)
        percent = 100 * slope * 600 / mean if mean else 0.0
        lines.append(
            f"| CPU (% of a core; not part of the verdict) | {min(cy):.1f} | {max(cy):.1f} | {mean:.1f} | {slope * 600:+.2f} | {percent:+.3f} % |"
        )
    elapsed = rows[-1]["seconds"] - rows[0]["seconds"]
    cpu = rows[-1]["cpu_s"] - rows[0]["cpu_s"]
    lost = fleet.get("lost_telemetry", -1), fleet.get("lost_alerts", -1)
    passed = flat and lost == (0, 0) and fleet.get("alerts_to_wrong_car", 0) == 0

    plotted = False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        minutes = [r["seconds"] / 60 for r in rows]
        figure, axes = plt.subplots(4, 1, figsize=(8, 8), sharex=True)
        cpu_percent = [0.0] + [
            100 * (b["cpu_s"] - a["cpu_s"]) / max(1.0, b["seconds"] - a["seconds"])
            for a, b in zip(rows, rows[1:])
        ]
        for axis, (label, values) in zip(
            axes,
            [
                ("RSS (MiB)", [r["rss_kb"] / 1024 for r in rows]),
                ("open fds", [r["fds"] for r in rows]),
                ("threads", [r["threads"] for r in rows]),
                ("CPU (% of a core)", cpu_percent),
            ],
        ):
            axis.plot(minutes, values)
            axis.set_ylabel(label)
            axis.axvline(warm_up / 60, color="grey", linestyle=":")
            # Headroom above the highest value, so a flat line does not sit on the frame.
            axis.set_ylim(bottom=0, top=max(values) * 1.15 or 1)
        axes[-1].set_xlabel("minutes (dotted: end of the warm-up)")
        figure.suptitle(f"Ferry worker during bench/soak: {args.rate} msg/s, {args.minutes} min")
        figure.tight_layout()
        figure.savefig(args.plot, dpi=90)
        plotted = True
    except ImportError:
        pass

    latency = fleet.get("latency_car_to_kafka_ms", {})
    section = [
        BEGIN,
        "## Soak",
        "",
        f"`{args.command}` at {args.commit}: the connected-cars loop, {args.rate} cars × one "
        f"message a second (QoS 1) for {args.minutes} minutes through a release worker running the "
        "demo's MQTT source and sink; the worker sampled every 10 s. Lines fitted after the warm-up "
        f"({warm_up / 60:.0f} min); flat means a slope under {FLAT_PERCENT_PER_10_MIN:g} % of the mean per 10 minutes.",
        "",
        "| series | min | max | mean | slope per 10 min | as % of the mean |",
        "|---|---|---|---|---|---|",
        *lines,
        "",
        f"- Delivered: published {fleet.get('published')}, in Kafka {fleet.get('in_kafka')} "
        f"({fleet.get('kafka_duplicates')} duplicates), lost telemetry {lost[0]}; alerts expected "
        f"{fleet.get('alerts_expected')}, received by the right car {fleet.get('alerts_received_by_right_car')}, "
        f"lost {lost[1]}, to a wrong car {fleet.get('alerts_to_wrong_car')}.",
        f"- Car → Kafka latency: p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms, max {latency.get('max')} ms.",
        f"- Worker CPU: {cpu:.0f} s over {elapsed / 60:.1f} min ({100 * cpu / max(elapsed, 1):.0f} % of a core).",
        f"- Verdict: **{'pass' if passed else 'not met'}** (lost = 0 both ways and RSS, fds, threads flat).",
        "",
        "![The worker's RSS, fds, threads and CPU during the soak](bench/results/soak.png)" if plotted else "(no plot: matplotlib is missing)",
        END,
    ]
    text = "\n".join(section) + "\n"
    with open(args.benchmarks, encoding="utf-8") as f:
        old = f.read()
    if BEGIN in old and END in old:
        before, rest = old.split(BEGIN, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        new = before + text + ("\n" + after if after else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    with open(args.benchmarks, "w", encoding="utf-8") as f:
        f.write(new)
    print(text)


if __name__ == "__main__":
    main()
