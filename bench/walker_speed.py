"""Simulator calls per second of `probgen.walker.simulate`, as a table.

    OMP_NUM_THREADS=1 python bench/walker_speed.py [--calls 200] [--seconds 2 5 10] [--workers 2]

For each time limit it runs the same `--calls` uniform random plans (seed 0)
and prints calls/s, the mean simulated time per call (most random plans fall
within a second), physics steps/s, and the calls/s a run lasting the whole
time limit would get (steps/s divided by the steps of a full run). With
`--workers N` it also times a `random_search` whose batches go to a pool of N
processes. Timings depend on the machine and its load; rerun before quoting.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time

import numpy as np

from probgen import optim, walker


def time_plans(plans, seconds: float):
    start = time.perf_counter()
    results = [walker.simulate(p, seconds=seconds) for p in plans]
    wall = time.perf_counter() - start
    steps = sum(r.steps for r in results)
    return {"seconds": seconds, "calls": len(plans), "calls_per_s": len(plans) / wall,
            "mean_sim_time_s": np.mean([r.time for r in results]), "fell": np.mean([r.fell for r in results]),
            "steps_per_s": steps / wall,
            "full_run_calls_per_s": steps / wall / round(seconds / walker.DEFAULT_PARAMS.dt)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="random plans per time limit")
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0, 10.0], help="time limits to time")
    parser.add_argument("--workers", type=int, default=1, help="also time random search on a pool of this many processes")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    plans = rng.uniform(-1, 1, (args.calls, walker.PLAN_SIZE))
    walker.simulate(plans[0], seconds=1.0)  # warm-up (imports, first allocation)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, one process")
    header = f"{'limit (s)':>9} {'calls':>6} {'calls/s':>9} {'mean sim (s)':>12} {'fell':>6} {'steps/s':>9} {'full-run calls/s':>16}"
    print(header)
    print("-" * len(header))
    for seconds in args.seconds:
        r = time_plans(plans, seconds)
        print(f"{r['seconds']:9.1f} {r['calls']:6d} {r['calls_per_s']:9.0f} {r['mean_sim_time_s']:12.2f} "
              f"{r['fell']:6.0%} {r['steps_per_s']:9.0f} {r['full_run_calls_per_s']:16.1f}")
    if args.workers > 1:
        objective = functools.partial(walker.distance, seconds=max(args.seconds))
        for workers in (1, args.workers):
            start = time.perf_counter()
            optim.random_search(objective, walker.PLAN_SIZE, args.calls, seed=0, workers=workers, batch_size=50)
            wall = time.perf_counter() - start
            print(f"random search, {workers} worker(s), limit {max(args.seconds):.0f} s: "
                  f"{args.calls / wall:.0f} calls/s (pool start-up included)")


if __name__ == "__main__":
    main()
