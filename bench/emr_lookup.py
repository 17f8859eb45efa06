#!/usr/bin/python3
"""Ossa EMR look-up benchmark: what the emr-lookup plugin costs the C-STORE ingest rate when its
cache is warm.

The ingest of bench/ingest.py (same generated data, same storescu runs, wall time from starting
the storescu processes to the last one exiting) is measured in two set-ups, interleaved run by
run, each on a fresh `ossa serve` (empty storage and index):

  * off  no plugin loaded (the reference);
  * on   the emr-lookup plugin asking a FHIR-shaped EMR run by this script (http.server on a
         free port), which knows every patient of the data set with other demographics than the
         files carry: every instance is coerced (PatientName, PatientBirthDate, PatientSex,
         OtherPatientIDs) and the host records the received values in Original Attributes
         Sequence, so each stored file is rewritten once.

"Cache warm": in both set-ups the data is first sent once untimed (in `on` this fills the
plugin's cache: one EMR request per patient), then sent again and timed (the instances replace
their first copies: storage.duplicates is overwrite in both set-ups). The script checks that the
timed pass made no EMR request.

    /usr/bin/python3 bench/emr_lookup.py [--count 1000] [--profiles small,ct] [--runs 3]
                                         [--work /tmp/ossa-bench-emr] [--keep] [--ossa PATH]
                                         [--plugin PATH] [--log-level warning]

The plugin is --plugin, else <build>/plugins/emr-lookup/emr-lookup.so beside <build>/core/ossa.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import ingest  # noqa: E402  (data generation and sharding are shared with the ingest benchmark)

MODES = ("off", "on")
ASSOCIATION_COUNTS = ingest.ASSOCIATION_COUNTS


class Emr:
    """A FHIR-shaped EMR that knows every patient ID: Patient?identifier=value -> one Patient."""

    def __init__(self):
        self.requests = 0
        self.lock = threading.Lock()
        emr = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                value = query.get("identifier", [""])[0].rpartition("|")[2]
                with emr.lock:
                    emr.requests += 1
                patient = {"resourceType": "Patient",
                           "identifier": [{"value": value}, {"system": "urn:bench",
                                                             "value": "EMR-" + value}],
                           "name": [{"use": "official", "family": "EMR",
                                     "given": ["Patient", value]}],
                           "birthDate": "1980-02-29", "gender": "female"}
                body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 1,
                                   "entry": [{"resource": patient}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/fhir" % self.httpd.server_address[1]

    def count(self):
        with self.lock:
            return self.requests

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class EmrServer(benchlib.OssaServer):
    """benchlib's server plus a `plugins:` section (JSON flow style is YAML)."""

    def __init__(self, ossa_bin, root, plugin=None, plugin_config=None, **kw):
        super().__init__(ossa_bin, root, **kw)
        self.plugin = plugin
        self.plugin_config = plugin_config

    def write_config(self):
        super().write_config()
        if self.plugin:
            with open(self.config, "a") as f:
                f.write("plugins: %s\n" % json.dumps([{"path": self.plugin,
                                                        "config": self.plugin_config or {}}]))


def resolve_plugin(arg, ossa_bin):
    path = arg or os.path.join(os.path.dirname(os.path.dirname(ossa_bin)), "plugins", "emr-lookup",
                               "emr-lookup.so")
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        sys.exit(f"error: emr-lookup plugin not found at {path} (use --plugin)")
    return path


def run_once(args, mode, ossa_bin, plugin, emr, datadir, count, associations, run_dir):
    """Warm-up pass, then the timed pass, into a fresh server; returns (wall, ok)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    config = None
    if mode == "on":
        config = {"source": "fhir", "fhir": {"base_url": emr.base_url},
                  "cache": {"ttl_seconds": 3600, "max_entries": 100000}}
    server = EmrServer(ossa_bin, os.path.join(run_dir, "ossa"),
                       plugin=plugin if mode == "on" else None, plugin_config=config,
                       log_level=args.log_level).start()
    problems = []
    wall = None
    try:
        groups = ingest.shard_groups(datadir, associations)
        _, warm = benchlib.run_storescu_parallel(server.port, groups)
        if not ingest.check_results(f"ossa/{mode} warm-up", warm):
            problems.append("warm-up storescu failures")
        requests_before = emr.count()
        os.sync()
        wall, results = benchlib.run_storescu_parallel(server.port, groups)
        if not ingest.check_results(f"ossa/{mode}", results):
            problems.append("storescu failures")
        if mode == "on" and emr.count() != requests_before:
            problems.append(f"the timed pass asked the EMR {emr.count() - requests_before} times "
                            "(cache not warm)")
        if not server.alive():
            problems.append("server died during the run")
    finally:
        rc = server.stop()
    if rc != 0:
        problems.append(f"server exit status {rc} after SIGTERM")
    stored = benchlib.count_files(os.path.join(run_dir, "ossa", "storage"), ".dcm")
    stored -= benchlib.count_files(os.path.join(run_dir, "ossa", "storage", "tmp"), ".dcm")
    if stored != count:
        problems.append(f"{stored} files stored, expected {count}")
    if mode == "on" and not problems:
        problems += check_coerced(os.path.join(run_dir, "ossa", "storage"))
    if problems:
        print(f"  !! {mode} run problems: {'; '.join(problems)}; log tail:\n{server.log_tail()}",
              flush=True)
    if not args.keep_output:
        shutil.rmtree(run_dir, ignore_errors=True)
    return wall, not problems


def check_coerced(storage):
    """One stored file, read back: the EMR's name and the received one in the sequence."""
    import pydicom
    for root, dirs, files in os.walk(storage):
        dirs[:] = [d for d in dirs if d != "tmp"]
        for name in files:
            if name.endswith(".dcm"):
                ds = pydicom.dcmread(os.path.join(root, name))
                if not str(ds.PatientName).startswith("EMR^Patient^"):
                    return [f"{name}: PatientName {ds.PatientName} was not coerced"]
                if "OriginalAttributesSequence" not in ds:
                    return [f"{name}: no Original Attributes Sequence"]
                return []
    return ["no stored file found"]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000, help="instances per profile (default 1000)")
    ap.add_argument("--profiles", default="small,ct", help="comma-separated: small,ct")
    ap.add_argument("--runs", type=int, default=3,
                    help="runs per cell; the median is reported (default 3)")
    ap.add_argument("--work", default="/tmp/ossa-bench-emr", help="work dir (default /tmp/ossa-bench-emr)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files in WORK/data")
    ap.add_argument("--keep-output", action="store_true", help="keep each run's server output dirs")
    ap.add_argument("--ossa", help="ossa binary (default $OSSA_BIN or build/core/ossa)")
    ap.add_argument("--plugin", help="emr-lookup.so (default <build>/plugins/emr-lookup/emr-lookup.so)")
    ap.add_argument("--log-level", default="warning", help="server log level (default warning)")
    args = ap.parse_args()

    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    for p in profiles:
        if p not in ingest.PROFILES:
            sys.exit(f"error: unknown profile {p!r} (known: {', '.join(ingest.PROFILES)})")
    if args.count < max(ASSOCIATION_COUNTS):
        sys.exit("error: --count must be at least 4")
    ossa_bin = benchlib.resolve_ossa(args.ossa)
    plugin = resolve_plugin(args.plugin, ossa_bin)
    for tool in ("storescu", "echoscu"):
        benchlib.require_tool(tool)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    emr = Emr()

    print(f"ossa: {ossa_bin}\nplugin: {plugin}\nEMR: {emr.base_url}\nwork: {work}\n"
          f"count: {args.count} per profile, runs per cell: {args.runs} (median reported), "
          f"modes interleaved: {', '.join(MODES)}; each run: warm-up pass, then the timed pass",
          flush=True)
    rows = []
    failures = 0
    try:
        for profile in profiles:
            datadir, _ = ingest.prepare_data(work, profile, args.count)
            for assoc in ASSOCIATION_COUNTS:
                walls = {m: [] for m in MODES}
                for r in range(args.runs):
                    for mode in MODES:
                        run_dir = os.path.join(work, "run", mode)
                        wall, ok = run_once(args, mode, ossa_bin, plugin, emr, datadir,
                                            args.count, assoc, run_dir)
                        if ok:
                            walls[mode].append(wall)
                        else:
                            failures += 1
                        shown = f"{wall:7.3f}s {args.count / wall:8.1f} inst/s" if wall else "n/a"
                        print(f"  {profile:5s} assoc={assoc} {mode:3s} run {r + 1}: {shown}"
                              f"{'' if ok else '  FAILED (excluded)'}", flush=True)
                rows.append((profile, assoc,
                             {m: statistics.median(w) if w else None for m, w in walls.items()}))
    finally:
        emr.stop()
        shutil.rmtree(os.path.join(work, "run"), ignore_errors=True)
        if not args.keep:
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)

    def rate(wall):
        return f"{args.count / wall:.1f}" if wall else "n/a"

    print()
    print("Ingest rate with emr-lookup, cache warm (median of runs, instances/s); "
          "cost = drop of the rate against no plugin")
    header = ("profile", "assoc", "off", "on", "cost %")
    table = []
    for profile, assoc, med in rows:
        cost = (1.0 - med["off"] / med["on"]) * 100.0 if med["off"] and med["on"] else None
        table.append((profile, str(assoc), rate(med["off"]), rate(med["on"]),
                      "n/a" if cost is None else f"{cost:.1f}"))
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
