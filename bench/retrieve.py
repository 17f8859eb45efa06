#!/usr/bin/python3
"""Ossa retrieve benchmark: C-MOVE and C-GET throughput of one study against DCMTK's own
storescu -> storescp transfer of the same files.

A study of N CT-like instances (512x512, 16-bit, explicit VR little endian, ~0.5 MB each, in series
of 100) is generated once (cached in WORK/data) and stored into a fresh `ossa serve` with 4
concurrent storescu associations (not timed). Then, per run:

  reference  storescu sends the N files to storescp (one association)          -> storescp -od
  C-MOVE     movescu -S asks Ossa to move the study to that storescp           -> storescp -od
  C-GET      getscu -S retrieves the study on its own association              -> getscu -od

The time is the wall time from starting the client to its exit; every received file is counted.
One untimed warm-up round of the three comes first (page cache, first fork; --no-warmup skips it).
storescp (with --fork, -pdu 131072, as in ingest.py) and getscu write into folders on the same
disk as Ossa's storage; nobody fsyncs on the receiving side. `sync` runs before every run.

    /usr/bin/python3 bench/retrieve.py [--count 500] [--runs 3] [--work /tmp/ossa-bench-retrieve]
                                       [--ossa PATH] [--keep]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

TARGET_PERCENT = 70.0
PER_SERIES = 100
MAX_PDU = 131072
UID_ROOT = "1.2.826.0.1.3680043.8.498.78"  # pydicom's UID root + a benchmark-specific arc
DEST_AET = "BENCHDEST"


def generate(count, outdir, shards=4):
    """Writes `count` CT files of ONE study into outdir/shard0..3 (contiguous ranges); returns
    (total bytes, study UID)."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

    rows = cols = 512
    rng = np.random.default_rng(4242)
    y, x = np.mgrid[0:rows, 0:cols]
    r = np.hypot(x - cols / 2, y - rows / 2)
    body = np.where(r < rows * 0.42, 1040, 0) - 1024
    study_uid = f"{UID_ROOT}.{count}.1"
    per_shard = (count + shards - 1) // shards
    total = 0
    for i in range(count):
        series_no = i // PER_SERIES
        # a little noise per slice so the files differ (generation is not timed)
        pixels = (body + rng.normal(0, 20, size=(rows, cols)) + 1024).astype(np.int16)
        sop_uid = f"{UID_ROOT}.{count}.3.{i + 1}"
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = "20240301"
        ds.StudyTime = "093000"
        ds.AccessionNumber = "BRETR0001"
        ds.Modality = "CT"
        ds.Manufacturer = "OssaBench"
        ds.ReferringPhysicianName = "REF^BENCH"
        ds.StudyDescription = "CT retrieve benchmark"
        ds.SeriesDescription = f"series {series_no + 1}"
        ds.PatientName = "BENCH^RETRIEVE"
        ds.PatientID = "BRETR001"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = f"{UID_ROOT}.{count}.2.{series_no + 1}"
        ds.StudyID = "1"
        ds.SeriesNumber = series_no + 1
        ds.InstanceNumber = i % PER_SERIES + 1
        ds.ImagePositionPatient = [0, 0, float(i % PER_SERIES)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID = f"{UID_ROOT}.{count}.4"
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 1.0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = cols
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.KVP = 120
        ds.PixelData = pixels.tobytes()
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        shard_dir = os.path.join(outdir, f"shard{i // per_shard}")
        os.makedirs(shard_dir, exist_ok=True)
        path = os.path.join(shard_dir, f"{i:06d}.dcm")
        ds.save_as(path, write_like_original=False)
        total += os.path.getsize(path)
    return total, study_uid


def prepare_data(work, count):
    outdir = os.path.join(work, "data", f"ct-study-{count}")
    manifest = os.path.join(outdir, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            m = json.load(f)
        if m.get("count") == count and benchlib.count_files(outdir, ".dcm") == count:
            print(f"using cached {count} files in {outdir}", flush=True)
            return outdir, m["bytes"], m["study_uid"]
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    t0 = time.perf_counter()
    total, study_uid = generate(count, outdir)
    with open(manifest, "w") as f:
        json.dump({"count": count, "bytes": total, "study_uid": study_uid}, f)
    print(f"generated {count} files, {total / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s "
          f"(not measured)", flush=True)
    return outdir, total, study_uid


class RetrieveOssa(benchlib.OssaServer):
    """benchlib's server plus a `nodes:` section declaring the move destination."""

    def __init__(self, ossa_bin, root, nodes, **kw):
        super().__init__(ossa_bin, root, **kw)
        self.nodes = nodes

    def write_config(self):
        super().write_config()
        with open(self.config, "a") as f:
            f.write("nodes:\n")
            for aet, port in self.nodes:
                f.write(f"  - {{name: {aet}, aet: {aet}, host: 127.0.0.1, port: {port}, "
                        f"move_destination: true}}\n")


def empty_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def timed(cmd):
    """Runs cmd; returns (wall seconds, returncode, combined output)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=benchlib.dcmtk_env())
    return time.perf_counter() - t0, p.returncode, p.stdout.decode("utf-8", "replace")


def shard_dirs(datadir):
    return sorted(os.path.join(datadir, d) for d in os.listdir(datadir) if d.startswith("shard"))


def run_reference(datadir, scp, count):
    empty_dir(scp.outdir)
    os.sync()
    wall, rc, out = timed([benchlib.require_tool("storescu"), "-aec", DEST_AET, "-aet", "BENCHREF",
                           "+sd", "+r", "127.0.0.1", str(scp.port)] + shard_dirs(datadir))
    got = benchlib.count_files(scp.outdir)
    problems = []
    if rc != 0:
        problems.append(f"storescu exited with {rc}: {out.strip()[-1500:]}")
    if got != count:
        problems.append(f"{got} files received, expected {count}")
    return wall, problems


def final_counts(out):
    """(status, completed, failed) from movescu -v / getscu -v output, as far as printed."""
    status = None
    m = None
    for m in re.finditer(r"Received Final Move Response \(([^)\n]*)\)", out):
        pass
    if m:
        status = m.group(1)
    completed = re.findall(r"Number of Completed Suboperations\s*:\s*(\d+)", out)
    failed = re.findall(r"Number of Failed Suboperations\s*:\s*(\d+)", out)
    return status, (int(completed[-1]) if completed else None), (int(failed[-1]) if failed else None)


def run_move(server, scp, study_uid, count):
    empty_dir(scp.outdir)
    os.sync()
    wall, rc, out = timed([benchlib.require_tool("movescu"), "-v", "-S", "-aec", server.aet,
                           "-aet", "BENCHMOVE", "-aem", DEST_AET, "-k", "QueryRetrieveLevel=STUDY",
                           "-k", f"StudyInstanceUID={study_uid}", "127.0.0.1", str(server.port)])
    got = benchlib.count_files(scp.outdir)
    status, _, _ = final_counts(out)
    problems = []
    if rc != 0:
        problems.append(f"movescu exited with {rc}")
    if status != "Success":
        problems.append(f"final C-MOVE status {status!r}: {out.strip()[-1500:]}")
    if got != count:
        problems.append(f"{got} files received, expected {count}")
    return wall, problems


def run_get(server, outdir, study_uid, count):
    empty_dir(outdir)
    os.sync()
    # -v only for the final report (a few lines per instance on a pipe: negligible)
    wall, rc, out = timed([benchlib.require_tool("getscu"), "-v", "-S", "-aec", server.aet,
                           "-aet", "BENCHGET", "-pdu", str(MAX_PDU), "-od", outdir,
                           "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                           "127.0.0.1", str(server.port)])
    got = benchlib.count_files(outdir)
    _, completed, failed = final_counts(out)
    problems = []
    if rc != 0:
        problems.append(f"getscu exited with {rc}")
    if completed != count or failed:
        problems.append(f"C-GET completed={completed} failed={failed}: {out.strip()[-1500:]}")
    if got != count:
        problems.append(f"{got} files received, expected {count}")
    return wall, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=500, help="instances in the study (default 500)")
    ap.add_argument("--runs", type=int, default=3, help="runs per target; the median is reported (default 3)")
    ap.add_argument("--work", default="/tmp/ossa-bench-retrieve", help="work dir (default /tmp/ossa-bench-retrieve)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files in WORK/data")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false",
                    help="skip the untimed first round of the three transfers")
    ap.add_argument("--ossa", help="ossa binary (default $OSSA_BIN or build/core/ossa)")
    args = ap.parse_args()
    if args.count < 4:
        sys.exit("error: --count must be at least 4")
    ossa_bin = benchlib.resolve_ossa(args.ossa)
    for tool in ("storescu", "storescp", "movescu", "getscu", "echoscu"):
        benchlib.require_tool(tool)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    print(f"ossa: {ossa_bin}\nwork: {work} (Ossa storage and every receiver's folder on the same disk)\n"
          f"study: {args.count} CT instances 512x512x16, runs: {args.runs} (median reported), "
          f"DCMTK clients with TCP_NODELAY=1", flush=True)

    datadir, total_bytes, study_uid = prepare_data(work, args.count)
    run_root = os.path.join(work, "run")
    shutil.rmtree(run_root, ignore_errors=True)
    os.makedirs(run_root)
    scp = benchlib.StoreScp(os.path.join(run_root, "storescp-in"), fork=True, max_pdu=MAX_PDU,
                            aet=DEST_AET).start()
    server = RetrieveOssa(ossa_bin, os.path.join(run_root, "ossa"), [(DEST_AET, scp.port)])
    walls = {"reference": [], "C-MOVE": [], "C-GET": []}
    failures = {k: 0 for k in walls}
    exit_status = 0
    try:
        server.start()
        shards = shard_dirs(datadir)
        t0 = time.perf_counter()
        wall, results = benchlib.run_storescu_parallel(server.port, [[s] for s in shards])
        bad = [(i, rc, err) for i, (rc, err) in enumerate(results) if rc != 0]
        if bad:
            for i, rc, err in bad:
                print(f"  !! ingest storescu #{i} exited with {rc}:\n{err.strip()[-2000:]}")
            raise SystemExit("error: could not store the study into Ossa")
        print(f"stored the study into Ossa with {len(shards)} associations in {wall:.1f}s "
              f"({args.count / wall:.0f} inst/s; not part of the comparison)", flush=True)
        getdir = os.path.join(run_root, "getscu-in")
        rounds = ([-1] if args.warmup else []) + list(range(args.runs))
        for r in rounds:
            for target in ("reference", "C-MOVE", "C-GET"):
                if target == "reference":
                    wall, problems = run_reference(datadir, scp, args.count)
                elif target == "C-MOVE":
                    wall, problems = run_move(server, scp, study_uid, args.count)
                else:
                    wall, problems = run_get(server, getdir, study_uid, args.count)
                if not server.alive():
                    problems.append(f"ossa died; log tail:\n{server.log_tail()}")
                label = "warm-up" if r < 0 else f"run {r + 1}"
                if problems:
                    failures[target] += 1
                    print(f"  !! {target} {label}: " + "; ".join(problems), flush=True)
                elif r >= 0:
                    walls[target].append(wall)
                print(f"  {target:9s} {label:7s}: {wall:7.3f}s {args.count / wall:8.1f} inst/s "
                      f"{total_bytes / 1e6 / wall:8.1f} MB/s{'' if not problems else '  FAILED (excluded)'}",
                      flush=True)
    finally:
        rc = server.stop() if server.proc is not None else 0
        scp.stop()
        if rc not in (0, None):
            print(f"  !! ossa exit status {rc} after SIGTERM")
            exit_status = 1
        shutil.rmtree(run_root, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)

    med = {t: statistics.median(w) if w else None for t, w in walls.items()}
    ref = med["reference"]
    print()
    print(f"Retrieve throughput, one study of {args.count} instances, {total_bytes / 1e6:.1f} MB "
          f"(median of runs; MB = 10^6 bytes of the Part-10 files)")
    print("reference = storescu -> storescp with the same files; target: C-MOVE and C-GET >= "
          f"{TARGET_PERCENT:.0f}% of the reference rate")
    header = ("transfer", "seconds", "inst/s", "MB/s", "% of reference", "target")
    table = []
    all_met = True
    for t in ("reference", "C-MOVE", "C-GET"):
        w = med[t]
        pct = (ref / w * 100.0) if (w and ref) else None
        if t == "reference":
            verdict = "-"
        else:
            met = pct is not None and pct >= TARGET_PERCENT
            all_met &= met
            verdict = "met" if met else ("n/a" if pct is None else "MISSED")
        if failures[t]:
            verdict += f" ({failures[t]} failed runs)"
        table.append((t, f"{w:.3f}" if w else "n/a", f"{args.count / w:.1f}" if w else "n/a",
                      f"{total_bytes / 1e6 / w:.1f}" if w else "n/a",
                      f"{pct:.0f}" if pct is not None else "n/a", verdict))
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(f"\nOverall: target {'met' if all_met else 'NOT met'}")
    if failures["C-MOVE"] or failures["C-GET"]:
        exit_status = 1
    return exit_status


if __name__ == "__main__":
    sys.exit(main())
