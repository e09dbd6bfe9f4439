#!/usr/bin/env python3
"""APScheduler peer for bench/schedules.sh (issue 4).

One process, APScheduler 3.x AsyncIOScheduler, in-memory job store, JOBS (default 10,000)
coroutine jobs on a cron trigger firing every second (`second="*"`, the same as signalbox's
`* * * * * *`), APScheduler's default job options (misfire_grace_time 1 s, coalesce, max_instances 1).

Each job returns the wall-clock time at which its coroutine started; the EVENT_JOB_EXECUTED
listener gets it as `retval` together with `scheduled_run_time` (from the trigger), so the lateness
of a fire is `start of the job − scheduled time`, exact (no histogram buckets).

After WARMUP seconds, the measured window is DURATION whole seconds of scheduled times
[ws, ws + DURATION). Expected fires = JOBS × DURATION; a fire counts as seen if it ran (possibly
after the window: the script waits up to TAIL seconds for stragglers). Missed = expected − seen,
split into EVENT_JOB_MISSED (past the grace time), EVENT_JOB_MAX_INSTANCES, and silent (coalesced
away or never run within the tail). CPU (getrusage utime+stime of the whole process) and RSS
(VmRSS) are taken over/at the end of the window, before the tail.

    python3 bench/apscheduler_peer.py --jobs 10000 --duration 20 --warmup 10 [--json out.json]
"""
import argparse
import asyncio
import json
import logging
import math
import os
import resource
import sys
import time

import apscheduler
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
)
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def quantile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    # nearest rank
    k = max(0, math.ceil(p * len(sorted_values)) - 1)
    return sorted_values[k]


async def run(args):
    # Per-fire warnings (missed run times) would go to stderr through logging's last-resort
    # handler, one line per fire; keep them out of the measurement.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)

    window = {"start": math.inf, "end": math.inf}
    lateness = []
    counts = {"missed_event": 0, "max_instances": 0, "error": 0, "executed_outside": 0}

    def in_window(ts):
        return window["start"] <= ts < window["end"]

    def listener(ev):
        if ev.code == EVENT_JOB_EXECUTED:
            sched = ev.scheduled_run_time.timestamp()
            if in_window(sched):
                lateness.append(ev.retval - sched)
            else:
                counts["executed_outside"] += 1
        elif ev.code == EVENT_JOB_MISSED:
            if in_window(ev.scheduled_run_time.timestamp()):
                counts["missed_event"] += 1
        elif ev.code == EVENT_JOB_ERROR:
            if in_window(ev.scheduled_run_time.timestamp()):
                counts["error"] += 1
        elif ev.code == EVENT_JOB_MAX_INSTANCES:
            counts["max_instances"] += sum(
                1 for t in ev.scheduled_run_times if in_window(t.timestamp())
            )

    async def tick():
        return time.time()

    sched = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, timezone="UTC")
    sched.add_listener(
        listener,
        EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES,
    )
    t_add = time.time()
    for i in range(args.jobs):
        sched.add_job(tick, CronTrigger(second="*", timezone="UTC"), id=f"s{i:06d}")
    sched.start()
    t_started = time.time()
    print(
        f"# apscheduler {apscheduler.__version__}: {args.jobs} jobs added and started in "
        f"{t_started - t_add:.1f} s",
        file=sys.stderr,
    )

    await asyncio.sleep(args.warmup)
    ws = math.ceil(time.time())
    window["start"], window["end"] = ws, ws + args.duration
    await asyncio.sleep(max(0.0, ws - time.time()))
    c0, t0 = cpu_seconds(), time.time()
    await asyncio.sleep(max(0.0, window["end"] - time.time()))
    c1, t1 = cpu_seconds(), time.time()
    rss = rss_kib()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    expected = args.jobs * args.duration

    def accounted():
        return len(lateness) + counts["missed_event"] + counts["max_instances"] + counts["error"]

    tail_deadline = time.time() + args.tail
    while accounted() < expected and time.time() < tail_deadline:
        await asyncio.sleep(0.1)
    # Shutting down cancels fires submitted after the window; each would be logged as an error.
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL + 1)
    sched.shutdown(wait=False)

    seen = len(lateness)
    lat = sorted(lateness)
    span = t1 - t0
    silent = expected - accounted()
    result = {
        "scenario": f"APScheduler {apscheduler.__version__} AsyncIOScheduler, memory store",
        "jobs": args.jobs,
        "duration_s": args.duration,
        "span_s": span,
        "expected": expected,
        "fired": seen,
        "fires_per_s": seen / args.duration,
        "missed": expected - seen,
        "missed_event": counts["missed_event"],
        "missed_max_instances": counts["max_instances"],
        "missed_silent": silent,
        "errors": counts["error"],
        "p50_s": quantile(lat, 0.50),
        "p99_s": quantile(lat, 0.99),
        "max_s": lat[-1] if lat else float("nan"),
        "lateness_s": None,  # filled below only when asked (large)
        "cpu_pct": (c1 - c0) / span * 100 if span > 0 else float("nan"),
        "rss_kib": rss,
        "maxrss_kib": maxrss,
        "loadavg": open("/proc/loadavg").read().split()[0],
    }

    ms = lambda s: f"{s * 1000:.0f} ms" if s == s else "n/a"  # noqa: E731
    print(
        f"## APScheduler {apscheduler.__version__} (AsyncIOScheduler, MemoryJobStore, Python "
        f"{sys.version.split()[0]}): {args.jobs} jobs every second, {args.duration} s of "
        f"scheduled times measured after a {args.warmup} s warm-up"
    )
    print(
        f"- fires: {seen} of {expected} expected ({seen / args.duration:.0f}/s); missed "
        f"{expected - seen} (EVENT_JOB_MISSED {counts['missed_event']}, max instances "
        f"{counts['max_instances']}, silent/coalesced {silent}); errors {counts['error']}"
    )
    print(
        f"- lateness (job start − scheduled time), exact: p50 {ms(result['p50_s'])}, "
        f"p99 {ms(result['p99_s'])}, max {ms(result['max_s'])}"
    )
    print(
        f"- CPU: {result['cpu_pct']:.0f}% of one core; RSS: {rss / 1024:.0f} MiB "
        f"(peak {maxrss / 1024:.0f} MiB)"
    )
    print(f"- load average at the end: {result['loadavg']}")
    if args.json:
        if args.samples:
            result["lateness_s"] = lat
        with open(args.json, "w") as f:
            json.dump(result, f)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=int(os.environ.get("PER_SECOND", 10000)))
    p.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", 20)))
    p.add_argument("--warmup", type=float, default=float(os.environ.get("WARMUP", 10)))
    p.add_argument("--tail", type=float, default=10.0, help="seconds to wait for stragglers")
    p.add_argument("--json", help="write the result as JSON to this file")
    p.add_argument("--samples", action="store_true", help="include every lateness in the JSON")
    args = p.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
