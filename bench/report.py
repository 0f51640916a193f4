#!/usr/bin/env python3
"""bench/report.py: turns bench/run's results into BENCHMARKS.md and the throughput/latency plot.

    python3 bench/report.py --results bench/results/results.jsonl \
        --machine bench/results/machine.json --plot bench/results/throughput-latency.png \
        --out BENCHMARKS.md

bench/run calls it at the end; it can be re-run on saved results. Targets are reported, never
asserted: a benchmark measures, it does not pass or fail.
"""

import argparse
import json
import os
import sys

NA = "—"


def load(path):
    cases = {}
    order = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line:
                case = json.loads(line)
                cases[case["id"]] = case
                order.append(case["id"])
    return cases, order


def result(cases, case_id):
    """The JSON line of a case, or None when it failed, was skipped or did not run."""
    return cases.get(case_id, {}).get("result")


def why_missing(cases, case_id):
    case = cases.get(case_id)
    if case is None:
        return "not run"
    if "skipped" in case:
        return "skipped: " + case["skipped"]
    if "error" in case:
        return "failed: " + case["error"][:120]
    return ""


def num(x, digits=0):
    if x is None:
        return NA
    return f"{x:,.{digits}f}"


def pct(part, whole):
    if not part or not whole:
        return NA
    return f"{100.0 * part / whole:.0f} %"


def mib(kb):
    return NA if kb is None else f"{kb / 1024:.1f} MiB"


def latency(r):
    if not r:
        return NA
    lat = r.get("latency_ms") or {}
    return f"{lat.get('p50', 0):.1f} / {lat.get('p99', 0):.1f} / {lat.get('max', 0):.1f}"


def link(case_id):
    return f"[{case_id}](#{case_id})"


def busy(r):
    """How busy all cores of the machine were during the case (every process), or n/a."""
    value = r.get("machine_busy_pct") if r else None
    return NA if value is None else f"{value:.0f} %"


def cpu_per_10k(r):
    worker = (r or {}).get("worker") or {}
    value = worker.get("cpu_s_per_10k_msgs")
    return NA if value is None else f"{value:.2f}"


# A second whose worst latency passes this is a stall (issue 15's bound on the maximum).
STALL_MS = 50


def stalls(r):
    """Seconds of a case whose worst latency passed STALL_MS, each with what the sentinels (Kafka
    and Mosquitto timed on their own in the same second) saw: [(second, ferry, kafka, mqtt)]."""
    worst = r.get("worst_latency_ms_by_second") or []
    sentinels = r.get("sentinels") or {}
    kafka = sentinels.get("kafka_worst_ms_by_second") or []
    mqtt = sentinels.get("mqtt_worst_ms_by_second") or []
    at = lambda series, i: series[i] if i < len(series) else None
    return [(i, ms, at(kafka, i), at(mqtt, i)) for i, ms in enumerate(worst) if ms > STALL_MS]


def broker_stalled(ferry, kafka, mqtt):
    """Whether a broker, timed alone, stalled for at least half of Ferry's worst in that second:
    Ferry's path adds `linger.ms`, two hops and the backlog that built up during the stall."""
    return max(kafka or 0, mqtt or 0) >= ferry / 2


def stall_summary(r):
    """One line: how many stall seconds, and how many of them a broker stalled in too."""
    found = stalls(r)
    if not found:
        return f"no second over {STALL_MS} ms"
    if not r.get("sentinels"):
        return f"{len(found)} second(s) over {STALL_MS} ms (no sentinels in this case)"
    shared = [f for f in found if broker_stalled(f[1], f[2], f[3])]
    own = len(found) - len(shared)
    text = (f"{len(found)} second(s) over {STALL_MS} ms; in {len(shared)} of them Kafka or "
            "Mosquitto, timed alone, stalled for at least half as long")
    return text + (f"; {own} Ferry's own" if own else "")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def plot(cases, rates, path):
    """Achieved throughput and latency against offered load, MQTT → Kafka. Returns an error
    text when it cannot draw, None when the PNG was written."""
    points = [(rate, result(cases, f"m2k-rate-{rate}")) for rate in rates]
    points = [(rate, r) for rate, r in points if r]
    if not points:
        return "no latency case produced results"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    offered = [rate for rate, _ in points]
    achieved = [r["rate_per_s"] for _, r in points]
    p50 = [max(r["latency_ms"]["p50"], 0.01) for _, r in points]
    p99 = [max(r["latency_ms"]["p99"], 0.01) for _, r in points]
    worst = [max(r["latency_ms"]["max"], 0.01) for _, r in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    left.plot(offered, offered, "--", color="grey", label="offered (ideal)")
    left.plot(offered, achieved, "o-", color="tab:blue", label="achieved (in Kafka)")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("offered load (msg/s)")
    left.set_ylabel("throughput (msg/s)")
    left.set_title("Achieved throughput")
    left.set_yticks(offered)
    left.set_yticklabels([f"{o // 1000}k" if o >= 1000 else str(o) for o in offered])
    left.minorticks_off()
    left.grid(True, which="both", alpha=0.3)
    left.legend()
    right.plot(offered, p50, "o-", label="p50")
    right.plot(offered, p99, "s-", label="p99")
    right.plot(offered, worst, "^:", alpha=0.6, label="max")
    right.axhline(50, color="red", linestyle="--", linewidth=1, label="target p99 < 50 ms")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("offered load (msg/s)")
    right.set_ylabel("latency, MQTT publish → Kafka consumer (ms)")
    right.set_title("Latency")
    right.grid(True, which="both", alpha=0.3)
    right.legend()
    for axis in (left, right):
        axis.set_xticks(offered)
        axis.set_xticklabels([f"{o // 1000}k" if o >= 1000 else str(o) for o in offered])
    size = points[0][1].get("size", 600)
    fig.suptitle(f"Ferry MQTT → Kafka, QoS 1, {size} B messages, one MQTT source task")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--machine", required=True)
    parser.add_argument("--plot", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    cases, order = load(args.results)
    with open(args.machine, encoding="utf-8") as f:
        machine = json.load(f)
    quick = machine.get("mode") == "quick"
    rates = [1000, 2000, 5000, 10000, 20000, 30000, 40000]
    plot_error = plot(cases, rates, args.plot)
    plot_rel = os.path.relpath(args.plot, os.path.dirname(os.path.abspath(args.out)) or ".")

    raw_q = {q: result(cases, f"raw-mqtt-q{q}") for q in (0, 1)}
    raw_kafka = result(cases, "raw-kafka")
    md = []
    w = md.append

    w("# Ferry benchmarks\n")
    if quick:
        w(
            "> **Quick run** (`bench/run --quick`): every case is shrunk (fewer messages, "
            "a few seconds per fixed load, 10,000 cars for 90 s instead of 100,000 for 5 min) "
            "and the machine may have been busy. The figures show that every benchmark works; "
            "they are not the reference figures, which come from `bench/run` on an idle machine.\n"
        )
    w(
        f"Measured by `bench/run{' --quick' if quick else ''}` on {machine.get('date')}, commit "
        f"`{machine.get('commit')}`{' (with uncommitted changes)' if machine.get('dirty') == 'yes' else ''}. "
        "Every ratio is against a baseline measured in the same run on the same machine. The targets "
        "of issue 15 are reported, not asserted. Each case links to the exact command that produced it "
        "([Commands](#commands)); the raw JSON lines are in "
        "[bench/results/results.jsonl](bench/results/results.jsonl).\n"
    )
    w("Run it: `bench/run` (full, about 25 minutes, on an otherwise idle machine) or "
      "`bench/run --quick` (a few minutes). It builds release, starts the services if needed, "
      "runs its own worker on 127.0.0.1:18083, and rewrites this file.\n")

    w("## Machine\n")
    w(table(["", ""], [
        ["CPU", f"{machine.get('cpu')} × {machine.get('nproc')} (`nproc`)"],
        ["Memory", f"{machine.get('memory')} (`free -h`)"],
        ["Kernel", machine.get("kernel")],
        ["Kafka", f"{machine.get('kafka')}, single KRaft node, 512 MB heap (`dev/services`)"],
        ["Mosquitto", f"{machine.get('mosquitto')} (`dev/services`: max_inflight_messages 1000)"],
        ["Rust", machine.get("rustc")],
        ["Load average (1/5/15 min) before → after", f"{machine.get('load_before')} → {machine.get('load_after', NA)}"],
    ]))
    w("\nClients, brokers and the worker share the same cores: every figure includes the cost of "
      "the load generator and of both brokers on the same machine.\n")

    # ---------------------------------------------------------------- targets
    w("## Targets (issue 15)\n")
    rows = []

    def verdict(ok):
        return "met" if ok else "**not met**"

    raw1 = (raw_q[1] or {}).get("rate_per_s")
    q1 = {t: result(cases, f"m2k-q1-t{t}") for t in (1, 2, 4)}
    one = q1[1]
    if one and raw1:
        rows.append(["MQTT → Kafka, QoS 1, one task, draining a backlog ≥ 90 % of raw Mosquitto QoS 1",
                     f"{num(one['rate_per_s'])} msg/s = {pct(one['rate_per_s'], raw1)}",
                     verdict(one["rate_per_s"] >= 0.9 * raw1)])
    else:
        rows.append(["MQTT → Kafka, QoS 1, one task ≥ 90 % of raw Mosquitto", why_missing(cases, "m2k-q1-t1") or NA, NA])
    if one and q1[2] and q1[4]:
        rows.append(["the same with 2 and 4 tasks ≥ 1 task",
                     f"1: {num(one['rate_per_s'])}, 2: {num(q1[2]['rate_per_s'])}, 4: {num(q1[4]['rate_per_s'])} msg/s",
                     verdict(min(q1[2]["rate_per_s"], q1[4]["rate_per_s"]) >= one["rate_per_s"])])
    r10k = result(cases, "m2k-rate-10000")
    if r10k:
        lat = r10k["latency_ms"]
        rows.append(["MQTT → Kafka at 10k msg/s, QoS 1: p99 < 20 ms, max < 50 ms",
                     f"p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms (achieved {num(r10k['rate_per_s'])} msg/s, lost {r10k['lost']}); "
                     f"{stall_summary(r10k)} ([stalls](#stalls-and-the-brokers))",
                     verdict(lat["p99"] < 20 and lat["max"] < 50)])
        cpu = ((r10k.get("worker") or {}).get("cpu_s_per_10k_msgs"))
        if cpu is not None:
            rows.append(["worker CPU s per 10k msgs at 10k msg/s ≤ 0.14", f"{cpu:.2f}", verdict(cpu <= 0.14)])
    else:
        rows.append(["MQTT → Kafka at 10k msg/s", why_missing(cases, "m2k-rate-10000") or NA, NA])
    k2m = result(cases, "k2m-static")
    if k2m and raw1:
        rows.append(["Kafka → MQTT, one task, static topic ≥ 90 % of raw Mosquitto QoS 1",
                     f"{num(k2m['rate_per_s'])} msg/s = {pct(k2m['rate_per_s'], raw1)}",
                     verdict(k2m["rate_per_s"] >= 0.9 * raw1)])
    idle = result(cases, "rss-idle")
    if idle:
        rows.append(["Idle worker RSS < 30 MB (issue 8)", mib(idle["rss_kb"]), verdict(idle["rss_kb"] < 30 * 1024)])
    talk = result(cases, "talk")
    if talk:
        s, c = talk["settings"], talk["cars"]
        nominal = s["cars"] * 1000 / s["interval_ms"]
        sustained = c["publish_rate_per_s"] >= 0.95 * nominal
        label = "The talk's load: lost = 0 both ways, car → Kafka p99 < 50 ms"
        if quick:
            label += f" (quick: {s['cars']:,} cars, {s['duration_s']} s)"
        p99 = c["latency_car_to_kafka_ms"]["p99"]
        rows.append([label,
                     f"{num(c['publish_rate_per_s'])} of {num(nominal)} msg/s; lost telemetry = {c['lost_telemetry']}, "
                     f"lost alerts = {c['lost_alerts']}; car → Kafka p99 {p99} ms",
                     verdict(sustained and c["lost_telemetry"] == 0 and c["lost_alerts"] == 0 and p99 < 50)])
    else:
        rows.append(["The talk's load", why_missing(cases, "talk"), NA])
    w(table(["target", "measured", ""], rows) + "\n")
    w("Why a target is not met, from the flame graphs and the sentinels of this run: "
      "[ARCHITECTURE.md, where a source record's time and CPU go]"
      "(ARCHITECTURE.md#where-a-source-records-time-and-cpu-go-issue-15-measured).\n")

    # ---------------------------------------------------------------- 1 raw
    w("## 1. Raw limits\n")
    w("The same 600-byte messages, with nothing but a client library between the benchmark and "
      "the broker: a rumqttc publisher → Mosquitto → a rumqttc subscriber on another connection; "
      "the librdkafka producer with `acks=all`, `enable.idempotence=true`, `linger.ms=5` "
      "(the settings of Ferry's source producer) to a 4-partition topic. Throughput counts from "
      "the first message sent to the last one received (for Kafka: acknowledged).\n")
    rows = []
    for case_id, what in [("raw-mqtt-q0", "Mosquitto, QoS 0"), ("raw-mqtt-q1", "Mosquitto, QoS 1"),
                          ("raw-kafka", "Kafka producer, acks=all, idempotent")]:
        r = result(cases, case_id)
        if r:
            rows.append([what, num(r["sent"]), f"**{num(r['rate_per_s'])}**", r["lost"],
                         r["duplicates"], latency(r), busy(r), link(case_id)])
        else:
            rows.append([what, NA, why_missing(cases, case_id), NA, NA, NA, NA, link(case_id)])
    w(table(["case", "messages", "throughput (msg/s)", "lost", "duplicates",
             "latency under full load p50 / p99 / max (ms)", "machine busy", "command"], rows) + "\n")
    rows = []
    for rate in (1000, 10000):
        for case_id, what in [(f"raw-mqtt-q1-rate-{rate}", f"Mosquitto, QoS 1, {rate:,} msg/s"),
                              (f"raw-kafka-rate-{rate}", f"Kafka producer to acknowledgement, {rate:,} msg/s")]:
            r = result(cases, case_id)
            rows.append([what, num(r["rate_per_s"]) if r else why_missing(cases, case_id),
                         latency(r), r["lost"] if r else NA, link(case_id)])
    w("At fixed load (the references for the latencies through Ferry):\n")
    w(table(["case", "achieved (msg/s)", "latency p50 / p99 / max (ms)", "lost", "command"], rows) + "\n")

    # ---------------------------------------------------------------- 2 m2k
    w("## 2. MQTT → Kafka through Ferry\n")
    w("A rumqttc publisher sends numbered, time-stamped 600-byte messages to an MQTT topic; a Ferry "
      "MQTT source connector (`mqtt.tasks.split=shared`, `kafka.key=none`, persistent session, "
      "manual acks after Kafka) writes them to a 4-partition Kafka topic; a Kafka consumer counts "
      "them. Throughput: every message from the first publish to the last one in Kafka. Ratio: "
      "against raw Mosquitto at the same QoS, same run.\n")
    rows = []
    for qos in (0, 1):
        base = (raw_q[qos] or {}).get("rate_per_s")
        for tasks in (1, 2, 4):
            case_id = f"m2k-q{qos}-t{tasks}"
            r = result(cases, case_id)
            if r:
                rows.append([qos, tasks, num(r["sent"]), f"**{num(r['rate_per_s'])}**",
                             num(base), f"**{pct(r['rate_per_s'], base)}**", r["lost"],
                             r["duplicates"], cpu_per_10k(r), busy(r), link(case_id)])
            else:
                rows.append([qos, tasks, NA, why_missing(cases, case_id), num(base), NA, NA, NA,
                             NA, NA, link(case_id)])
    w(table(["QoS", "tasks", "messages", "throughput (msg/s)", "raw Mosquitto (msg/s)",
             "ratio", "lost", "duplicates", "worker CPU s per 10k msgs", "machine busy",
             "command"], rows) + "\n")
    w("*Machine busy* is the share of both cores in use during the case, by every process "
      "(/proc/stat): near 100 % the drain is paced by the machine, and Ferry's figure rises only "
      "as its CPU per message falls, since every cycle it spends is taken from Mosquitto, Kafka "
      "and the load generator on the same two cores.\n")
    w("Here the publisher sends as fast as Mosquitto takes the messages, so the broker holds a "
      "backlog for the connector's session and the figure is how fast Ferry drains it. The fixed "
      "loads below are the other view: the highest offered load Ferry kept up with. At QoS 0 "
      "Mosquitto may drop messages for a subscriber that cannot keep up: `lost` counts them; at "
      "QoS 1 nothing may be lost.\n")
    w("### With a transformation chain (JSON values, QoS 1, one task)\n")
    w("The same 600-byte JSON messages (`--json`, `mqtt.payload.format=json`) through no "
      "transformation and through three: `InsertField$Value` (a static field and the "
      "timestamp), `ReplaceField$Value` (a rename) and `RegexRouter` (the topic). The two "
      "alternate, three rounds each, because one drain of a backlog varies by tens of percent "
      "on this machine; the ratio is between the medians, same run.\n")
    medians = {}
    rows = []
    for chain in ("none", "three"):
        runs = [r for r in (result(cases, f"m2k-json-{chain}-{i}") for i in (1, 2, 3)) if r]
        if not runs:
            rows.append([chain, why_missing(cases, f"m2k-json-{chain}-1"), NA, NA, NA, NA,
                         link(f"m2k-json-{chain}-1")])
            continue
        round_rates = sorted(r["rate_per_s"] for r in runs)
        medians[chain] = round_rates[len(round_rates) // 2]
        cpu = sorted(cpu_per_10k(r) for r in runs if r.get("worker"))
        rows.append([chain, ", ".join(num(r["rate_per_s"]) for r in runs),
                     f"**{num(medians[chain])}**",
                     f"**{pct(medians[chain], medians['none'])}**" if chain == "three" and "none" in medians else "",
                     sum(r["lost"] for r in runs), cpu[len(cpu) // 2] if cpu else NA,
                     link(f"m2k-json-{chain}-1")])
    w(table(["transformations", "throughput per round (msg/s)", "median (msg/s)",
             "ratio to none", "lost", "worker CPU s per 10k msgs (median)", "command"],
            rows) + "\n")
    w("A drain here is paced by the whole pipeline on two cores (Mosquitto, Kafka, the load "
      "generator and the worker share them), not by the task thread alone, so the chain can even "
      "come out ahead: a task that spends longer per record reads the broker in larger "
      "batches. What the chain itself costs a record (parse, three transformations, serialize) "
      "is a few microseconds; compare the CPU column.\n")
    ab_path = os.path.join(os.path.dirname(os.path.abspath(args.results)), "ab.json")
    if os.path.exists(ab_path):
        with open(ab_path, encoding="utf-8") as f:
            ab = json.load(f)
        w("### Pass-through against an earlier revision (`bench/ab`)\n")
        w(f"The pass-through case (binary messages, QoS 1, one task, no transformations) through "
          f"this revision's worker ({ab['new']}) and {ab['old']}'s, alternating, one worker at a "
          f"time, {len(ab['runs']) // 2} rounds each of {num(ab['messages'])} messages, measured "
          f"{ab['date']} with `{ab['command']}` (not part of `bench/run`).\n")
        rows = []
        for side in ("old", "new"):
            runs = [r for r in ab["runs"] if r["side"] == side]
            rows.append([f"{ab[side]} ({side})", ", ".join(num(r["rate_per_s"]) for r in runs),
                         f"**{num(ab['median_' + side])}**",
                         f"**{pct(ab['median_new'], ab['median_old'])}**" if side == "new" else "",
                         sum(r["lost"] for r in runs)])
        w(table(["worker", "throughput per round (msg/s)", "median (msg/s)", "ratio to old",
                 "lost"], rows) + "\n")
    w("### Latency against offered load (QoS 1, one task)\n")
    rows = []
    for rate in rates:
        case_id = f"m2k-rate-{rate}"
        r = result(cases, case_id)
        raw = result(cases, f"raw-mqtt-q1-rate-{rate}")
        raw_kafka_rate = result(cases, f"raw-kafka-rate-{rate}")
        if r:
            rows.append([num(rate), num(r["rate_per_s"]), latency(r), r["lost"], r["duplicates"],
                         latency(raw) if raw else NA,
                         latency(raw_kafka_rate) if raw_kafka_rate else NA,
                         cpu_per_10k(r), link(case_id)])
        else:
            rows.append([num(rate), why_missing(cases, case_id), NA, NA, NA, NA, NA, NA, link(case_id)])
    w(table(["offered (msg/s)", "achieved (msg/s)", "latency p50 / p99 / max (ms)", "lost",
             "duplicates", "raw Mosquitto QoS 1 at this load (ms)",
             "raw Kafka producer at this load (ms)", "worker CPU s per 10k msgs", "command"],
            rows) + "\n")
    w("Latency is from the moment the publisher hands a message to its MQTT client to the moment "
      "the Kafka consumer receives it (publisher and consumer share one process and clock). It "
      "includes the producer's `linger.ms=5` batching. The raw columns are the two brokers' own "
      "latencies at the same load in the same run: a Ferry message crosses both, so a stall of "
      "either shows in Ferry's p99 and max too. Each case's JSON line has its worst latency per "
      "second of the run (`worst_latency_ms_by_second`), which tells a steady state from one "
      "stall.\n")
    w("### Stalls and the brokers\n")
    w(f"Every second of a fixed-load case whose worst latency passed {STALL_MS} ms, with what the "
      "sentinels saw in the same second: while a case runs, `--sentinels` sends one 600-byte "
      "message every 10 ms straight through Kafka (a librdkafka producer with `acks=all` and "
      "idempotence, timed to a consumer of its own topic, as Ferry's records are) and one through Mosquitto (QoS 1, timed to a subscriber), on paths of "
      "their own. A stall both Ferry and a sentinel show is the broker's (or the machine's): it "
      "counts as the broker's when the sentinel's worst in that second is at least half of "
      "Ferry's (Ferry's path adds `linger.ms`, two hops and the backlog built up meanwhile); one "
      "only Ferry shows is Ferry's own.\n")
    rows = []
    for rate in rates:
        r = result(cases, f"m2k-rate-{rate}")
        if not r:
            continue
        found = stalls(r)
        detail = "; ".join(
            f"s{i}: {ms:.0f} / {k:.0f} / {m:.0f}" if k is not None and m is not None else f"s{i}: {ms:.0f}"
            for i, ms, k, m in found[:12]) + (" …" if len(found) > 12 else "")
        rows.append([num(rate), len(r.get("worst_latency_ms_by_second") or []), len(found),
                     sum(1 for f in found if broker_stalled(f[1], f[2], f[3])) if r.get("sentinels") else NA,
                     detail or "none", link(f"m2k-rate-{rate}")])
    w(table(["offered (msg/s)", "seconds", f"seconds over {STALL_MS} ms",
             "of them with a broker stall", "second: Ferry / Kafka sentinel / Mosquitto sentinel worst (ms)",
             "command"], rows) + "\n")
    if plot_error is None:
        w(f"![Throughput and latency against offered load, MQTT → Kafka]({plot_rel})\n")
    else:
        w(f"(No plot: {plot_error}.)\n")
    # Flame graphs of `bench/run --profile CASE`, this run's and any kept from before a change
    # (profile-<case>-<label>.svg), next to the plot.
    results_dir = os.path.dirname(args.plot)
    profiles = sorted(f for f in os.listdir(results_dir or ".")
                      if f.startswith("profile-") and f.endswith(".svg"))
    if profiles:
        w("CPU profiles of the worker (flame graphs from `bench/run --profile CASE`; perf, DWARF "
          "call graphs, 199 Hz): " + ", ".join(
              f"[{name[len('profile-'):-len('.svg')]}]({os.path.join(results_dir, name)})"
              for name in profiles) + ".\n")

    # ---------------------------------------------------------------- 3 k2m
    w("## 3. Kafka → MQTT through Ferry\n")
    w("A librdkafka producer (`acks=all`, idempotent) writes numbered, time-stamped 600-byte records "
      "to a 4-partition topic; a Ferry MQTT sink connector (1 task, QoS 1) publishes them to MQTT, "
      "on one static topic or on `bench/{key}` over 100 keys; a rumqttc subscriber (QoS 1) counts "
      "them. Ratio: against raw Mosquitto at QoS 1, same run.\n")
    rows = []
    base = (raw_q[1] or {}).get("rate_per_s")
    for case_id, what in [("k2m-static", "static MQTT topic"), ("k2m-keyed", "`bench/{key}`, 100 keys")]:
        r = result(cases, case_id)
        if r:
            rows.append([what, num(r["sent"]), f"**{num(r['rate_per_s'])}**", num(base),
                         f"**{pct(r['rate_per_s'], base)}**", r["lost"], r["duplicates"],
                         cpu_per_10k(r), link(case_id)])
        else:
            rows.append([what, NA, why_missing(cases, case_id), num(base), NA, NA, NA, NA, link(case_id)])
    w(table(["case", "messages", "throughput (msg/s)", "raw Mosquitto QoS 1 (msg/s)", "ratio",
             "lost", "duplicates", "worker CPU s per 10k msgs", "command"], rows) + "\n")
    rows = []
    for rate in (1000, 10000):
        case_id = f"k2m-rate-{rate}"
        r = result(cases, case_id)
        raw = result(cases, f"raw-mqtt-q1-rate-{rate}")
        if r:
            rows.append([num(rate), num(r["rate_per_s"]), latency(r), r["lost"],
                         latency(raw) if raw else NA, link(case_id)])
        else:
            rows.append([num(rate), why_missing(cases, case_id), NA, NA, NA, link(case_id)])
    w(table(["offered (msg/s)", "achieved (msg/s)", "latency p50 / p99 / max (ms)", "lost",
             "raw Mosquitto QoS 1 at this load (ms)", "command"], rows) + "\n")

    # ---------------------------------------------------------------- 4 resources
    w("## 4. Resources\n")
    rows = []
    for case_id, what in [("rss-idle", "worker RSS, idle, no connectors"),
                          ("rss-one-connector", "worker RSS, 1 MQTT source connector (1 task)"),
                          ("rss-ten-connectors", "worker RSS, 10 MQTT source connectors × 4 tasks")]:
        r = result(cases, case_id)
        rows.append([what, mib(r["rss_kb"]) if r else why_missing(cases, case_id), link(case_id)])
    peak = max(((result(cases, i) or {}).get("worker") or {}).get("rss_kb_max", 0)
               for i in order if i.startswith(("m2k-", "k2m-"))) if order else 0
    rows.append(["worker RSS, peak during the MQTT ↔ Kafka cases", mib(peak) if peak else NA, NA])
    r10k = result(cases, "m2k-rate-10000")
    rows.append(["worker CPU per 10k msg/s (MQTT → Kafka, QoS 1, 10k msg/s): CPU seconds per "
                 "10,000 messages = cores busy at 10k msg/s",
                 cpu_per_10k(r10k) if r10k else why_missing(cases, "m2k-rate-10000"),
                 link("m2k-rate-10000")])
    idle_cpu = result(cases, "cpu-idle-ten-connectors")
    rows.append(["worker CPU while idle with 10 connectors × 4 tasks",
                 f"{100 * idle_cpu['cpu_s'] / 10:.1f} % of one core ({idle_cpu['cpu_s']} CPU s in 10 s; "
                 f"{100 * idle_cpu['cpu_s'] / 10 / 40:.2f} % per task)"
                 if idle_cpu else why_missing(cases, "cpu-idle-ten-connectors"),
                 link("cpu-idle-ten-connectors")])
    cold = result(cases, "cold-start")
    if cold:
        runs = ", ".join(f"{x:.0f}" for x in cold["runs_ms"])
        rows.append(["cold start: spawn `ferry standalone` → `GET /` answers 200",
                     f"{cold['median_ms']:.0f} ms median (runs: {runs} ms)", link("cold-start")])
    else:
        rows.append(["cold start", why_missing(cases, "cold-start"), link("cold-start")])
    w(table(["", "measured", "command"], rows) + "\n")
    w("RSS is `VmRSS` of /proc/<pid>/status, measured on the fresh worker before any load (with "
      "the connectors' MQTT sessions up and subscribed); CPU is `utime + stime` of "
      "/proc/<pid>/stat over the run, divided by the messages received / 10,000.\n")

    # ---------------------------------------------------------------- 5 talk
    w("## 5. The talk's load\n")
    if talk:
        s, c, wk = talk["settings"], talk["cars"], talk.get("worker") or {}
        nominal = s["cars"] * 1000 / s["interval_ms"]
        w(f"`connected-cars`: {s['cars']:,} cars over {s['connections']:,} MQTT connections, one "
          f"~0.6 KB message per car every {s['interval_ms'] / 1000:.0f} s (nominal {nominal:,.0f} msg/s) "
          f"for {s['duration_s']} s, QoS {s['qos']}, through the demo's connectors "
          "(`examples/connectors/mqtt-source.json` and `mqtt-sink.json`, with the name and Kafka "
          "topics made unique to the run); the analytics step turns every 20th message of a car "
          "into an alert sent back to that car.\n")
        if talk.get("note"):
            w(f"Note: {talk['note']}.\n")
        if c["alerts_received_by_right_car"] > c["alerts_expected"]:
            w(f"Note: more alerts arrived than were expected "
              f"({c['alerts_received_by_right_car']:,} > {c['alerts_expected']:,}); lost alerts are "
              "computed from the expected set and are not affected. See the fleet's output in the "
              "run's log (target/bench/<run>/talk.out).\n")
        w(table(["", ""], [
            ["published (MQTT)", f"{c['published']:,} ({num(c['publish_rate_per_s'])} msg/s sustained)"],
            ["in Kafka", f"{c['in_kafka']:,} ({c['kafka_duplicates']} duplicates)"],
            ["lost telemetry", f"**{c['lost_telemetry']}**"],
            ["latency car → Kafka p50 / p99 / max", "{p50} / {p99} / {max} ms".format(**c["latency_car_to_kafka_ms"])],
            *([["… of it car → Ferry (MQTT, to the source's receipt) p50 / p99 / max",
                "{p50} / {p99} / {max} ms".format(**c["latency_car_to_ferry_ms"])],
               ["… and Ferry → the analytics consumer (Kafka) p50 / p99 / max",
                "{p50} / {p99} / {max} ms".format(**c["latency_ferry_to_consumer_ms"])]]
              if "latency_car_to_ferry_ms" in c else []),
            ["alerts expected / produced / delivered to the right car",
             f"{c['alerts_expected']:,} / {c['alerts_produced']:,} / {c['alerts_received_by_right_car']:,}"],
            ["lost alerts / to a wrong car", f"**{c['lost_alerts']}** / {c['alerts_to_wrong_car']}"],
            ["latency car → alert back at the car p50 / p99 / max", "{p50} / {p99} / {max} ms".format(**c["latency_car_to_alert_ms"])],
            ["worker RSS max / at the end", f"{mib(wk.get('rss_kb_max'))} / {mib(wk.get('rss_kb_end'))}"],
            ["worker CPU over the run", f"{wk.get('cpu_s', NA)} s"],
            ["command", link("talk")],
        ]) + "\n")
    else:
        w(f"Not measured: {why_missing(cases, 'talk')}.\n")

    # ---------------------------------------------------------------- 6 kafka connect
    w("## 6. Ferry and Kafka Connect side by side\n")
    w("Apache Kafka Connect 4.1.1 (standalone, from Maven Central, with the JVM flags of its own "
      "`connect-standalone.sh`) running the Camel MQTT source connector "
      "(`camel-kafka-connector` 0.11.0 with `camel-paho` 3.11.1, QoS 1, persistent session, "
      "`ByteArrayConverter`), against Ferry's MQTT source: the same Kafka, Mosquitto, load "
      "generator, message size and case shapes, in the same run, one worker running at a time "
      "(`bench/kafka-connect/`). Ratios are Ferry / Kafka Connect: above 1 means Ferry has more "
      "of it (throughput), below 1 means Ferry needs less (latency, CPU, memory, start time).\n")
    if all(result(cases, i) is None for i in ("kc-cold-start", "kc-rss-idle", "kc-m2k-q1-t1")):
        w(f"Not measured: {why_missing(cases, 'kc-m2k-q1-t1')}.\n")
    else:
        def ratio(ferry_value, kc_value, digits=2):
            if ferry_value is None or kc_value in (None, 0):
                return NA
            return f"**{ferry_value / kc_value:.{digits}f}**"

        def figure(case_id, pick, fmt):
            r = result(cases, case_id)
            value = pick(r) if r else None
            return value, (fmt(value) if value is not None else why_missing(cases, case_id) or NA)

        def lat(q):
            return lambda r: (r.get("latency_ms") or {}).get(q)

        def cpu10k(r):
            return ((r or {}).get("worker") or {}).get("cpu_s_per_10k_msgs")

        def peak(r):
            return ((r or {}).get("worker") or {}).get("rss_kb_max")

        def ms(v):
            return f"{v:.1f} ms"

        rows = []
        for label, ferry_id, kc_id, pick, fmt in [
            ("MQTT → Kafka, QoS 1, 1 task, draining a backlog (msg/s)", "m2k-q1-t1", "kc-m2k-q1-t1",
             lambda r: r["rate_per_s"], lambda v: f"{v:,.0f}"),
            ("the same: lost / duplicates", "m2k-q1-t1", "kc-m2k-q1-t1",
             None, None),
            ("the same: worker CPU s per 10k msgs", "m2k-q1-t1", "kc-m2k-q1-t1", cpu10k, lambda v: f"{v:.2f}"),
            ("the same: worker RSS peak", "m2k-q1-t1", "kc-m2k-q1-t1", peak, mib),
            ("latency at 1,000 msg/s, p50", "m2k-rate-1000", "kc-rate-1000", lat("p50"), ms),
            ("latency at 1,000 msg/s, p99", "m2k-rate-1000", "kc-rate-1000", lat("p99"), ms),
            ("latency at 10,000 msg/s, p50", "m2k-rate-10000", "kc-rate-10000", lat("p50"), ms),
            ("latency at 10,000 msg/s, p99", "m2k-rate-10000", "kc-rate-10000", lat("p99"), ms),
            ("latency at 10,000 msg/s, max", "m2k-rate-10000", "kc-rate-10000", lat("max"), ms),
            ("worker CPU s per 10k msgs at 10,000 msg/s", "m2k-rate-10000", "kc-rate-10000", cpu10k, lambda v: f"{v:.2f}"),
            ("RSS, idle, no connectors", "rss-idle", "kc-rss-idle", lambda r: r["rss_kb"], mib),
            ("RSS, one MQTT source connector (1 task), idle", "rss-one-connector", "kc-rss-one-connector",
             lambda r: r["rss_kb"], mib),
            ("cold start: spawn → `GET /` answers 200 (median)", "cold-start", "kc-cold-start",
             lambda r: r["median_ms"], lambda v: f"{v:,.0f} ms"),
        ]:
            if pick is None:
                def delivered(case_id):
                    r = result(cases, case_id)
                    return f"{r['lost']} / {r['duplicates']}" if r else why_missing(cases, case_id) or NA
                rows.append([label, delivered(ferry_id), delivered(kc_id), "",
                             f"{link(ferry_id)}, {link(kc_id)}"])
                continue
            ferry_value, ferry_text = figure(ferry_id, pick, fmt)
            kc_value, kc_text = figure(kc_id, pick, fmt)
            rows.append([label, ferry_text, kc_text, ratio(ferry_value, kc_value),
                         f"{link(ferry_id)}, {link(kc_id)}"])
        w(table(["", "Ferry", "Kafka Connect + Camel", "Ferry / Kafka Connect", "commands"], rows) + "\n")
        w("Lost: sent, acknowledged by Mosquitto, and not in Kafka 10 s after the last record "
          "arrived. Camel's Paho consumer acknowledges a message to the broker as it arrives, "
          "before Kafka has the record, and hands it on through an internal queue; Ferry "
          "acknowledges only after Kafka did, and reads no more than it has room for. "
          "Camel's own defaults are kept (its task waits up to `camel.source.maxPollDuration`, "
          "1 s, to fill a batch of `camel.source.maxBatchPollSize`, 1,000), as a user who "
          "installs it gets them. Each case's worker CPU and RSS are those of the bridge process "
          "alone (Ferry's worker or Kafka Connect's JVM).\n")
        dropped = (result(cases, "kc-log") or {}).get("queue_full_failures")
        if dropped:
            w(f"Kafka Connect's log of this run has {dropped:,} `Failed delivery ... "
              "IllegalStateException: Queue full` errors from the Camel connector: messages it "
              "had already acknowledged to Mosquitto and then dropped, which is where its lost "
              "messages went.\n")

    # ---------------------------------------------------------------- commands
    w("## Commands\n")
    w("Exactly as run (the worker's pid and the run id differ from run to run). The mqtt-to-kafka "
      "and kafka-to-mqtt cases need the worker and connector `bench/run` creates just before; "
      "see bench/run for the connector configs.\n")
    for case_id in order:
        case = cases[case_id]
        w(f'<a id="{case_id}"></a>**{case_id}**: {case["title"]}\n')
        if case.get("command"):
            w("```sh\n" + case["command"] + "\n```\n")
        if "skipped" in case:
            w(f"Skipped: {case['skipped']}\n")
        if "error" in case:
            w(f"Failed: `{case['error']}`\n")

    # bench/soak writes its own section (between these markers); a new bench/run keeps it.
    soak = ""
    if os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as previous:
            text = previous.read()
        begin, end = "<!-- soak:begin -->", "<!-- soak:end -->"
        if begin in text and end in text:
            soak = "\n" + begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
    with open(args.out, "w", encoding="utf-8") as out:
        out.write("\n".join(md) + soak)
    print(f"wrote {args.out}" + ("" if plot_error else f" and {args.plot}"), file=sys.stderr)
    if plot_error:
        print(f"no plot: {plot_error}", file=sys.stderr)


if __name__ == "__main__":
    main()
