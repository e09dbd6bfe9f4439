#!/usr/bin/env python3
"""Python asyncio + aiohttp health checker: the peer of bench/checks.sh (issue 6).

What a team writes when it outgrows a cron box: one process, one asyncio task per check, each
check runs every PERIOD seconds at its own offset inside the period (derived from its index, so
starts are spread like signalbox's hashed `every:` offsets), GETs the URL, parses the JSON body
and tests `status == "ok"`. A run that overruns its period skips the times it missed (the same
rule as signalbox). Lag of a run = the moment its request starts − its scheduled time.

After WARMUP seconds the window is DURATION seconds: runs started inside it are counted and their
lags kept (exact values, no buckets). CPU (getrusage utime+stime) and RSS (VmRSS) are over/at the
end of the window.

    python3 bench/aiohttp_checker.py --url http://127.0.0.1:8080/health --checks 2000 \
        [--period 1] [--duration 10] [--warmup 5] [--new-connections] [--json out.json]

--new-connections closes the connection after every request (aiohttp `force_close`); without it
one shared session keeps connections alive (aiohttp's default pool of 100 connections).
"""
import argparse
import asyncio
import json
import os
import resource
import time

import aiohttp


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def quantile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(p * (len(sorted_values) - 1)))))
    return sorted_values[i]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--checks", type=int, default=2000)
    ap.add_argument("--period", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--new-connections", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()

    connector = aiohttp.TCPConnector(limit=100, force_close=args.new_connections)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    stats = {"runs": 0, "ok": 0, "failed": 0, "lags": []}
    epoch = time.time() + 0.5
    window = [epoch + args.warmup, epoch + args.warmup + args.duration]

    async def check(session, i):
        offset = ((i * 2654435761) % 1000) / 1000.0 * args.period
        k = 0
        while True:
            scheduled = epoch + offset + k * args.period
            if scheduled >= window[1]:
                return
            delay = scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.time()
            ok = False
            try:
                async with session.get(args.url) as resp:
                    body = await resp.json(content_type=None)
                    ok = resp.status == 200 and body.get("status") == "ok"
            except Exception:
                ok = False
            if window[0] <= scheduled < window[1]:
                stats["runs"] += 1
                stats["ok" if ok else "failed"] += 1
                stats["lags"].append(started - scheduled)
            # Skip the times this run overran.
            now = time.time()
            k = max(k + 1, int((now - epoch - offset) / args.period) + 1)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(check(session, i)) for i in range(args.checks)]
        await asyncio.sleep(max(0.0, window[0] - time.time()))
        c0 = cpu_s()
        await asyncio.sleep(max(0.0, window[1] - time.time()))
        c1 = cpu_s()
        rss = rss_kib()
        # Runs scheduled inside the window but started late finish here.
        await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()

    lags = sorted(stats["lags"])
    expected = args.checks * args.duration / args.period
    result = {
        "scenario": "aiohttp checker" + (" (new connection per check)" if args.new_connections else " (keep-alive)"),
        "checks": args.checks,
        "offered_per_s": args.checks / args.period,
        "checks_per_s": stats["runs"] / args.duration,
        "expected": expected,
        "runs": stats["runs"],
        "ok": stats["ok"],
        "failed": stats["failed"],
        "lag_p50_s": quantile(lags, 0.5),
        "lag_p99_s": quantile(lags, 0.99),
        "lag_max_s": lags[-1] if lags else float("nan"),
        "cpu_pct": (c1 - c0) / args.duration * 100,
        "rss_kib": rss,
        "pid": os.getpid(),
    }
    print(
        f"- {result['scenario']}, {args.checks} checks every {args.period:g} s: "
        f"{result['checks_per_s']:.0f} checks/s of {result['offered_per_s']:.0f} offered "
        f"(ok {stats['ok']}, failed {stats['failed']}), lag p50 {result['lag_p50_s']*1000:.1f} ms, "
        f"p99 {result['lag_p99_s']*1000:.1f} ms, max {result['lag_max_s']*1000:.1f} ms, "
        f"CPU {result['cpu_pct']:.0f}%, RSS {rss/1024:.0f} MiB"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    asyncio.run(main())
