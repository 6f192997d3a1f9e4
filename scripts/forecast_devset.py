#!/usr/bin/env python3
"""The forecasting development set: extract it, run the fixed protocol on it, print the table.

The eight NAB traces in ../shared/data/traces/nab are the TEST set; every choice in crates/forecast
(pool, members, weights, calibration, thresholds) is made on this development set instead: real NAB
series that are not those eight, and the Azure LLM inference trace. NAB's data is not committed; this
script extracts it from a NAB checkout into data/devset/ (gitignored).

  extract:  python3 scripts/forecast_devset.py extract --nab /path/to/NAB   (a checkout or a bare git dir)
  run:      .sfvenv/bin/python scripts/forecast_devset.py run [--only NAME,...] [--skip-statsforecast]
  table:    python3 scripts/forecast_devset.py table
  coverage: python3 scripts/forecast_devset.py coverage [--bin B] [--only NAME,...] [--test]   (ours only, no statsforecast)

Protocol (the same for every series, fixed before looking at results): ../shared/bench/statsforecast_compare.py
with its defaults — 8 rolling origins one horizon apart at the end, a one-day horizon (daily period from the
sampling interval), at most four weeks of training history, MASE scaled by the in-sample seasonal-naive MAE at
the daily lag, statsforecast's SeasonalNaive, AutoETS, MSTL+AutoETS (and AutoARIMA, MSTL+AutoARIMA where the
script runs them). The Azure trace is an hour of requests, so it is counted per second and run with
--season 60 --no-weekly (a one-minute horizon): the only series where the protocol's calendar does not apply.
Coverage: `hivesched backtest --trace FILE --origins 8 --models auto` (95 % interval, same splits). `coverage`
prints it for every series (`--test`: the eight test traces) without running statsforecast; where `backtest`
refuses a series (the Azure counts: no daily MASE scale; machine_temperature_system_failure: rows out of order
outside the windows), it scores the 95 % bands of `hivesched forecast` on the compare script's splits instead.

statsforecast results do not depend on our code: `run` keeps each series' full run in out/devset/NAME.sf.json
and, with --skip-statsforecast, reruns only hivesched and reads statsforecast's numbers (and seconds per fit)
from there.
"""
import argparse
import csv
import glob
import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data", "devset")
OUT = os.path.join(ROOT, "out", "devset")
COMPARE = os.path.join(ROOT, "..", "shared", "bench", "statsforecast_compare.py")
AZURE = os.path.join(ROOT, "..", "shared", "data", "traces", "azure")

# NAB series on a regular grid that are long enough for 8 one-day origins, minus the eight test traces
# (nyc_taxi, rds_cpu_utilization_e47b3b, Twitter_volume_AMZN, Twitter_volume_GOOG, ec2_cpu_utilization_5f5533,
# elb_request_count_8c0756, grok_asg_anomaly, cpu_utilization_asg_misconfiguration). Left out: the artificial
# series (not real), realTraffic (a quarter of the steps missing), iio_us-east-1 (4 days < 8 origins + 2 days).
NAB_5MIN = [
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d",
    "realAWSCloudwatch/ec2_cpu_utilization_53ea38",
    "realAWSCloudwatch/ec2_cpu_utilization_77c1ca",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2",
    "realAWSCloudwatch/ec2_cpu_utilization_ac20cd",
    "realAWSCloudwatch/ec2_cpu_utilization_c6585a",
    "realAWSCloudwatch/ec2_cpu_utilization_fe7f93",
    "realAWSCloudwatch/ec2_disk_write_bytes_1ef3de",
    "realAWSCloudwatch/ec2_disk_write_bytes_c0d644",
    "realAWSCloudwatch/ec2_network_in_257a54",
    "realAWSCloudwatch/ec2_network_in_5abac7",
    "realAWSCloudwatch/rds_cpu_utilization_cc0c53",
    "realKnownCause/ec2_request_latency_system_failure",
    "realKnownCause/machine_temperature_system_failure",
    "realKnownCause/rogue_agent_key_updown",
    "realTweets/Twitter_volume_AAPL",
    "realTweets/Twitter_volume_FB",
]
NAB_HOURLY = [
    "realKnownCause/ambient_temperature_system_failure",
    "realAdExchange/exchange-2_cpc_results",
    "realAdExchange/exchange-2_cpm_results",
    "realAdExchange/exchange-3_cpc_results",
    "realAdExchange/exchange-3_cpm_results",
    "realAdExchange/exchange-4_cpc_results",
    "realAdExchange/exchange-4_cpm_results",
]
# Tweet volumes summed to 30 minutes: clean, strongly daily + weekly series of 1 300-1 700 training points,
# the kind where MSTL with an ETS remainder does well (other tickers than the 5-minute ones above).
NAB_30MIN = [
    "realTweets/Twitter_volume_CRM",
    "realTweets/Twitter_volume_CVS",
    "realTweets/Twitter_volume_IBM",
    "realTweets/Twitter_volume_KO",
    "realTweets/Twitter_volume_PFE",
    "realTweets/Twitter_volume_UPS",
]
FMT = "%Y-%m-%d %H:%M:%S"
# Per-series compare flags (only the Azure counts deviate from the defaults; see the docstring).
FLAGS = {"azure_code_1s": ["--season", "60", "--no-weekly"], "azure_conv_1s": ["--season", "60", "--no-weekly"]}


def nab_read(nab, rel):
    """Rows of data/<rel>.csv from a NAB checkout (directory) or a bare git directory."""
    path = os.path.join(nab, "data", rel + ".csv")
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = subprocess.run(
            ["git", "--git-dir", nab, "show", f"HEAD:data/{rel}.csv"], capture_output=True, text=True, check=True
        ).stdout
    rows = list(csv.reader(text.splitlines()))
    return [(r[0], float(r[1])) for r in rows[1:]]


def write(name, rows):
    with open(os.path.join(DATA, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        w.writerows((t, repr(v)) for t, v in rows)


def sum_to(rows, seconds):
    """Sums onto a grid of `seconds`; only whole buckets (every 5-minute step present) are kept."""
    sums, counts = {}, Counter()
    for t, v in rows:
        ts = datetime.strptime(t[:19], FMT)
        b = datetime.fromtimestamp((int(ts.timestamp()) // seconds) * seconds)
        sums[b] = sums.get(b, 0.0) + v
        counts[b] += 1
    full = max(counts.values())
    keys = sorted(k for k in sums if counts[k] == full)
    return [(k.strftime(FMT), sums[k]) for k in keys]


def azure_counts(path):
    """Requests per second over the trace's span (an event log, one row per request)."""
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    secs = [datetime.strptime(r[0][:19], FMT) for r in rows]
    c = Counter(secs)
    t, end, out = min(secs), max(secs), []
    while t <= end:
        out.append((t.strftime(FMT), float(c.get(t, 0))))
        t += timedelta(seconds=1)
    return out


def extract(a):
    os.makedirs(DATA, exist_ok=True)
    for rel in NAB_5MIN + NAB_HOURLY:
        write(os.path.basename(rel), nab_read(a.nab, rel))
    for rel in NAB_30MIN:
        write(os.path.basename(rel) + "_30min", sum_to(nab_read(a.nab, rel), 1800))
    for kind in ("code", "conv"):
        p = os.path.join(AZURE, f"AzureLLMInferenceTrace_{kind}.csv")
        if os.path.exists(p):
            write(f"azure_{kind}_1s", azure_counts(p))
    print(f"{len(series())} series in {DATA}")


def series():
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(DATA, "*.csv")))


def run(a):
    os.makedirs(OUT, exist_ok=True)
    names = a.only.split(",") if a.only else series()
    binary = os.path.abspath(a.bin)
    for name in names:
        trace = os.path.join(DATA, name + ".csv")
        sf = os.path.join(OUT, name + ".sf.json")
        ours = os.path.join(OUT, name + a.tag + ".json")
        full = not a.skip_statsforecast
        cmd = [sys.executable, COMPARE, "--trace", trace, "--bin", binary, "--json", ours] + FLAGS.get(name, [])
        if not full:
            cmd.append("--skip-statsforecast")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: compare failed: {r.stderr.strip()[-400:]}", file=sys.stderr)
            continue
        if full:
            with open(ours) as f:
                doc = json.load(f)
            with open(sf, "w") as f:
                json.dump(doc, f, indent=1)
        if a.coverage:
            b = subprocess.run(
                [binary, "backtest", "--trace", trace, "--origins", "8", "--models", "auto", "--json"]
                + (coverage_flags(FLAGS[name][1]) if name in FLAGS else []),
                capture_output=True,
                text=True,
            )
            cov = coverage_of(b.stdout) if b.returncode == 0 else None
            with open(ours) as f:
                doc = json.load(f)
            doc["coverage95"] = cov
            with open(ours, "w") as f:
                json.dump(doc, f, indent=1)
        print(row(name, a.tag), flush=True)
    print(summary(names, a.tag))


def coverage_flags(season):
    """`hivesched backtest` flags giving the compare script's splits for a `--season` override."""
    m = int(season)
    return ["--season", season, "--horizon", season, "--history", str(28 * m)]


def coverage_of(text):
    """The ensemble's 95 % coverage from `hivesched backtest --json` (`models[0].coverage`: [level, share] pairs)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    for level, share in doc["models"][0].get("coverage", []):
        if abs(level - 95.0) < 1e-9:
            return share
    return None


def forecast_coverage(binary, trace, season):
    """95 % coverage of `hivesched forecast`'s bands on statsforecast_compare.py's splits (8 origins, one day)."""
    import tempfile

    with open(trace) as f:
        rows = list(csv.reader(f))[1:]
    ts, y = [r[0] for r in rows], [float(r[1]) for r in rows]
    if season:
        m = int(season)
    else:
        d = [(datetime.strptime(b[:19], FMT) - datetime.strptime(a[:19], FMT)).total_seconds() for a, b in zip(ts[:200], ts[1:201])]
        m = max(1, round(86400 / int(statistics.median(d))))
    h, origins = m, 8
    hist = min(len(y) - h * origins, 28 * m)
    covs = []
    for k in range(origins):
        end = len(y) - h * (origins - k)
        start = max(0, end - hist)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "train.csv")
            with open(path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["timestamp", "value"])
                w.writerows(zip(ts[start:end], (repr(v) for v in y[start:end])))
            cmd = [binary, "forecast", "--input", path, "--horizon", str(h), "--level", "95"]
            r = subprocess.run(cmd + (["--season", season] if season else []), capture_output=True, text=True)
        if r.returncode != 0:
            return None
        iv = json.loads(r.stdout)["intervals"]["95"]
        test = y[end : end + h]
        covs.append(sum(1 for j, v in enumerate(test) if iv["lo"][j] <= v <= iv["hi"][j]) / len(test))
    return sum(covs) / len(covs)


def coverage(a):
    """95 % coverage of ours on every series (no statsforecast), `backtest` first, forecast bands as the fallback."""
    binary = os.path.abspath(a.bin)
    if a.test:
        traces = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "traces", "nab", "*.csv")))
    else:
        traces = [os.path.join(DATA, n + ".csv") for n in series()]
    only = set(a.only.split(",")) if a.only else None
    covs = []
    for trace in traces:
        name = os.path.splitext(os.path.basename(trace))[0]
        if only and name not in only:
            continue
        b = subprocess.run(
            [binary, "backtest", "--trace", trace, "--origins", "8", "--models", "auto", "--level", "95", "--json"]
            + (coverage_flags(FLAGS[name][1]) if name in FLAGS else []),
            capture_output=True,
            text=True,
        )
        cov, how = (coverage_of(b.stdout), "backtest") if b.returncode == 0 else (None, b.stderr.strip()[-100:])
        if cov is None:
            refused = how
            cov, how = forecast_coverage(binary, trace, FLAGS[name][1] if name in FLAGS else None), "forecast bands"
            if cov is None:
                how = f"refused: {refused}"
        if cov is not None:
            covs.append(cov)
        print(f"| {name} | {'–' if cov is None else f'{cov:.3f}'} | {how} |", flush=True)
    if covs:
        inside = sum(1 for c in covs if 0.90 <= c <= 0.98)
        print(f"95 % coverage {min(covs):.3f}–{max(covs):.3f}, in [0.90, 0.98] on {inside} of {len(covs)}")


def load(name, tag=""):
    ours = os.path.join(OUT, name + tag + ".json")
    sf = os.path.join(OUT, name + ".sf.json")
    if not os.path.exists(ours) or not os.path.exists(sf):
        return None
    with open(ours) as f:
        o = json.load(f)
    with open(sf) as f:
        s = json.load(f)
    hs = o["results"]["hivesched"]
    sfr = {k: v for k, v in s["results"].items() if k.startswith("sf:")}
    best = min(sfr, key=lambda k: sfr[k]["mase"])
    mstl = [v["seconds_per_fit_median"] for k, v in sfr.items() if k.startswith("sf:MSTL")]
    return {
        "name": name,
        "ours": hs["mase"],
        "best": best,
        "best_mase": sfr[best]["mase"],
        "snaive": sfr.get("sf:SeasonalNaive", {}).get("mase"),
        "ratio": hs["mase"] / sfr[best]["mase"],
        "ours_s": hs["seconds_per_fit_median"],
        "mstl_s": min(mstl) if mstl else None,
        "speed": (min(mstl) / hs["seconds_per_fit_median"]) if mstl else None,
        "cov": o.get("coverage95"),
        "model": hs.get("model"),
    }


def row(name, tag=""):
    r = load(name, tag)
    if r is None:
        return f"| {name} | – |"
    cov = "–" if r["cov"] is None else f"{r['cov']:.3f}"
    return (
        f"| {name} | {r['ours']:.3f} | {r['best_mase']:.3f} {r['best'][3:]} | {r['ratio']:.3f} | "
        f"{r['ours_s']:.3f} s | {r['mstl_s']:.3f} s | {r['speed']:.1f}× | {cov} |"
    )


def summary(names, tag=""):
    rs = [r for r in (load(n, tag) for n in names) if r is not None]
    if not rs:
        return "no results"
    ratios = [r["ratio"] for r in rs]
    speeds = [r["speed"] for r in rs if r["speed"]]
    covs = [r["cov"] for r in rs if r["cov"] is not None]
    wins = sum(1 for x in ratios if x <= 1.0)
    s = (
        f"series {len(rs)}: median MASE ratio (ours / statsforecast's best) {statistics.median(ratios):.3f}, "
        f"geometric mean {statistics.geometric_mean(ratios):.3f}, ours ≤ best on {wins}; "
        f"speed vs MSTL per fit min {min(speeds):.1f}×, median {statistics.median(speeds):.1f}×"
    )
    if covs:
        inside = sum(1 for c in covs if 0.90 <= c <= 0.98)
        s += f"; 95 % coverage {min(covs):.3f}–{max(covs):.3f}, in [0.90, 0.98] on {inside} of {len(covs)}"
    return s


def table(a):
    names = a.only.split(",") if a.only else series()
    print("| series | hivesched MASE | statsforecast best | ratio | ours s/forecast | sf MSTL s/fit | speed | 95 % cov |")
    print("|---|---|---|---|---|---|---|---|")
    for n in names:
        print(row(n, a.tag))
    print()
    print(summary(names, a.tag))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--nab", required=True, help="NAB checkout or bare git directory")
    r = sub.add_parser("run")
    r.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "hivesched"))
    r.add_argument("--only", help="comma-separated series names")
    r.add_argument("--skip-statsforecast", action="store_true", help="run hivesched only; statsforecast from out/devset/NAME.sf.json")
    r.add_argument("--coverage", action="store_true", help="also run `hivesched backtest` for 95 % coverage")
    r.add_argument("--tag", default="", help="suffix of the result files (experiments side by side)")
    t = sub.add_parser("table")
    t.add_argument("--only")
    t.add_argument("--tag", default="")
    c = sub.add_parser("coverage")
    c.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "hivesched"))
    c.add_argument("--only", help="comma-separated series names")
    c.add_argument("--test", action="store_true", help="the eight test traces instead of the development set")
    a = ap.parse_args()
    {"extract": extract, "run": run, "table": table, "coverage": coverage}[a.cmd](a)


if __name__ == "__main__":
    main()
