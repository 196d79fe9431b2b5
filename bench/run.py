"""Run the benchmarks on the lab: python bench/run.py [--quick] [--only floor,scaling,idle].

Each prints its figures as a table and writes JSON under bench/results/. They are benchmarks,
not tests: they measure ratios within one run on a shared machine and never fail on a target;
a missed target is printed as MISSED.
"""

from __future__ import annotations

import argparse
import sys
import time

import bench_floor
import bench_idle
import bench_scaling
from common import log

BENCHMARKS = {"floor": bench_floor, "scaling": bench_scaling, "idle": bench_idle}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 5 minutes")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    parser.add_argument(
        "--idle-nodes", type=int, help="the idle benchmark over this many nodes (the largest N)"
    )
    args = parser.parse_args()
    started = time.monotonic()
    for name in args.only.split(","):
        log(f"{name} ({'quick' if args.quick else 'full'})")
        if name == "idle" and args.idle_nodes:
            bench_idle.main(args.quick, args.idle_nodes)
        else:
            BENCHMARKS[name].main(args.quick)
        print()
    log(f"all done in {time.monotonic() - started:.0f} s; the lab is left running (make lab-down)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
