#!/usr/bin/env python3
"""Two or more builds of toucan-token on the same batch, side by side: instructions counted by
callgrind (steady from run to run, so a change of a few per cent shows) and wall medians of
interleaved runs (what a user waits for, but noisy on a shared machine).

Usage: bench/compare.py [--lines 5000] [--wall-lines 100000] [--rounds 3] OLD_BINARY NEW_BINARY...
Needs valgrind and nginx: `scripts/install-deps --bench` installs them.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

import bench


def instructions(tool, users, env, work):
    out = os.path.join(work, "callgrind.out")
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", tool, "batch",
                    "--concurrency", "16", users], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        return int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=5000, help="batch size under callgrind")
    parser.add_argument("--wall-lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved wall-time rounds")
    parser.add_argument("tools", nargs="+")
    args = parser.parse_args()

    with bench.serving() as (work, _, env):
        users = bench.batch_file(work, args.lines)
        counts = {t: instructions(t, users, env, work) for t in args.tools}
        big = bench.batch_file(work, args.wall_lines)
        walls = {t: [] for t in args.tools}
        for r in range(args.rounds):
            for t in args.tools[r % len(args.tools):] + args.tools[:r % len(args.tools)]:
                walls[t].append(bench.run([t, "batch", "--concurrency", "16", big], env))
    first = args.tools[0]
    print(f"| build | instructions, {args.lines:,} lines | × first | "
          f"median wall, {args.wall_lines:,} lines | × first |")
    print("|---|---:|---:|---:|---:|")
    for t in args.tools:
        wall = statistics.median(walls[t])
        print(f"| {t} | {counts[t] / 1e9:.3f} G | {counts[t] / counts[first]:.3f} | "
              f"{wall:.2f} s | {wall / statistics.median(walls[first]):.2f} |")


if __name__ == "__main__":
    sys.exit(main())
