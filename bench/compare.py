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
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

import bench


def batch_file(work, lines):
    path = os.path.join(work, f"users-{lines}.jsonl")
    with open(path, "w") as f:
        f.writelines(f'{{"distinctId":"user-{i}","attributes":{{"n":{i}}}}}\n' for i in range(lines))
    return path


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

    work = tempfile.mkdtemp(prefix="toucan-compare-")
    nginx, port = bench.start_nginx(work)
    try:
        base = f"https://127.0.0.1:{port}"
        ca = os.path.join(bench.CERTS, "ca.pem")
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(TOUCAN_API_KEY=bench.KEY, TOUCAN_BASE_URL=base, TOUCAN_CA_BUNDLE=ca)
        counts = {t: instructions(t, batch_file(work, args.lines), env, work) for t in args.tools}
        big = batch_file(work, args.wall_lines)
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
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
