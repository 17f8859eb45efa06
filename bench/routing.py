#!/usr/bin/python3
"""Ossa routing benchmark: what the routing plugin costs the C-STORE ingest rate.

The ingest of bench/ingest.py (same generated data, same storescu runs, wall time from starting
the storescu processes to the last one exiting) is measured in three set-ups, interleaved run by
run, each on a fresh `ossa serve` (empty storage and index):

  * none     no plugin loaded (the reference);
  * nomatch  the routing plugin with a rule that matches nothing ({"Modality": "XX"}): the cost of
             on_received reading attributes and of on_stored looking up the decision;
  * all      the routing plugin with a rule that matches everything, forwarding every instance to
             a DCMTK storescp (a declared node with send: true): on_stored queues one durable send
             job per instance and the server's job runner sends them while the ingest goes on.

Target: the ingest rate with the plugin loaded is within 10% of the reference (both set-ups).

The destination storescp stands for another machine. On a small benchmark machine it would take
its CPU from the very ingest being measured, so it runs at nice 19 by default (--destination-nice;
0 puts it on an equal footing and shows what a destination on the same two cores costs), and it
writes into a tmpfs (/dev/shm, --destination-dir): on its own disk, its files would be flushed by
the very syncfs each of Ossa's group commits waits for, a cost no real (remote) destination adds.
For `all`, the time until the last instance reached storescp is printed too (not part of the
target: forwarding goes on after the ingest, at the job runner's pace).

    /usr/bin/python3 bench/routing.py [--count 1000] [--profiles small,ct] [--runs 3]
                                      [--work /tmp/ossa-bench-routing] [--keep] [--ossa PATH]
                                      [--plugin PATH] [--fsync on|off] [--log-level warning]
                                      [--destination-nice 19] [--destination-dir /dev/shm]

The plugin is --plugin, else <build>/plugins/routing/routing.so beside <build>/core/ossa.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import ingest  # noqa: E402  (data generation and sharding are shared with the ingest benchmark)

TARGET_COST_PERCENT = 10.0
MODES = ("none", "nomatch", "all")
ASSOCIATION_COUNTS = ingest.ASSOCIATION_COUNTS


class RoutingServer(benchlib.OssaServer):
    """benchlib's server plus `nodes:` and `plugins:` sections (JSON flow style is YAML)."""

    def __init__(self, ossa_bin, root, plugin=None, plugin_config=None, nodes=(), send_share=None,
                 **kw):
        super().__init__(ossa_bin, root, **kw)
        self.send_share = send_share
        self.plugin = plugin
        self.plugin_config = plugin_config
        self.nodes = list(nodes)

    def write_config(self):
        super().write_config()
        with open(self.config, "a") as f:
            if self.send_share is not None:
                f.write(f"jobs: {{send_share_while_ingesting: {self.send_share}}}\n")
            if self.nodes:
                f.write("nodes: %s\n" % json.dumps(self.nodes))
            if self.plugin:
                f.write("plugins: %s\n" % json.dumps([{"path": self.plugin,
                                                        "config": self.plugin_config or {}}]))


def resolve_plugin(arg, ossa_bin):
    path = arg or os.path.join(os.path.dirname(os.path.dirname(ossa_bin)), "plugins", "routing",
                               "routing.so")
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        sys.exit(f"error: routing plugin not found at {path} (use --plugin)")
    return path


def run_once(args, mode, ossa_bin, plugin, datadir, count, associations, run_dir):
    """One ingest into a fresh server; returns (wall, ok, forwarded_after or None)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    scp = None
    nodes = []
    plugin_config = None
    if mode != "none":
        rule = {"name": "bench", "forward_to": "DEST"}
        if mode == "nomatch":
            rule["when"] = {"Modality": "XX"}
        plugin_config = {"rules": [rule], "state_dir": os.path.join(run_dir, "routing-state"),
                         "fsync": args.fsync == "on"}
    if mode == "all":
        dest_dir = tempfile.mkdtemp(prefix="ossa-routing-dest-", dir=args.destination_dir)
        scp = benchlib.StoreScp(dest_dir, fork=True, aet="DEST", nice=args.destination_nice,
                                idle=args.destination_idle).start()
        nodes = [{"name": "DEST", "aet": "DEST", "host": "127.0.0.1", "port": scp.port,
                  "send": True}]
    else:
        # Declared but never used (nomatch) or absent (none): the same config otherwise.
        nodes = [{"name": "DEST", "aet": "DEST", "host": "127.0.0.1", "port": 9, "send": True}]
    server = RoutingServer(ossa_bin, os.path.join(run_dir, "ossa"),
                           plugin=plugin if mode != "none" else None,
                           plugin_config=plugin_config, nodes=nodes,
                           send_share=args.send_share, log_level=args.log_level).start()
    os.sync()
    forwarded_after = None
    try:
        t0 = time.perf_counter()
        wall, results = benchlib.run_storescu_parallel(server.port,
                                                       ingest.shard_groups(datadir, associations))
        ok = ingest.check_results(f"ossa/{mode}", results)
        if scp is not None:
            deadline = time.monotonic() + args.drain_timeout
            while time.monotonic() < deadline:
                if benchlib.count_files(scp.outdir) >= count:
                    break
                time.sleep(0.1)
            got = benchlib.count_files(scp.outdir)
            if got >= count:
                forwarded_after = time.perf_counter() - t0
            else:
                print(f"  !! only {got} of {count} forwarded within {args.drain_timeout}s", flush=True)
                ok = False
        alive = server.alive()
    finally:
        rc = server.stop()
        if scp is not None:
            scp.stop()
            shutil.rmtree(scp.outdir, ignore_errors=True)
    stored = benchlib.count_files(os.path.join(run_dir, "ossa", "storage"), ".dcm")
    stored -= benchlib.count_files(os.path.join(run_dir, "ossa", "storage", "tmp"), ".dcm")
    problems = []
    if not ok:
        problems.append("storescu or forwarding failures")
    if not alive:
        problems.append("server died during the run")
    if rc != 0:
        problems.append(f"server exit status {rc} after SIGTERM")
    if stored != count:
        problems.append(f"{stored} files stored, expected {count}")
    if problems:
        print(f"  !! {mode} run problems: {'; '.join(problems)}; log tail:\n{server.log_tail()}",
              flush=True)
    if not args.keep_output:
        shutil.rmtree(run_dir, ignore_errors=True)
    return wall, not problems, forwarded_after


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000, help="instances per profile (default 1000)")
    ap.add_argument("--profiles", default="small,ct", help="comma-separated: small,ct")
    ap.add_argument("--runs", type=int, default=3, help="runs per cell; the median is reported (default 3)")
    ap.add_argument("--work", default="/tmp/ossa-bench-routing", help="work dir (default /tmp/ossa-bench-routing)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files in WORK/data")
    ap.add_argument("--keep-output", action="store_true", help="keep each run's server output dirs")
    ap.add_argument("--ossa", help="ossa binary (default $OSSA_BIN or build/core/ossa)")
    ap.add_argument("--plugin", help="routing.so (default <build>/plugins/routing/routing.so)")
    ap.add_argument("--fsync", choices=("on", "off"), default="on",
                    help="the plugin's fsync option (its record of queued sends; default on)")
    ap.add_argument("--log-level", default="warning", help="server log level (default warning)")
    ap.add_argument("--destination-nice", type=int, default=19,
                    help="CPU niceness of the destination storescp (default 19; see above)")
    ap.add_argument("--send-share", type=int, default=None,
                    help="jobs.send_share_while_ingesting for the server (default: the server's, 5)")
    ap.add_argument("--destination-idle", action=argparse.BooleanOptionalAction, default=False,
                    help="run the destination storescp at SCHED_IDLE (see above)")
    ap.add_argument("--destination-dir",
                    default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None,
                    help="where the destination storescp writes (default /dev/shm; see above)")
    ap.add_argument("--drain-timeout", type=float, default=600.0,
                    help="seconds to wait for every instance to be forwarded (mode all)")
    args = ap.parse_args()

    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    for p in profiles:
        if p not in ingest.PROFILES:
            sys.exit(f"error: unknown profile {p!r} (known: {', '.join(ingest.PROFILES)})")
    if args.count < max(ASSOCIATION_COUNTS):
        sys.exit("error: --count must be at least 4")
    ossa_bin = benchlib.resolve_ossa(args.ossa)
    plugin = resolve_plugin(args.plugin, ossa_bin)
    for tool in ("storescu", "storescp", "echoscu"):
        benchlib.require_tool(tool)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)

    print(f"ossa: {ossa_bin}\nplugin: {plugin} (fsync {args.fsync})\nwork: {work}\n"
          f"count: {args.count} per profile, runs per cell: {args.runs} (median reported), "
          f"modes interleaved: {', '.join(MODES)}", flush=True)
    rows = []
    failures = 0
    try:
        for profile in profiles:
            datadir, total_bytes = ingest.prepare_data(work, profile, args.count)
            for assoc in ASSOCIATION_COUNTS:
                walls = {m: [] for m in MODES}
                drains = []
                for r in range(args.runs):
                    for mode in MODES:
                        run_dir = os.path.join(work, "run", mode)
                        wall, ok, drain = run_once(args, mode, ossa_bin, plugin, datadir,
                                                   args.count, assoc, run_dir)
                        if ok:
                            walls[mode].append(wall)
                            if drain is not None:
                                drains.append(drain)
                        else:
                            failures += 1
                        extra = f"  forwarded all after {drain:.2f}s" if drain is not None else ""
                        print(f"  {profile:5s} assoc={assoc} {mode:8s} run {r + 1}: {wall:7.3f}s "
                              f"{args.count / wall:8.1f} inst/s{extra}"
                              f"{'' if ok else '  FAILED (excluded)'}", flush=True)
                med = {m: statistics.median(w) if w else None for m, w in walls.items()}
                rows.append((profile, assoc, med, statistics.median(drains) if drains else None))
    finally:
        shutil.rmtree(os.path.join(work, "run"), ignore_errors=True)
        if not args.keep:
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)

    def rate(wall):
        return f"{args.count / wall:.1f}" if wall else "n/a"

    def cost(base, wall):
        if not base or not wall:
            return None
        return (1.0 - base / wall) * 100.0  # drop of the ingest rate, in percent

    print()
    print("Ingest rate with the routing plugin (median of runs, instances/s); cost = drop of the "
          "rate against no plugin")
    print(f"Target: cost < {TARGET_COST_PERCENT:.0f}% for nomatch and all")
    header = ("profile", "assoc", "none", "nomatch", "cost %", "all", "cost %", "all forwarded (s)",
              "target")
    table = []
    all_met = True
    for profile, assoc, med, drain in rows:
        c1 = cost(med["none"], med["nomatch"])
        c2 = cost(med["none"], med["all"])
        met = c1 is not None and c2 is not None and c1 < TARGET_COST_PERCENT and c2 < TARGET_COST_PERCENT
        all_met &= met
        table.append((profile, str(assoc), rate(med["none"]), rate(med["nomatch"]),
                      "n/a" if c1 is None else f"{c1:.1f}", rate(med["all"]),
                      "n/a" if c2 is None else f"{c2:.1f}",
                      "n/a" if drain is None else f"{drain:.2f}", "met" if met else "MISSED"))
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"\nOverall: target {'met' if all_met else 'NOT met'} (cost < {TARGET_COST_PERCENT:.0f}% "
          f"in every row)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
