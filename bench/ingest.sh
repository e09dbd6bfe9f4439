#!/usr/bin/env bash
# Whole-process ingest benchmark for signalbox, with nginx serving a static file in the same run
# as the loopback peer.
#
#   bash bench/ingest.sh
#
# Scenarios, in this order, each with the same wrk settings (-t THREADS -c CONNECTIONS -d DURATION):
#   1. nginx static      GET a ~340-byte JSON file (bench/event.json) from nginx   — the peers:
#                        tuned, then with Debian's stock nginx settings (worker_processes as
#                        set, then 1: the issue's reference)
#   2. signalbox single  POST /v1/events with one event per request               — goal ≥ 0.5× (1)
#   3. signalbox batch   POST /v1/events with a 100-event JSON array per request  — goal ≥ 100,000 events/s
#   4. (DELIVERY=1 only) single events where one rule matches every event and creates a webhook
#      delivery to nginx in the same transaction; the dispatcher delivers while wrk runs.
#
# signalbox runs from a release build on SQLite (WAL, synchronous=FULL) in a temp dir, with ten
# rules that do NOT match the bench events, so scenarios 2–3 measure durable ingest, not delivery.
# After each signalbox run the events table is counted and must hold at least as many rows as wrk
# saw 202 answers (events per request × completed requests); any non-2xx answer fails the run.
#
# Environment (defaults in brackets):
#   DURATION [10s]  CONNECTIONS [64]  THREADS [2]  WRK_TIMEOUT [10s]   wrk settings, same for all
#   BATCH_SIZE [100]        events per request in the batch scenario
#   NGINX_WORKERS [auto]    nginx worker_processes
#   SQLITE_SYNC [full]      store.sqlite_synchronous: full (fsync per commit) or normal
#   DELIVERY [0]            1 = also run scenario 4
#   SKIP_BUILD [0]          1 = do not run `cargo build --release -p signalbox`
#   SIGNALBOX_BIN           binary to bench [${CARGO_TARGET_DIR:-target}/release/signalbox]
#   SIGNALBOX_LOG [info]    signalbox log filter (logs go to a file in the temp dir)
#   RESULTS                 also write the Markdown report to this file
#   KEEP_TMP [0]            1 = keep the temp dir (configs, logs, database, raw wrk output)
#
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
WRK_TIMEOUT="${WRK_TIMEOUT:-10s}"
BATCH_SIZE="${BATCH_SIZE:-100}"
NGINX_WORKERS="${NGINX_WORKERS:-auto}"
SQLITE_SYNC="${SQLITE_SYNC:-full}"
DELIVERY="${DELIVERY:-0}"
SKIP_BUILD="${SKIP_BUILD:-0}"
SIGNALBOX_BIN="${SIGNALBOX_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/signalbox}"
export SIGNALBOX_LOG="${SIGNALBOX_LOG:-info}"
RESULTS="${RESULTS:-}"
KEEP_TMP="${KEEP_TMP:-0}"
READY_TIMEOUT=30        # seconds to wait for a server to answer
STOP_TIMEOUT=10         # seconds a server gets to exit on SIGTERM before SIGKILL
SINGLE_GOAL_RATIO=0.5
BATCH_GOAL_EVENTS=100000

EVENT_FILE="$ROOT/bench/event.json"
export EVENT_FILE BATCH_SIZE

COMMAND_LINE="DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS BATCH_SIZE=$BATCH_SIZE NGINX_WORKERS=$NGINX_WORKERS DELIVERY=$DELIVERY bash bench/ingest.sh"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Cleanup: stop what we started (by pid), bounded in time; remove the temp dir.
PIDS=()
TMP=""
stop_pid() {
  local pid="$1" waited=0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited >= STOP_TIMEOUT * 10 )); then
      log "pid $pid did not exit within ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$pid"; done
  if [[ -n "$TMP" && -d "$TMP" ]]; then
    if [[ "$KEEP_TMP" == 1 || $rc -ne 0 ]]; then
      log "temp dir kept: $TMP"
    else
      rm -rf "$TMP"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Tools.
NGINX="$(command -v nginx || true)"
[[ -z "$NGINX" && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -n "$NGINX" ]] || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
command -v sqlite3 >/dev/null || command -v python3 >/dev/null || missing+=(sqlite3)
if (( ${#missing[@]} )); then
  log "installing ${missing[*]} with apt-get"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root or sudo to apt-get install ${missing[*]}"
    SUDO=sudo
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
fi

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "cargo build --release -p signalbox"
  cargo build --release -p signalbox
fi
[[ -x "$SIGNALBOX_BIN" ]] || die "no signalbox binary at $SIGNALBOX_BIN (build it, or set SIGNALBOX_BIN)"

# Seconds in a wrk duration (10s, 2m, 1h, or a bare number of seconds), for the wrk time bound.
duration_secs() {
  local d="$1"
  case "$d" in
    *h) echo $(( ${d%h} * 3600 )) ;;
    *m) echo $(( ${d%m} * 60 )) ;;
    *s) echo $(( ${d%s} )) ;;
    *)  echo $(( d )) ;;
  esac
}
DURATION_SECS="$(duration_secs "$DURATION")"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/signalbox-bench.XXXXXX")"
# nginx workers drop privileges when started as root; they must be able to read the static file.
chmod 755 "$TMP"

# A loopback port nothing is listening on (a refused connect means free), below the kernel's
# ephemeral range so no client socket (wrk's, the webhook client's) can be holding it.
read -r EPHEMERAL_LOW _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LOW=32768
PORT_LOW=10000 PORT_HIGH=$(( EPHEMERAL_LOW - 1 ))
(( PORT_HIGH - PORT_LOW >= 1000 )) || { PORT_LOW=20000; PORT_HIGH=60000; }
USED_PORTS=" "
free_port() {
  local p i
  for i in $(seq 1 500); do
    p=$(( PORT_LOW + (RANDOM * 32768 + RANDOM) % (PORT_HIGH - PORT_LOW + 1) ))
    [[ "$USED_PORTS" == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      echo "$p"
      return 0
    fi
  done
  die "no free loopback port found"
}

# Waits until URL answers 2xx. Returns 0 when ready, 2 when the process exited because its
# port was taken (the caller picks another); fails on any other exit or after READY_TIMEOUT.
wait_ready() {
  local name="$1" pid="$2" url="$3" logfile="$4" i
  for i in $(seq 1 $((READY_TIMEOUT * 20))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      if grep -qi 'address already in use' "$logfile" 2>/dev/null; then
        log "$name: port taken, retrying on another"
        return 2
      fi
      cat "$logfile" >&2 || true
      die "$name exited before it was ready (log above)"
    fi
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  cat "$logfile" >&2 || true
  die "$name not ready at $url after ${READY_TIMEOUT}s"
}

# ---------------------------------------------------------------------------------------------
# nginx: throwaway config and prefix in the temp dir.
#
# worker_processes auto (= one worker per core): signalbox's tokio runtime also runs one worker
# thread per core, so both servers may use the whole machine and share it with wrk the same way.
# A single worker would give nginx less CPU than signalbox and flatter signalbox's ratio.
# keepalive_requests is raised so nginx, like signalbox, keeps wrk's connections for the whole
# run (its default closes a connection every 1000 requests).
mkdir -p "$TMP/nginx/html" "$TMP/nginx/logs" "$TMP/nginx/tmp"
cp "$EVENT_FILE" "$TMP/nginx/html/event.json"
chmod 644 "$TMP/nginx/html/event.json"
chmod -R a+rX "$TMP/nginx"
write_nginx_conf() {
cat > "$TMP/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/octet-stream;
    types { application/json json; }
    sendfile on;
    tcp_nopush on;
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
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/nginx/html;
        # Webhook receiver for the DELIVERY=1 scenario.
        location = /hook { return 204; }
    }
}
EOF
}
for attempt in 1 2 3 4 5; do
  NGINX_PORT="$(free_port)"
  write_nginx_conf
  : > "$TMP/nginx/logs/error.log"
  log "starting nginx on 127.0.0.1:$NGINX_PORT (worker_processes $NGINX_WORKERS)"
  "$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" -g 'daemon off;' \
    >"$TMP/nginx/logs/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  rc=0
  wait_ready nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/event.json" "$TMP/nginx/logs/error.log" || rc=$?
  (( rc == 0 )) && break
  (( attempt < 5 )) || die "nginx: no usable port after $attempt attempts"
done

# The second peer: nginx as Debian ships it (/etc/nginx/nginx.conf and the default site:
# worker_connections 768, sendfile, tcp_nopush, gzip on, an access log written per request,
# keepalive_requests at its default 1000, try_files), serving the same file. This is the setup
# the tuned peer above is the harder one. It runs twice: with worker_processes as set for all
# peers (auto: as Debian ships it), then with one worker, which is the setup that gives the
# issue's "36-49k req/s for a small JSON file" on this machine kind (the issue's reference).
mkdir -p "$TMP/nginx-stock/logs" "$TMP/nginx-stock/tmp"
chmod -R a+rwX "$TMP/nginx-stock"
start_nginx_stock() {
local workers="$1" attempt rc
for attempt in 1 2 3 4 5; do
  NGINX_STOCK_PORT="$(free_port)"
  cat > "$TMP/nginx-stock/nginx.conf" <<EOF
worker_processes $workers;
pid $TMP/nginx-stock/nginx.pid;
error_log $TMP/nginx-stock/logs/error.log;
events { worker_connections 768; }
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    default_type application/octet-stream;
    types { application/json json; }
    access_log $TMP/nginx-stock/logs/access.log;
    gzip on;
    client_body_temp_path $TMP/nginx-stock/tmp/body;
    proxy_temp_path $TMP/nginx-stock/tmp/proxy;
    fastcgi_temp_path $TMP/nginx-stock/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx-stock/tmp/uwsgi;
    scgi_temp_path $TMP/nginx-stock/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_STOCK_PORT default_server;
        root $TMP/nginx/html;
        index index.html;
        location / { try_files \$uri \$uri/ =404; }
    }
}
EOF
  log "starting nginx (Debian's stock settings, worker_processes $workers) on 127.0.0.1:$NGINX_STOCK_PORT"
  "$NGINX" -c "$TMP/nginx-stock/nginx.conf" -p "$TMP/nginx-stock" -g 'daemon off;' \
    >"$TMP/nginx-stock/logs/stdout.log" 2>&1 &
  NGINX_STOCK_PID=$!
  PIDS+=("$NGINX_STOCK_PID")
  rc=0
  wait_ready nginx-stock "$NGINX_STOCK_PID" "http://127.0.0.1:$NGINX_STOCK_PORT/event.json" "$TMP/nginx-stock/logs/error.log" || rc=$?
  (( rc == 0 )) && break
  (( attempt < 5 )) || die "nginx (stock): no usable port after $attempt attempts"
done
}
start_nginx_stock "$NGINX_WORKERS"

# ---------------------------------------------------------------------------------------------
# signalbox: config with ten rules that never match the bench events (source ci.github).
# $1 = name, $2 = 1 to add a rule matching every bench event with a webhook to nginx.
SB_PID=""
SB_PORT=""
SB_DB=""
SB_LOG=""
start_signalbox() {
  local name="$1" with_delivery="$2" dir="$TMP/$1" i
  mkdir -p "$dir"
  SB_DB="$dir/bench.db"
  SB_LOG="$dir/signalbox.log"
  local attempt rc
  for attempt in 1 2 3 4 5; do
    SB_PORT="$(free_port)"
    {
      echo "server:"
      echo "  listen: \"127.0.0.1:$SB_PORT\""
      echo "  shutdown_grace: 5s"
      echo "store:"
      echo "  url: \"sqlite://$SB_DB\""
      echo "  sqlite_synchronous: $SQLITE_SYNC"
      echo "rules:"
      for i in $(seq 1 10); do
        echo "  other-$i:"
        echo "    description: Never matches the bench events."
        echo "    pattern:"
        echo "      source: [\"other.$i\"]"
        echo "      detail-type: [\"Deployment\", \"Build\"]"
        echo "    targets:"
        echo "      - log: {}"
      done
      if [[ "$with_delivery" == 1 ]]; then
        echo "  deploys-to-webhook:"
        echo "    description: Matches every bench event; one webhook delivery each."
        echo "    pattern:"
        echo "      source: [\"ci.github\"]"
        echo "      detail-type: [\"Deployment\"]"
        echo "    targets:"
        echo "      - webhook:"
        echo "          url: \"http://127.0.0.1:$NGINX_PORT/hook\""
      fi
    } > "$dir/signalbox.yaml"
    log "starting signalbox ($name) on 127.0.0.1:$SB_PORT, store $SB_DB"
    "$SIGNALBOX_BIN" serve --config "$dir/signalbox.yaml" >"$SB_LOG" 2>&1 &
    SB_PID=$!
    PIDS+=("$SB_PID")
    rc=0
    wait_ready signalbox "$SB_PID" "http://127.0.0.1:$SB_PORT/readyz" "$SB_LOG" || rc=$?
    (( rc == 0 )) && return 0
  done
  die "signalbox: no usable port after 5 attempts"
}
stop_signalbox() {
  [[ -n "$SB_PID" ]] && stop_pid "$SB_PID"
  SB_PID=""
}

# One query against a SQLite file, with sqlite3 if installed, else python3.
sql() {
  local db="$1" q="$2"
  if command -v sqlite3 >/dev/null; then
    sqlite3 -cmd '.timeout 10000' "$db" "$q"
  else
    python3 - "$db" "$q" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=10)
for row in con.execute(sys.argv[2]):
    print("|".join(str(c) for c in row))
PY
  fi
}

# POSTs FILE once with curl; checks the answer is 202 with accepted == EXPECTED.
post_check() {
  local body="$1" expected="$2" out="$TMP/post-check.json" code
  code="$(curl -sS -o "$out" -w '%{http_code}' --max-time 10 \
    -H 'Content-Type: application/json' --data-binary "@$body" \
    "http://127.0.0.1:$SB_PORT/v1/events")"
  [[ "$code" == 202 ]] || { cat "$out" >&2; die "sanity POST answered $code, expected 202"; }
  grep -q "\"accepted\":$expected[,}]" "$out" \
    || { cat "$out" >&2; die "sanity POST did not report accepted=$expected"; }
  grep -q '"duplicates":\[\]' "$out" \
    || { cat "$out" >&2; die "sanity POST reported duplicates"; }
}

# ---------------------------------------------------------------------------------------------
# wrk runs and parsing.
# wrk latency (620.00us, 1.23ms, 2.00s, 1.00m) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    else if (u == "h") n *= 3600000;
    printf "%.2f", n }'
}

declare -A RPS REQS P50 P99 NON2XX SOCKERR EPR
# $1 = scenario key, $2 = URL, $3 = lua script or "", $4 = events per request (0 for nginx)
run_wrk() {
  local key="$1" url="$2" script="$3" epr="$4" out="$TMP/wrk-$1.txt"
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency)
  [[ -n "$script" ]] && args+=(-s "$script")
  log "wrk ${args[*]} $url"
  timeout -k 5 $((DURATION_SECS + 60)) wrk "${args[@]}" "$url" | tee "$out" >&2 \
    || die "wrk failed for $key"
  RPS[$key]="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
  REQS[$key]="$(awk '/ requests in / {print $1}' "$out")"
  P50[$key]="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
  P99[$key]="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
  NON2XX[$key]="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
  NON2XX[$key]="${NON2XX[$key]:-0}"
  SOCKERR[$key]="$(awk '/Socket errors:/ {sub(/.*Socket errors: */, ""); print}' "$out")"
  EPR[$key]="$epr"
  [[ -n "${RPS[$key]}" && -n "${REQS[$key]}" ]] || die "could not parse wrk output for $key"
  if [[ -n "${SOCKERR[$key]}" ]]; then
    log "WARNING: $key: wrk socket errors: ${SOCKERR[$key]}"
  fi
  if [[ "${NON2XX[$key]}" != 0 ]]; then
    [[ -n "$SB_LOG" && -f "$SB_LOG" ]] && tail -n 20 "$SB_LOG" >&2
    die "$key: wrk saw ${NON2XX[$key]} non-2xx/3xx responses (expected 0)"
  fi
}

# Checks the events table grew by at least the number of events wrk saw accepted.
ROWS_NEW=()
declare -A ROWS
verify_rows() {
  local key="$1" before="$2" after expected
  after="$(sql "$SB_DB" 'SELECT count(*) FROM events;')"
  expected=$(( ${REQS[$key]} * ${EPR[$key]} ))
  ROWS[$key]=$(( after - before ))
  log "$key: events table +${ROWS[$key]} rows; wrk saw ${REQS[$key]} requests × ${EPR[$key]} events = $expected accepted"
  (( ${ROWS[$key]} >= expected )) \
    || die "$key: only ${ROWS[$key]} new rows in events, fewer than the $expected events answered 202"
}

# ---------------------------------------------------------------------------------------------
# Other load on the machine skews every figure (the ratio less so, but scenarios run one after
# the other): note the load average, and warn when something else is busy.
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
if awk -v l="${LOAD_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l + 0 > n / 2) }'; then
  log "WARNING: load average is $LOAD_START on $(nproc) CPUs; other work will skew the figures"
fi

# Scenario 1: nginx static file, tuned and as Debian ships it.
run_wrk nginx "http://127.0.0.1:$NGINX_PORT/event.json" "" 0
run_wrk nginx_stock "http://127.0.0.1:$NGINX_STOCK_PORT/event.json" "" 0
stop_pid "$NGINX_STOCK_PID"
start_nginx_stock 1
run_wrk nginx_stock1 "http://127.0.0.1:$NGINX_STOCK_PORT/event.json" "" 0
stop_pid "$NGINX_STOCK_PID"

# Scenarios 2–3: signalbox, rules that do not match.
start_signalbox ingest 0
BATCH_FILE="$TMP/batch.json"
{ printf '['; for i in $(seq 1 "$BATCH_SIZE"); do (( i > 1 )) && printf ','; tr -d '\n' < "$EVENT_FILE"; done; printf ']'; } > "$BATCH_FILE"
post_check "$EVENT_FILE" 1
post_check "$BATCH_FILE" "$BATCH_SIZE"

rows0="$(sql "$SB_DB" 'SELECT count(*) FROM events;')"
(( rows0 == 1 + BATCH_SIZE )) || die "expected $((1 + BATCH_SIZE)) rows after the sanity POSTs, found $rows0"
run_wrk single "http://127.0.0.1:$SB_PORT/v1/events" "$ROOT/bench/ingest-single.lua" 1
verify_rows single "$rows0"
curl -fsS --max-time 5 "http://127.0.0.1:$SB_PORT/metrics" > "$TMP/ingest/metrics-single.txt" || true

rows1="$(sql "$SB_DB" 'SELECT count(*) FROM events;')"
run_wrk batch "http://127.0.0.1:$SB_PORT/v1/events" "$ROOT/bench/ingest-batch.lua" "$BATCH_SIZE"
verify_rows batch "$rows1"

deliveries="$(sql "$SB_DB" 'SELECT count(*) FROM deliveries;')"
[[ "$deliveries" == 0 ]] || die "non-matching rules created $deliveries deliveries"
curl -fsS --max-time 5 "http://127.0.0.1:$SB_PORT/metrics" > "$TMP/ingest/metrics-batch.txt" || true
SB_ERRORS="$(grep -ciE '"level":"(error|warn)"|  (ERROR|WARN) ' "$SB_LOG" || true)"
stop_signalbox

# Scenario 4 (optional): one matching rule with a webhook target to nginx.
if [[ "$DELIVERY" == 1 ]]; then
  start_signalbox delivery 1
  post_check "$EVENT_FILE" 1
  rows0="$(sql "$SB_DB" 'SELECT count(*) FROM events;')"
  run_wrk delivery "http://127.0.0.1:$SB_PORT/v1/events" "$ROOT/bench/ingest-single.lua" 1
  verify_rows delivery "$rows0"
  read -r d_total d_done < <(sql "$SB_DB" \
    "SELECT count(*), coalesce(sum(state = 'done'), 0) FROM deliveries;" | tr '|' ' ')
  ev_total="$(sql "$SB_DB" 'SELECT count(*) FROM events;')"
  (( d_total == ev_total )) || die "delivery: $ev_total events but $d_total deliveries (expected one each)"
  DELIVERY_NOTE="deliveries: $d_total created (one per event, same transaction), $d_done done by the end of the run"
  log "delivery: $DELIVERY_NOTE"
  curl -fsS --max-time 5 "http://127.0.0.1:$SB_PORT/metrics" > "$TMP/delivery/metrics.txt" || true
  SB_ERRORS_D="$(grep -ciE '"level":"(error|warn)"|  (ERROR|WARN) ' "$SB_LOG" || true)"
  stop_signalbox
fi

# ---------------------------------------------------------------------------------------------
# Report.
fmt_int() { printf '%.0f' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
# Mean events per group-commit transaction between two /metrics snapshots (the second file
# minus the first, which may be /dev/null), from the signalbox_ingest_batch_events histogram.
# Prints e.g. "31.6 events, 1.52 ms" (mean size and commit time of a transaction).
mean_batch() {
  awk '{ f = (FILENAME == ARGV[1]) ? 1 : 2 }
       /^signalbox_ingest_batch_events_sum/    { s[f] = $2 }
       /^signalbox_ingest_batch_events_count/  { c[f] = $2 }
       /^signalbox_ingest_commit_seconds_sum/  { t[f] = $2 }
       END { n = c[2] - c[1]
             if (n > 0) printf "%.1f events, %.2f ms", (s[2] - s[1]) / n, 1000 * (t[2] - t[1]) / n
             else printf "n/a" }' \
    "$1" "$2" 2>/dev/null || echo n/a
}

ng="${RPS[nginx]}"
ev_single="${RPS[single]}"
ev_batch="$(awk -v r="${RPS[batch]}" -v n="$BATCH_SIZE" 'BEGIN { printf "%.2f", r * n }')"
single_ratio="$(ratio "${RPS[single]}" "$ng")"
batch_ratio="$(ratio "${RPS[batch]}" "$ng")"
batch_ev_ratio="$(ratio "$ev_batch" "$ng")"
batch_goal_ratio="$(ratio "$ev_batch" "$BATCH_GOAL_EVENTS")"
ng_stock="${RPS[nginx_stock]}"
single_stock_ratio="$(ratio "${RPS[single]}" "$ng_stock")"
single_ok=FAIL; ge "$single_ratio" "$SINGLE_GOAL_RATIO" && single_ok=PASS
single_stock_ok=FAIL; ge "$single_stock_ratio" "$SINGLE_GOAL_RATIO" && single_stock_ok=PASS
ng_stock1="${RPS[nginx_stock1]}"
single_stock1_ratio="$(ratio "${RPS[single]}" "$ng_stock1")"
single_stock1_ok=FAIL; ge "$single_stock1_ratio" "$SINGLE_GOAL_RATIO" && single_stock1_ok=PASS
batch_ok=FAIL; ge "$ev_batch" "$BATCH_GOAL_EVENTS" && batch_ok=PASS

CPU_MODEL="$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
[[ -n "$CPU_MODEL" ]] || CPU_MODEL="$(uname -m)"
REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(git -C "$ROOT" status --porcelain -- crates Cargo.lock 2>/dev/null | head -1)"
[[ -n "$DIRTY" ]] && REV="$REV (+ uncommitted changes)"

report() {
  echo "## Ingest benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "- machine: $(nproc) CPUs, $CPU_MODEL; $(uname -sr); load average before the run: $LOAD_START"
  echo "- signalbox $REV, release build, SQLite (WAL, sqlite_synchronous=$SQLITE_SYNC), 10 non-matching rules"
  echo "- peers: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), worker_processes $NGINX_WORKERS, static $(wc -c < "$EVENT_FILE")-byte JSON file; tuned (access_log off, open_file_cache, keepalive_requests 1000000) and with Debian's stock settings (access log, gzip on, keepalive_requests 1000, try_files), the latter also with worker_processes 1"
  echo "- load: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), -t$THREADS -c$CONNECTIONS -d$DURATION, loopback, all processes share the machine"
  echo "- command: \`$COMMAND_LINE\`"
  echo
  echo "| scenario | req/s | events/s | p50 ms | p99 ms | vs nginx static | goal |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  echo "| nginx static file, tuned (peer) | $(fmt_int "$ng") | — | ${P50[nginx]} | ${P99[nginx]} | 1.00× | — |"
  echo "| nginx static file, Debian's stock settings (peer) | $(fmt_int "$ng_stock") | — | ${P50[nginx_stock]} | ${P99[nginx_stock]} | $(ratio "$ng_stock" "$ng")× | — |"
  echo "| nginx static file, Debian's stock settings, 1 worker (the issue's reference) | $(fmt_int "$ng_stock1") | — | ${P50[nginx_stock1]} | ${P99[nginx_stock1]} | $(ratio "$ng_stock1" "$ng")× | — |"
  echo "| signalbox, 1 event/request | $(fmt_int "${RPS[single]}") | $(fmt_int "$ev_single") | ${P50[single]} | ${P99[single]} | ${single_ratio}× tuned, ${single_stock_ratio}× stock, ${single_stock1_ratio}× stock 1 worker | ≥ ${SINGLE_GOAL_RATIO}× nginx req/s: tuned $single_ok, stock $single_stock_ok, stock 1 worker $single_stock1_ok |"
  echo "| signalbox, $BATCH_SIZE events/request | $(fmt_int "${RPS[batch]}") | $(fmt_int "$ev_batch") | ${P50[batch]} | ${P99[batch]} | ${batch_ratio}× req/s (${batch_ev_ratio}× in events/s) | ≥ $(fmt_int "$BATCH_GOAL_EVENTS") events/s: ${batch_goal_ratio}× $batch_ok |"
  if [[ "$DELIVERY" == 1 ]]; then
    echo "| signalbox, 1 event/request + 1 webhook delivery each | $(fmt_int "${RPS[delivery]}") | $(fmt_int "${RPS[delivery]}") | ${P50[delivery]} | ${P99[delivery]} | $(ratio "${RPS[delivery]}" "$ng")× req/s | — |"
  fi
  echo
  echo "Checks: the sanity POSTs answered 202, wrk saw no non-2xx/3xx answer; the events table grew by ≥ the accepted events" \
       "(single: +${ROWS[single]} rows for ${REQS[single]} answers; batch: +${ROWS[batch]} rows for ${REQS[batch]} × $BATCH_SIZE)." \
       "Mean group-commit transaction (size, commit time): single $(mean_batch /dev/null "$TMP/ingest/metrics-single.txt");" \
       "batch $(mean_batch "$TMP/ingest/metrics-single.txt" "$TMP/ingest/metrics-batch.txt")." \
       "signalbox warnings/errors logged: ${SB_ERRORS:-0}."
  if [[ "$DELIVERY" == 1 ]]; then
    echo "Delivery scenario: $DELIVERY_NOTE; mean group-commit transaction $(mean_batch /dev/null "$TMP/delivery/metrics.txt"); warnings/errors logged: ${SB_ERRORS_D:-0}."
  fi
  for k in nginx nginx_stock nginx_stock1 single batch delivery; do
    if [[ -n "${SOCKERR[$k]:-}" ]]; then echo "wrk socket errors in $k: ${SOCKERR[$k]}."; fi
  done
}

echo
report | tee "$TMP/report.md"
if [[ -n "$RESULTS" ]]; then cp "$TMP/report.md" "$RESULTS"; log "report written to $RESULTS"; fi
