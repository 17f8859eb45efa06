#!/usr/bin/python3
"""Which of two Ossa builds ingests faster: interleaved pairs, each run on a fresh server.

On a noisy machine (a shared VM whose disk and CPU change from one minute to the next) two single
runs say little: this runs the same C-STORE workload as bench/ingest.py against build A and
build B in pairs, alternating which goes first, and reports each pair, the medians, how many
pairs B won, and the two-sided sign-test p-value of that count.

    /usr/bin/python3 bench/ingest_ab.py --a OLD/ossa --b NEW/ossa [--pairs 10] [--profile small]
                                        [--associations 4] [--count 1000]
                                        [--work /tmp/ossa-bench-ingest] [--keep]

The data is bench/ingest.py's (cached in WORK/data). Every run writes into a folder of its own,
all deleted at the end (see bench/ingest.py on why runs do not delete before the next one).
"""

import argparse
import math
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import ingest  # noqa: E402


def sign_test_p(wins, pairs):
    """Two-sided binomial sign test: the chance of a split at least this uneven if A and B were
    equally fast."""
    extreme = max(wins, pairs - wins)
    tail = sum(math.comb(pairs, k) for k in range(extreme, pairs + 1)) / 2 ** pairs
    return min(1.0, 2 * tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the ossa binary to compare against")
    ap.add_argument("--b", required=True, help="the ossa binary under test")
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--profile", default="small", choices=sorted(ingest.PROFILES))
    ap.add_argument("--associations", type=int, default=4, choices=ingest.ASSOCIATION_COUNTS)
    ap.add_argument("--count", type=int, default=1000, help="instances per run (default 1000)")
    ap.add_argument("--work", default="/tmp/ossa-bench-ingest")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    for binary in (args.a, args.b):
        if not os.access(binary, os.X_OK):
            sys.exit(f"not an executable: {binary}")
    benchlib.require_tool("storescu")

    work = os.path.abspath(args.work)
    datadir, _ = ingest.prepare_data(work, args.profile, args.count)
    runs = os.path.join(work, "run-ab")
    rates = {"A": [], "B": []}
    wins = 0
    try:
        for pair in range(args.pairs):
            order = ("A", "B") if pair % 2 == 0 else ("B", "A")
            this = {}
            for build in order:
                binary = args.a if build == "A" else args.b
                run_dir = os.path.join(runs, f"{pair + 1}-{build}")
                wall, ok = ingest.run_ossa(args, binary, datadir, args.count, args.associations,
                                           run_dir)
                if not ok:
                    sys.exit(f"pair {pair + 1}: the run of {build} ({binary}) failed")
                this[build] = args.count / wall
            rates["A"].append(this["A"])
            rates["B"].append(this["B"])
            wins += this["B"] > this["A"]
            print(f"pair {pair + 1:2d}: A {this['A']:7.1f}  B {this['B']:7.1f} inst/s", flush=True)
    finally:
        shutil.rmtree(runs, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)

    med_a, med_b = statistics.median(rates["A"]), statistics.median(rates["B"])
    print(f"\n{args.profile}, {args.associations} association(s), {args.count} instances per run")
    print(f"median A {med_a:.1f}  median B {med_b:.1f} inst/s ({(med_b / med_a - 1) * 100:+.1f}%); "
          f"B faster in {wins} of {args.pairs} pairs (sign test p = {sign_test_p(wins, args.pairs):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
