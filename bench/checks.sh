#!/usr/bin/env bash
# Monitor benchmark (issue 6): CHECKS HTTP checks (default 10,000), each every second, against a
# local nginx serving a small JSON health document, on SQLite; then the peers in the same run
# against the same nginx: a Python asyncio/aiohttp checker (bench/aiohttp_checker.py) and Debian's
# prometheus-blackbox-exporter driven by wrk.
#
#   bash bench/checks.sh
#
# signalbox is measured from its own /metrics after WARMUP seconds, over DURATION seconds:
# check runs/s (signalbox_check_runs_total), lag = start − scheduled time
# (signalbox_check_lag_seconds, p50/p99 as histogram bucket upper bounds), CPU of the process
# (utime+stime) and RSS, with keep-alive and (MODES) with a new connection per check
# (`http.keep_alive: false`).
# The aiohttp checker runs at each rate of PEER_RATES (checks/s, one check per second each),
# keep-alive and new connections, with exact lags; its best rate with p99 lag ≤ 100 ms is the one
# compared. blackbox_exporter is a pull prober (no schedule, so no lag): wrk drives
# /probe?module=http_json with WRK_CONNECTIONS connections; its probes/s is its ceiling and every
# probe opens a new connection (it builds a client per probe).
# Environment: CHECKS [10000], DURATION [15] s, WARMUP [20] s, MODES ["keepalive newconn"],
# NEWCONN_CHECKS [5000] (checks in the new-connection run), PEER_RATES ["1000 2000 3000 4000 6000"],
# PEERS [1], WRK_CONNECTIONS [32], SKIP_BUILD [0], SIGNALBOX_BIN, KEEP_TMP [0].
# Installs nginx-light, wrk, prometheus-blackbox-exporter (apt) and aiohttp (pip) if missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CHECKS="${CHECKS:-10000}"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-20}"
MODES="${MODES-keepalive newconn}"
NEWCONN_CHECKS="${NEWCONN_CHECKS:-5000}"
PEER_RATES="${PEER_RATES:-1000 2000 3000 4000 6000}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-32}"
BIN="${SIGNALBOX_BIN:-${CARGO_TARGET_DIR:-target}/release/signalbox}"

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v prometheus-blackbox-exporter >/dev/null || missing+=(prometheus-blackbox-exporter)
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
  # The Debian package starts a system service on :9115; it is not the one measured here.
  systemctl stop prometheus-blackbox-exporter 2>/dev/null || true
fi
python3 -c 'import aiohttp' 2>/dev/null || python3 -m pip install --quiet aiohttp >&2
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -p signalbox >&2

TMP="$(mktemp -d)"
# nginx workers drop privileges when started as root; they must reach the health file.
chmod 755 "$TMP"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "not ready: $1" >&2; return 1
}

# nginx: the checked service, tuned as in bench/ingest.sh (one worker per core, no access log,
# connections kept for the whole run).
NGINX_PORT="$(free_port)"
mkdir -p "$TMP/nginx/html" "$TMP/nginx/logs" "$TMP/nginx/tmp"
printf '{"status":"ok","app":"bench","version":"1.2.3"}\n' >"$TMP/nginx/html/health"
chmod -R a+rX "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    default_type application/json;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=60s;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        root $TMP/nginx/html;
    }
}
EOF
"$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" -g 'daemon off;' >"$TMP/nginx/logs/stdout.log" 2>&1 &
PIDS+=($!)
HEALTH="http://127.0.0.1:$NGINX_PORT/health"
wait_http "$HEALTH"
ulimit -n 65536 2>/dev/null || true
echo "# Monitor benchmark: $(nproc) cores, $(date -u +%FT%TZ), nginx $("$NGINX" -v 2>&1 | sed 's/.*\///')"

# signalbox: one run per mode.
run_signalbox() { # mode checks
  local mode=$1 n=$2 port dir pid
  port="$(free_port)"
  dir="$TMP/sb-$mode"
  mkdir -p "$dir/config"
  python3 - "$dir" "$n" "$port" "$HEALTH" "$mode" <<'PY'
import sys
d, n, port, url, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
with open(f"{d}/config/00-server.yaml", "w") as f:
    f.write(f'server: {{ listen: "127.0.0.1:{port}" }}\n')
    f.write(f'store: {{ url: "sqlite://{d}/sb.db" }}\n')
keep = "" if mode == "keepalive" else ", keep_alive: false"
per_file = 5000
for start in range(0, n, per_file):
    with open(f"{d}/config/checks-{start:06d}.yaml", "w") as f:
        f.write("checks:\n")
        for i in range(start, min(n, start + per_file)):
            f.write(f'  c{i:06d}: {{ http: {{ url: "{url}?c={i}"{keep} }}, schedule: {{ every: 1s }}, '
                    f'assert: [\'json.status == "ok"\'] }}\n')
PY
  SIGNALBOX_LOG=warn "$BIN" serve --config "$dir/config" 2>"$dir/log" &
  pid=$!
  PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/healthz"
  sleep "$WARMUP"
  local t0 t1 s0 s1 rss
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  curl -fs "http://127.0.0.1:$port/metrics" >"$dir/m0"
  s0=$(date +%s.%N)
  sleep "$DURATION"
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  s1=$(date +%s.%N)
  curl -fs "http://127.0.0.1:$port/metrics" >"$dir/m1"
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$dir" "$n" "$mode" "$t0" "$t1" "$s0" "$s1" "$rss" "$(getconf CLK_TCK)" <<'PY'
import sys, re, json
d, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t0, t1, s0, s1, rss, hz = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
def parse(path):
    runs, fails, buckets = 0.0, 0.0, {}
    for line in open(path):
        if line.startswith("signalbox_check_runs_total"):
            v = float(line.rsplit(" ", 1)[1]); runs += v
            if 'result="failure"' in line: fails += v
        elif line.startswith("signalbox_check_lag_seconds_bucket"):
            le = float(re.search(r'le="([^"]+)"', line).group(1))
            buckets[le] = buckets.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    return runs, fails, buckets
r0, f0, b0 = parse(f"{d}/m0"); r1, f1, b1 = parse(f"{d}/m1")
span = s1 - s0
b = sorted((le, b1[le] - b0.get(le, 0)) for le in b1)
total = b[-1][1] if b else 0
def q(p):
    for le, c in b:
        if c >= p * total: return le
    return float("nan")
out = {"scenario": f"signalbox ({'keep-alive' if mode == 'keepalive' else 'new connection per check'})",
       "checks": n, "offered_per_s": n, "checks_per_s": (r1 - r0) / span, "failed": f1 - f0,
       "lag_p50_s": q(0.5), "lag_p99_s": q(0.99), "lag_max_s": q(1.0),
       "cpu_pct": (t1 - t0) / hz / span * 100, "rss_kib": rss, "buckets": True}
print(f"- {out['scenario']}, {n} checks every 1 s: {out['checks_per_s']:.0f} checks/s "
      f"(failed {out['failed']:.0f}), lag p50 ≤ {out['lag_p50_s']*1000:g} ms, p99 ≤ {out['lag_p99_s']*1000:g} ms, "
      f"max ≤ {out['lag_max_s']*1000:g} ms (bucket bounds), CPU {out['cpu_pct']:.0f}%, RSS {rss/1024:.0f} MiB")
json.dump(out, open(f"{d}/result.json", "w"))
PY
}

echo "## signalbox"
for mode in $MODES; do
  if [ "$mode" = keepalive ]; then run_signalbox keepalive "$CHECKS"; else run_signalbox newconn "$NEWCONN_CHECKS"; fi
done

[ "${PEERS:-1}" = 1 ] || exit 0
echo "## aiohttp checker (Python $(python3 -c 'import sys; print(sys.version.split()[0])'), aiohttp $(python3 -c 'import aiohttp; print(aiohttp.__version__)'))"
for mode in keepalive newconn; do
  flag=""; [ "$mode" = newconn ] && flag="--new-connections"
  for rate in $PEER_RATES; do
    python3 "$ROOT/bench/aiohttp_checker.py" --url "$HEALTH" --checks "$rate" --duration "$DURATION" \
      --warmup "$WARMUP" $flag --json "$TMP/peer-$mode-$rate.json"
  done
done

echo "## prometheus-blackbox-exporter ($(prometheus-blackbox-exporter --version 2>&1 | head -1 | awk '{print $3}'))"
BB_PORT="$(free_port)"
cat >"$TMP/blackbox.yml" <<EOF
modules:
  http_json:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ['"status":"ok"']
EOF
prometheus-blackbox-exporter --config.file="$TMP/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT" \
  >"$TMP/blackbox.log" 2>&1 &
BB_PID=$!
PIDS+=("$BB_PID")
PROBE="http://127.0.0.1:$BB_PORT/probe?module=http_json&target=$HEALTH"
wait_http "$PROBE"
curl -fs "$PROBE" | grep -q '^probe_success 1' || { echo "blackbox probe does not succeed" >&2; exit 1; }
bt0=$(awk '{print $14+$15}' "/proc/$BB_PID/stat")
wrk -t 2 -c "$WRK_CONNECTIONS" -d "${DURATION}s" --latency "$PROBE" >"$TMP/wrk-blackbox.txt"
bt1=$(awk '{print $14+$15}' "/proc/$BB_PID/stat")
bb_rss=$(awk '/VmRSS/ {print $2}' "/proc/$BB_PID/status")
python3 - "$TMP/wrk-blackbox.txt" "$bt0" "$bt1" "$(getconf CLK_TCK)" "$DURATION" "$bb_rss" "$TMP/blackbox.json" <<'PY'
import sys, re, json
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def lat(p):
    m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text)
    v, unit = float(m.group(1)), m.group(2)
    return v / {"us": 1e6, "ms": 1e3, "s": 1}[unit]
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4]) / float(sys.argv[5]) * 100
out = {"scenario": "blackbox_exporter (new connection per probe)", "checks_per_s": rps,
       "p50_s": lat(50), "p99_s": lat(99), "cpu_pct": cpu, "rss_kib": int(sys.argv[6])}
print(f"- {out['scenario']}: {rps:.0f} probes/s driven by wrk, probe latency p50 {out['p50_s']*1000:.1f} ms, "
      f"p99 {out['p99_s']*1000:.1f} ms, CPU {cpu:.0f}%, RSS {out['rss_kib']/1024:.0f} MiB")
json.dump(out, open(sys.argv[7], "w"))
PY

echo
python3 - "$TMP" "$PEER_RATES" "$MODES" <<'PY'
import sys, json, os
tmp, rates, modes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def load(p):
    return json.load(open(p)) if os.path.exists(p) else None
bb = load(f"{tmp}/blackbox.json")
print("## Side by side")
print("| scenario | offered/s | checks/s | lag p50 / p99 (ms) | CPU (% of a core) | RSS (MiB) |")
print("|---|---|---|---|---|---|")
rows = []
for mode in ["keepalive", "newconn"]:
    sb = load(f"{tmp}/sb-{mode}/result.json")
    if sb:
        rows.append((mode, "signalbox", sb))
        print(f"| {sb['scenario']} | {sb['offered_per_s']} | {sb['checks_per_s']:.0f} | ≤ {sb['lag_p50_s']*1000:g} / ≤ {sb['lag_p99_s']*1000:g} | {sb['cpu_pct']:.0f} | {sb['rss_kib']/1024:.0f} |")
    for r in rates:
        p = load(f"{tmp}/peer-{mode}-{r}.json")
        if p:
            rows.append((mode, "peer", p))
            print(f"| {p['scenario']} | {p['offered_per_s']:.0f} | {p['checks_per_s']:.0f} | {p['lag_p50_s']*1000:.1f} / {p['lag_p99_s']*1000:.1f} | {p['cpu_pct']:.0f} | {p['rss_kib']/1024:.0f} |")
if bb:
    print(f"| {bb['scenario']} | (closed loop) | {bb['checks_per_s']:.0f} | — (pull; probe latency {bb['p50_s']*1000:.1f} / {bb['p99_s']*1000:.1f}) | {bb['cpu_pct']:.0f} | {bb['rss_kib']/1024:.0f} |")
print()
for mode in ["keepalive", "newconn"]:
    sbs = [r for m, who, r in rows if m == mode and who == "signalbox"]
    peers = [r for m, who, r in rows if m == mode and who == "peer"
             and r["lag_p99_s"] <= 0.1 and r["checks_per_s"] >= 0.95 * r["offered_per_s"]]
    if not sbs:
        continue
    sb = sbs[0]
    ok = sb["lag_p99_s"] <= 0.1 and sb["checks_per_s"] >= 0.95 * sb["offered_per_s"]
    goal = 10000 if mode == "keepalive" else 5000
    print(f"- {mode}: signalbox {sb['checks_per_s']:.0f} checks/s with p99 lag ≤ {sb['lag_p99_s']*1000:g} ms "
          f"({'sustained' if ok else 'NOT sustained'} at p99 ≤ 100 ms; goal {goal}/s: {'met' if ok and sb['checks_per_s'] >= 0.95 * goal else 'not met'})")
    if peers:
        best = max(peers, key=lambda r: r["checks_per_s"])
        print(f"  aiohttp best rate with p99 lag ≤ 100 ms: {best['checks_per_s']:.0f}/s → ratio {sb['checks_per_s']/best['checks_per_s']:.2f}× (goal ≥ 4×)")
    else:
        print("  aiohttp: no measured rate kept p99 lag ≤ 100 ms")
    if bb:
        print(f"  blackbox_exporter ceiling {bb['checks_per_s']:.0f} probes/s → ratio {sb['checks_per_s']/bb['checks_per_s']:.2f}× (goal ≥ 4×)")
PY
