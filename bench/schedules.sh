#!/usr/bin/env bash
# Scheduler benchmark: one signalbox process on SQLite (WAL, synchronous=FULL) holding
# TOTAL schedules (default 100,000), PER_SECOND of them (default 10,000) firing every second,
# the rest daily. Fires are durable events (no targets, no matching rule).
#
#   bash bench/schedules.sh
#
# Reports, from the process's own /metrics after a warm-up: fires per outcome, the lateness
# histogram of on-time fires (scheduled time → commit of the fire transaction) as p50/p99/max
# bucket bounds and as the share of fires per bucket, CPU (utime+stime over the measured span)
# and RSS. The machine's load average is printed too: on a shared machine it moves lateness.
# Environment: TOTAL, PER_SECOND, DURATION [20] seconds measured, WARMUP [10] seconds,
# SKIP_BUILD [0], SIGNALBOX_BIN, KEEP_TMP [0].
# The APScheduler peer run is not part of this script yet.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOTAL="${TOTAL:-100000}"
PER_SECOND="${PER_SECOND:-10000}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-10}"
BIN="${SIGNALBOX_BIN:-${CARGO_TARGET_DIR:-target}/release/signalbox}"
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -p signalbox >&2

TMP="$(mktemp -d)"
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TMP/config"
# Several files: the YAML reader caps nodes per document, and a directory of files is merged.
python3 - "$TMP/config" "$TOTAL" "$PER_SECOND" "$PORT" "$TMP" <<'PY'
import sys
path, total, per_second, port, tmp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
with open(f"{path}/00-server.yaml", "w") as f:
    f.write(f'server: {{ listen: "127.0.0.1:{port}" }}\n')
    f.write(f'store: {{ url: "sqlite://{tmp}/sb.db" }}\n')
per_file = 20000
for start in range(0, total, per_file):
    with open(f"{path}/schedules-{start:06d}.yaml", "w") as f:
        f.write("schedules:\n")
        for i in range(start, min(total, start + per_file)):
            cron = "* * * * * *" if i < per_second else "0 H H * * ?"
            f.write(f'  s{i:06d}: {{ cron: "{cron}" }}\n')
PY
SIGNALBOX_LOG=warn "$BIN" serve --config "$TMP/config" 2>"$TMP/log" &
PID=$!
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
sleep "$WARMUP"
ticks() { awk '{print $14+$15}' "/proc/$PID/stat"; }
metric() { curl -fs "http://127.0.0.1:$PORT/metrics"; }
T0=$(ticks); metric >"$TMP/m0"; START=$(date +%s.%N)
sleep "$DURATION"
T1=$(ticks); metric >"$TMP/m1"; END=$(date +%s.%N)
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
HZ=$(getconf CLK_TCK)
python3 - "$TMP/m0" "$TMP/m1" "$T0" "$T1" "$HZ" "$START" "$END" "$RSS" "$TOTAL" "$PER_SECOND" <<'PY'
import sys, re
m0, m1 = open(sys.argv[1]).read(), open(sys.argv[2]).read()
t0, t1, hz, start, end, rss = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
total, per_second = int(sys.argv[9]), int(sys.argv[10])
def series(text, name):
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out
f0, f1 = series(m0, "signalbox_schedule_fires_total"), series(m1, "signalbox_schedule_fires_total")
b0, b1 = series(m0, "signalbox_schedule_fire_lateness_seconds_bucket"), series(m1, "signalbox_schedule_fire_lateness_seconds_bucket")
span = end - start
print(f"## signalbox scheduler: {total} schedules, {per_second} every second, SQLite, {span:.1f} s measured")
for k in sorted(f1):
    print(f"- {k}: {f1[k]-f0.get(k,0):.0f} ({(f1[k]-f0.get(k,0))/span:.0f}/s)")
buckets = sorted(((float(re.search(r'le="([^"]+)"', k).group(1)), b1[k]-b0.get(k,0)) for k in b1), key=lambda x: x[0])
n = buckets[-1][1] if buckets else 0
def q(p):
    for le, c in buckets:
        if c >= p*n: return le
    return float("inf")
if n:
    print(f"- lateness (commit of the fire − scheduled time), bucket upper bounds: p50 ≤ {q(0.5)*1000:g} ms, p99 ≤ {q(0.99)*1000:g} ms, max ≤ {q(1.0)*1000:g} ms ({n:.0f} on-time fires)")
    hist, prev = [], 0.0
    for le, c in buckets:
        if c - prev > 0:
            hist.append(f"≤ {le*1000:g} ms: {100*(c-prev)/n:.1f}%")
        prev = c
    print("- lateness histogram: " + "; ".join(hist))
print(f"- CPU: {(t1-t0)/hz/span*100:.0f}% of one core; RSS: {rss/1024:.0f} MiB ({rss*1024/total:.0f} bytes per schedule, all included)")
print(f"- load average at the end: {open('/proc/loadavg').read().split()[0]}")
PY
