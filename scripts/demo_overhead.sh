#!/usr/bin/env bash
# The demo's own overhead, read from its /metrics as Prometheus would: starts `hivesched demo`
# (45 fake agents, one trace step every 2 s) on a free port, scrapes /metrics after SECONDS and
# again SECONDS later, and prints the process's CPU as a share of one core (since start, which
# includes loading the trace and the first forecast fits, then over the second window alone),
# the ticks' own CPU share (hivesched_tick_cpu_seconds_total) and the resident memory.
#
# Usage: scripts/demo_overhead.sh [SECONDS] (default 60; needs the release build:
# `cargo build --release`, or HIVESCHED_BIN=path).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="${HIVESCHED_BIN:-target/release/hivesched}"
secs="${1:-60}"
work="$(mktemp -d)"
"$bin" demo --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$work/log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
url=""
for _ in $(seq 1 300); do
  url="$(sed -n 's/^url: //p' "$work/out")"
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "the demo printed no url" >&2; exit 1; }

value() { awk -v n="$1" '$1 == n { print $2 }' "$2"; }
scrape() { curl -sf "$url/metrics" >"$1"; date +%s.%N; }
sleep "$secs"
t1="$(scrape "$work/m1")"
sleep "$secs"
t2="$(scrape "$work/m2")"

start="$(value process_start_time_seconds "$work/m1")"
cpu1="$(value process_cpu_seconds_total "$work/m1")"
cpu2="$(value process_cpu_seconds_total "$work/m2")"
tick1="$(value hivesched_tick_cpu_seconds_total "$work/m1")"
tick2="$(value hivesched_tick_cpu_seconds_total "$work/m2")"
ticks1="$(value hivesched_ticks_total "$work/m1")"
ticks2="$(value hivesched_ticks_total "$work/m2")"
rss="$(value process_resident_memory_bytes "$work/m2")"
awk -v s="$start" -v t1="$t1" -v t2="$t2" -v c1="$cpu1" -v c2="$cpu2" -v k1="$tick1" \
  -v k2="$tick2" -v n1="$ticks1" -v n2="$ticks2" -v rss="$rss" 'BEGIN {
  printf "process CPU, first %.0f s since start: %.2f %% of one core\n", t1 - s, 100 * c1 / (t1 - s)
  printf "process CPU, next %.0f s: %.2f %% of one core (rate(process_cpu_seconds_total))\n", t2 - t1, 100 * (c2 - c1) / (t2 - t1)
  printf "ticks CPU, next %.0f s: %.3f %% of one core over %d ticks, %.2f ms per tick (rate(hivesched_tick_cpu_seconds_total))\n", t2 - t1, 100 * (k2 - k1) / (t2 - t1), n2 - n1, 1000 * (k2 - k1) / (n2 - n1)
  printf "resident memory: %.1f MB (process_resident_memory_bytes)\n", rss / 1e6
}'
