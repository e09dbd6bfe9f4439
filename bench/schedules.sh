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
# SKIP_BUILD [0], SIGNALBOX_BIN, KEEP_TMP [0], PEER [1], PYTHON [python3], STORE_EXTRA (more
# `store:` settings, e.g. "schedule_lease: 60s").
# Then, unless PEER=0, the peer in the same session (signalbox stopped first, so they do not
# compete): bench/apscheduler_peer.py, APScheduler 3.x AsyncIOScheduler with PER_SECOND in-memory
# jobs firing every second, same WARMUP and DURATION (installed with pip if missing), and a
# combined table: fires/s | missed | lateness p50/p99/max | CPU | RSS, with signalbox/peer ratios.
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
import os, sys
path, total, per_second, port, tmp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
with open(f"{path}/00-server.yaml", "w") as f:
    f.write(f'server: {{ listen: "127.0.0.1:{port}" }}\n')
    extra = os.environ.get("STORE_EXTRA", "")
    f.write(f'store: {{ url: "sqlite://{tmp}/sb.db"{", " + extra if extra else ""} }}\n')
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
python3 - "$TMP/m0" "$TMP/m1" "$T0" "$T1" "$HZ" "$START" "$END" "$RSS" "$TOTAL" "$PER_SECOND" "$TMP/signalbox.json" <<'PY'
import sys, re, json
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
d = lambda k: f1.get(k, 0) - f0.get(k, 0)
fired = sum(d(k) for k in f1 if 'outcome="missed"' not in k and 'outcome="failed"' not in k and 'outcome="suppressed"' not in k)
json.dump({
    "scenario": f"signalbox, {total} schedules, SQLite",
    "fires_per_s": fired / span,
    "missed": sum(d(k) for k in f1 if 'outcome="missed"' in k),
    "failed": sum(d(k) for k in f1 if 'outcome="failed"' in k),
    "p50_s": q(0.5) if n else float("nan"), "p99_s": q(0.99) if n else float("nan"), "max_s": q(1.0) if n else float("nan"),
    "bounds": [le for le, _ in buckets],
    "cpu_pct": (t1-t0)/hz/span*100, "rss_kib": rss,
}, open(sys.argv[11], "w"))
PY

[ "${PEER:-1}" = 1 ] || exit 0
# The peer runs alone: stop signalbox first.
kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
PID=""
PY_BIN="${PYTHON:-python3}"
if ! "$PY_BIN" -c 'import apscheduler, sys; sys.exit(0 if apscheduler.__version__.startswith("3.") else 1)' 2>/dev/null; then
  "$PY_BIN" -m pip install --quiet 'apscheduler>=3.10,<4' >&2
fi
echo
"$PY_BIN" "$ROOT/bench/apscheduler_peer.py" --jobs "$PER_SECOND" --duration "${DURATION%.*}" \
  --warmup "$WARMUP" --json "$TMP/peer.json" --samples
echo
python3 - "$TMP/signalbox.json" "$TMP/peer.json" "$PER_SECOND" <<'PY'
import sys, json, math
sb, peer, per_second = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
bounds = sb["bounds"]
def bucketed(v):  # the peer's exact value as the signalbox histogram bucket it would fall in
    for b in bounds:
        if v <= b: return b
    return float("inf")
def ms(v): return "n/a" if v != v else f"{v*1000:g}"
def le(v): return "n/a" if v != v else ("> last bucket" if v == float("inf") else f"≤ {v*1000:g}")
print(f"## Side by side: {per_second} jobs firing every second")
print("| scenario | fires/s | missed | lateness p50 / p99 / max (ms) | CPU (% of a core) | RSS (MiB) |")
print("|---|---|---|---|---|---|")
print(f"| {sb['scenario']} | {sb['fires_per_s']:.0f} | {sb['missed']:.0f} (failed {sb['failed']:.0f}) | "
      f"{le(sb['p50_s'])} / {le(sb['p99_s'])} / {le(sb['max_s'])} (bucket bounds) | {sb['cpu_pct']:.0f} | {sb['rss_kib']/1024:.0f} |")
print(f"| {peer['scenario']} | {peer['fires_per_s']:.0f} | {peer['missed']} | "
      f"{peer['p50_s']*1000:.0f} / {peer['p99_s']*1000:.0f} / {peer['max_s']*1000:.0f} (exact) | {peer['cpu_pct']:.0f} | {peer['rss_kib']/1024:.0f} |")
if peer.get("lateness_s") and bounds:
    print(f"| {peer['scenario']}, same buckets | | | {le(bucketed(peer['p50_s']))} / {le(bucketed(peer['p99_s']))} / {le(bucketed(peer['max_s']))} | | |")
r = lambda a, b: f"{a/b:.2f}×" if b and a == a and b == b and not math.isinf(a) else "n/a"
print(f"- p99 lateness signalbox/peer: {r(sb['p99_s'], peer['p99_s'])} (signalbox bucket bound over the peer's exact p99; "
      f"{r(sb['p99_s'], bucketed(peer['p99_s']))} with both as bucket bounds); "
      f"CPU {r(sb['cpu_pct'], peer['cpu_pct'])}; RSS {r(sb['rss_kib'], peer['rss_kib'])} "
      f"(signalbox holds {sb['scenario'].split(',')[1].strip()} and writes every fire durably; the peer holds {per_second} jobs in memory)")
PY
