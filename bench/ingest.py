#!/usr/bin/python3
"""Ossa ingest benchmark: C-STORE throughput of `ossa serve` against DCMTK's storescp.

For each profile (small: 64x64 8-bit MR-like; ct: 512x512 16-bit CT-like) and for 1 and 4
concurrent associations, N Part-10 files are sent with storescu (TCP_NODELAY=1) and the wall time
from starting the storescu processes to the last one exiting is measured. The same data then goes
to storescp writing into a directory on the same disk: the reference ceiling (storescp does NOT
fsync; Ossa acknowledges a C-STORE only after the file is fsynced and its index row committed with
SQLite WAL synchronous=FULL).

    /usr/bin/python3 bench/ingest.py [--count 1000] [--profiles small,ct] [--runs 3]
                                     [--work /tmp/ossa-bench-ingest] [--keep] [--ossa PATH]

Generated files are cached in WORK/data (generation time is not measured). Every run writes into
a folder of its own under WORK/run, all deleted at the end (unless --keep-output), and WORK/data
too unless --keep: deleting thousands of files just before a run slows the next run's file
creation on ext4 without a journal. Disk space: about 2 x runs x 2 x the profile's data (CT, 1,000
instances, 3 runs: ~6.3 GB).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

TARGET_PERCENT = 70.0
ASSOCIATION_COUNTS = (1, 4)
PROFILES = {
    # name: (SOP class, modality, rows, cols, bits allocated, bits stored, signed, instances/series)
    "small": ("1.2.840.10008.5.1.4.1.1.4", "MR", 64, 64, 8, 8, False, 25),
    "ct": ("1.2.840.10008.5.1.4.1.1.2", "CT", 512, 512, 16, 12, True, 100),
}
UID_ROOT = "1.2.826.0.1.3680043.8.498.77"  # pydicom's UID root + a benchmark-specific arc


def generate(profile, count, outdir, shards):
    """Writes `count` files of `profile` into outdir/shard0..shardN-1 (contiguous ranges, so each
    association carries whole series). Returns the total size in bytes."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

    sop_class, modality, rows, cols, bits, stored, signed, per_series = PROFILES[profile]
    rng = np.random.default_rng(12345)
    if bits == 8:
        y, x = np.mgrid[0:rows, 0:cols]
        base = ((np.sin(x / 5.0) + np.cos(y / 7.0)) * 60 + 128).astype(np.uint8)
        noise = rng.integers(0, 16, size=(rows, cols), dtype=np.uint8)
        pixels = (base // 2 + noise).astype(np.uint8)
    else:
        y, x = np.mgrid[0:rows, 0:cols]
        r = np.hypot(x - cols / 2, y - rows / 2)
        body = np.where(r < rows * 0.42, 1040, 0) - 1024  # water-ish disc in air, HU
        noise = rng.normal(0, 20, size=(rows, cols))
        pixels = (body + noise + 1024).astype(np.int16)  # stored values; intercept -1024
    pixel_bytes = pixels.tobytes()

    pnum = 1 if profile == "small" else 2
    per_shard = (count + shards - 1) // shards
    total = 0
    for i in range(count):
        series_no = i // per_series
        study_no = series_no // 2
        shard_dir = os.path.join(outdir, f"shard{i // per_shard}")
        os.makedirs(shard_dir, exist_ok=True)
        sop_uid = f"{UID_ROOT}.{pnum}.{count}.3.{i + 1}"
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = "20240115"
        ds.StudyTime = "101500"
        ds.AccessionNumber = f"BI{study_no:07d}"
        ds.Modality = modality
        ds.Manufacturer = "OssaBench"
        ds.ReferringPhysicianName = "REF^BENCH"
        ds.StudyDescription = f"{modality} ingest benchmark"
        ds.SeriesDescription = f"series {series_no}"
        ds.PatientName = f"BENCH^{profile.upper()}^{study_no // 4}"
        ds.PatientID = f"BI{profile[0].upper()}{study_no // 4:05d}"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyInstanceUID = f"{UID_ROOT}.{pnum}.{count}.1.{study_no + 1}"
        ds.SeriesInstanceUID = f"{UID_ROOT}.{pnum}.{count}.2.{series_no + 1}"
        ds.StudyID = str(study_no + 1)
        ds.SeriesNumber = series_no % 2 + 1
        ds.InstanceNumber = i % per_series + 1
        ds.ImagePositionPatient = [0, 0, float(i % per_series)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID = f"{UID_ROOT}.{pnum}.{count}.4.{study_no + 1}"
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 1.0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = cols
        ds.BitsAllocated = bits
        ds.BitsStored = stored
        ds.HighBit = stored - 1
        ds.PixelRepresentation = 1 if signed else 0
        if modality == "CT":
            ds.RescaleIntercept = -1024
            ds.RescaleSlope = 1
            ds.KVP = 120
        ds.PixelData = pixel_bytes
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        path = os.path.join(shard_dir, f"{i:06d}.dcm")
        ds.save_as(path, write_like_original=False)
        total += os.path.getsize(path)
    return total


def prepare_data(work, profile, count):
    """Cached generation: WORK/data/<profile>-<count>/{shard0..3, manifest.json}."""
    outdir = os.path.join(work, "data", f"{profile}-{count}")
    manifest = os.path.join(outdir, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            m = json.load(f)
        if m.get("count") == count and benchlib.count_files(outdir, ".dcm") == count:
            print(f"[{profile}] using cached {count} files in {outdir}", flush=True)
            return outdir, m["bytes"]
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    t0 = time.perf_counter()
    total = generate(profile, count, outdir, max(ASSOCIATION_COUNTS))
    with open(manifest, "w") as f:
        json.dump({"count": count, "bytes": total, "profile": profile}, f)
    print(f"[{profile}] generated {count} files, {total / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s "
          f"(not measured)", flush=True)
    return outdir, total


def shard_groups(datadir, associations):
    shards = sorted(d for d in os.listdir(datadir) if d.startswith("shard"))
    paths = [os.path.join(datadir, d) for d in shards]
    if associations == 1:
        return [paths]
    groups = [[] for _ in range(associations)]
    for i, p in enumerate(paths):
        groups[i % associations].append(p)
    return [g for g in groups if g]


def check_results(label, results):
    bad = [(i, rc, err) for i, (rc, err) in enumerate(results) if rc != 0]
    for i, rc, err in bad:
        print(f"  !! {label}: storescu #{i} exited with {rc}:\n{err.strip()[-2000:]}", flush=True)
    return not bad


def run_ossa(args, ossa_bin, datadir, count, associations, run_dir):
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    server = benchlib.OssaServer(ossa_bin, run_dir).start()
    os.sync()  # start from clean page cache: no writeback of earlier data competes with the fsyncs
    try:
        wall, results = benchlib.run_storescu_parallel(server.port, shard_groups(datadir, associations))
        ok = check_results("ossa", results)
        alive = server.alive()
    finally:
        rc = server.stop()
    stored = benchlib.count_files(os.path.join(run_dir, "storage"), ".dcm", exclude=())
    stored -= benchlib.count_files(os.path.join(run_dir, "storage", "tmp"), ".dcm")
    problems = []
    if not ok:
        problems.append("storescu failures")
    if not alive:
        problems.append("server died during the run")
    if rc != 0:
        problems.append(f"server exit status {rc} after SIGTERM")
    if stored != count:
        problems.append(f"{stored} files stored, expected {count}")
    if problems:
        print(f"  !! ossa run problems: {'; '.join(problems)}; log tail:\n{server.log_tail()}", flush=True)
    return wall, not problems


def run_storescp(args, datadir, count, associations, run_dir):
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    outdir = os.path.join(run_dir, "out")
    scp = benchlib.StoreScp(outdir, fork=True).start()
    os.sync()
    try:
        wall, results = benchlib.run_storescu_parallel(scp.port, shard_groups(datadir, associations))
        ok = check_results("storescp", results)
    finally:
        scp.stop()
    stored = benchlib.count_files(outdir)
    problems = []
    if not ok:
        problems.append("storescu failures")
    if stored != count:
        problems.append(f"{stored} files written, expected {count}")
    if problems:
        print(f"  !! storescp run problems: {'; '.join(problems)}", flush=True)
    return wall, not problems


def flush_latency_ms(work, nbytes=4096, samples=100):
    """Median time to make one new file of `nbytes` durable on the benchmark's disk (create,
    write, fsync: one journal commit and one disk flush, as a received instance needs). One
    association sends its next instance only after the previous answer, so no durable server can
    acknowledge it faster than one of these per instance."""
    folder = os.path.join(work, "flush-probe")
    os.makedirs(folder, exist_ok=True)
    payload = b"x" * nbytes
    times = []
    try:
        for i in range(samples):
            t0 = time.perf_counter()
            fd = os.open(os.path.join(folder, f"{i}.tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000, help="instances per profile (default 1000)")
    ap.add_argument("--profiles", default="small,ct", help="comma-separated: small,ct")
    ap.add_argument("--runs", type=int, default=3, help="runs per cell; the median is reported (default 3)")
    ap.add_argument("--work", default="/tmp/ossa-bench-ingest", help="work dir (default /tmp/ossa-bench-ingest)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files in WORK/data")
    ap.add_argument("--keep-output", action="store_true", help="keep each run's server output dirs")
    ap.add_argument("--ossa", help="ossa binary (default $OSSA_BIN or build/core/ossa)")
    args = ap.parse_args()

    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    for p in profiles:
        if p not in PROFILES:
            sys.exit(f"error: unknown profile {p!r} (known: {', '.join(PROFILES)})")
    if args.count < max(ASSOCIATION_COUNTS):
        sys.exit("error: --count must be at least 4")
    ossa_bin = benchlib.resolve_ossa(args.ossa)
    benchlib.require_tool("storescu")
    benchlib.require_tool("storescp")
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)

    print(f"ossa: {ossa_bin}\nwork: {work} (server output on the same disk)\n"
          f"count: {args.count} per profile, runs per cell: {args.runs} (median reported), "
          f"storescu with TCP_NODELAY=1", flush=True)
    rows = []
    try:
        for profile in profiles:
            datadir, total_bytes = prepare_data(work, profile, args.count)
            for assoc in ASSOCIATION_COUNTS:
                walls = {"ossa": [], "storescp": []}
                failures = {"ossa": 0, "storescp": 0}
                for r in range(args.runs):
                    for target in ("ossa", "storescp"):
                        # Every run writes into a folder of its own, and all are deleted at the
                        # end: ext4 without a journal (as on the machine of docs/performance.md)
                        # skips, one by one, the inodes freed in the last ~35 s when it allocates
                        # a new one, so a run right after deleting the previous run's thousands
                        # of files paid a scan per file (15-20% of the small profile's rate).
                        run_dir = os.path.join(work, "run", f"{profile}-{assoc}-{r + 1}-{target}")
                        if target == "ossa":
                            wall, ok = run_ossa(args, ossa_bin, datadir, args.count, assoc, run_dir)
                        else:
                            wall, ok = run_storescp(args, datadir, args.count, assoc, run_dir)
                        if ok:
                            walls[target].append(wall)
                        else:
                            failures[target] += 1
                        print(f"  {profile:5s} assoc={assoc} {target:8s} run {r + 1}: {wall:7.3f}s "
                              f"{args.count / wall:8.1f} inst/s {total_bytes / 1e6 / wall:8.1f} MB/s"
                              f"{'' if ok else '  FAILED (excluded)'}", flush=True)
                med = {t: statistics.median(w) if w else None for t, w in walls.items()}
                rows.append((profile, assoc, args.count, total_bytes, med, failures))
    finally:
        if not args.keep_output:
            shutil.rmtree(os.path.join(work, "run"), ignore_errors=True)
        if not args.keep:
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)

    def rate(wall, n):
        return f"{n / wall:.1f}" if wall else "n/a"

    print()
    print("Ingest throughput (median of runs; MB = 10^6 bytes of Part-10 files sent)")
    print("NOTE: storescp does NOT flush anything to disk; Ossa answers a C-STORE only once the file "
          "and its index row are durable (one syncfs per group-commit batch).")
    flush_ms = flush_latency_ms(work)
    print(f"Durable new file on this disk (create + 4 KiB + fsync, median of 100): {flush_ms:.2f} ms, so "
          f"ONE association can be acknowledged durably at most {1000 / flush_ms:.0f} times/s, "
          f"whatever the server does; several associations share a flush (group commit).")
    print(f"Target: ossa >= {TARGET_PERCENT:.0f}% of storescp")
    header = ("profile", "assoc", "ossa inst/s", "ossa MB/s", "storescp inst/s", "storescp MB/s",
              "ossa/storescp %", "target")
    table = []
    all_met = True
    for profile, assoc, n, nbytes, med, failures in rows:
        o, s = med["ossa"], med["storescp"]
        pct = (s / o * 100.0) if (o and s) else None  # ratio of rates = inverse ratio of times
        met = pct is not None and pct >= TARGET_PERCENT
        all_met &= met
        verdict = "met" if met else ("n/a" if pct is None else "MISSED")
        if failures["ossa"] or failures["storescp"]:
            verdict += f" ({failures['ossa']}+{failures['storescp']} failed runs)"
        table.append((profile, str(assoc), rate(o, n), rate(o, nbytes / 1e6), rate(s, n),
                      rate(s, nbytes / 1e6), f"{pct:.0f}" if pct is not None else "n/a", verdict))
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    # One association sends its next instance only after the answer to the previous one, so each
    # of a durable server's answers costs at least storescp's round trip (the client's own
    # turn-around, storescp adding almost nothing) plus one durable write of that instance: the
    # most any durable server could reach over one association on this machine. (Over several
    # associations group commit shares a write and the clients compete for the CPU, so no such
    # simple bound holds there.)
    for profile, assoc, n, nbytes, med, failures in rows:
        s, o = med["storescp"], med["ossa"]
        if assoc != 1 or not s:
            continue
        write_ms = flush_latency_ms(work, nbytes // n)
        round_trip_ms = s / n * 1000
        ceiling = 1000 / (round_trip_ms + write_ms)
        ossa_part = f"; ossa reached {n / o / ceiling * 100:.0f}% of it" if o else ""
        print(f"Ceiling of ANY durable server, {profile}, 1 association: storescp's round trip "
              f"{round_trip_ms:.2f} ms + one durable write of an instance's size "
              f"({nbytes // n} bytes) {write_ms:.2f} ms = {ceiling:.0f} inst/s "
              f"({ceiling / (n / s) * 100:.0f}% of storescp){ossa_part}")
    print(f"\nOverall: target {'met' if all_met else 'NOT met'} "
          f"(ossa >= {TARGET_PERCENT:.0f}% of storescp in every row)")
    return 0 if all(f["ossa"] == 0 for *_, f in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
