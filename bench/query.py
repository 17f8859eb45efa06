#!/usr/bin/python3
"""Ossa C-FIND latency benchmark on a realistic archive.

1. Builds (once; cached in --work) an archive of --instances instances in --studies studies
   (default 100,000 in 10,000: 1,250 patients, 10 instances per study in 1-3 series, names from
   lists including Latin-1 ones sent with SpecificCharacterSet ISO_IR 100, StudyDate across
   2015-2024, unique accession numbers, modalities CT/MR/US/CR/PT with PET studies carrying a CT
   series). The 8x8-pixel Part-10 files are generated from ONE template written with pydicom
   (constant elements encoded once by pydicom, the per-file ones patched in), then sent through
   the real network path: 4 concurrent storescu associations (TCP_NODELAY=1) into `ossa serve`.
   The ingest rate is printed. `--ingest import` uses `ossa import` instead.
2. Starts `ossa serve` on the archive and runs ossa_query_latency (one association, every query
   --repeat times) for study-level C-FINDs by PatientID, PatientName prefix (ASCII and Latin-1),
   StudyDate month range, AccessionNumber and all studies, plus series-level in one study and
   image-level in one series; match counts are checked against the generated catalogue.

    /usr/bin/python3 bench/query.py [--instances 100000] [--studies 10000] [--repeat 50]
        [--work /tmp/ossa-bench-query] [--ossa PATH] [--latency-bin PATH] [--rebuild]
"""

import argparse
import json
import multiprocessing
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

TARGET_MS = 20.0
SHARDS = 4
SEED = 20240601
UID_ROOT = "1.2.826.0.1.3680043.8.498.78"  # pydicom's UID root + a benchmark-specific arc
LAYOUT_VERSION = 1

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
}
MODALITY_WEIGHTS = [("CT", 30), ("MR", 25), ("US", 15), ("CR", 20), ("PT", 10)]
DESCRIPTIONS = {
    "CT": ["CT HEAD W/O CONTRAST", "CT CHEST", "CT ABDOMEN PELVIS", "CT ANGIO NECK", "CT SPINE"],
    "MR": ["MR BRAIN", "MR KNEE LEFT", "MR LUMBAR SPINE", "MR PROSTATE", "MR SHOULDER RIGHT"],
    "US": ["US ABDOMEN", "US THYROID", "US OBSTETRIC", "US CAROTID DOPPLER"],
    "CR": ["CHEST PA AND LATERAL", "HAND 3 VIEWS", "KNEE 2 VIEWS", "PELVIS AP"],
    "PT": ["PET-CT WHOLE BODY FDG", "PET-CT ONCOLOGY", "PET BRAIN"],
}
BODY_PARTS = {"CT": "CHEST", "MR": "BRAIN", "US": "ABDOMEN", "CR": "CHEST", "PT": "WHOLEBODY"}
FAMILY_ASCII = [
    "SMITH", "SMITHSON", "SMIRNOV", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER",
    "DAVIS", "RODRIGUEZ", "MARTINEZ", "HERNANDEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR",
    "MOORE", "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ",
    "CLARK", "RAMIREZ", "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT",
    "SCOTT", "TORRES", "NGUYEN", "HILL", "FLORES", "GREEN", "ADAMS", "NELSON", "BAKER", "HALL",
    "ROSSI", "BIANCHI", "SCHMIDT", "SCHNEIDER", "FISCHER", "WEBER", "MEYER", "WAGNER", "BECKER",
    "DUBOIS", "MOREAU", "LAURENT", "SIMON", "MICHEL", "JANSSEN", "DE VRIES", "VAN DIJK",
]
FAMILY_LATIN1 = [
    "MÜLLER", "MÜLLER-LÜDENSCHEIDT", "GONÇALVES", "NÚÑEZ", "FRANÇOIS", "ØSTERGÅRD", "STRÖM",
    "JÄRVINEN", "LÓPEZ", "PEÑA", "DÍAZ", "BÉRANGER", "HÄKKINEN", "SØRENSEN", "ÅBERG", "GÖTZE",
]
GIVEN = [
    "JOHN", "MARY", "JAMES", "PATRICIA", "ROBERT", "JENNIFER", "MICHAEL", "LINDA", "DAVID",
    "ELIZABETH", "MARIA", "ANNA", "PETER", "THOMAS", "SARAH", "LAURA", "PAUL", "ANNE", "MARC",
    "SOPHIE", "LUCAS", "EMMA", "NOAH", "MIA", "LEON", "HANNA",
]
GIVEN_LATIN1 = ["ZOË", "JOSÉ", "ÅSA", "BJÖRN", "CÉLINE", "JÜRGEN", "RENÉ", "INÊS", "SØREN", "FRANÇOISE"]
REFERRING = ["HOUSE^GREGORY", "GREY^MEREDITH", "KILDARE^JAMES", "QUINN^MICHAELA", "WELBY^MARCUS", ""]
STUDY_RETURN_KEYS = ("StudyInstanceUID=;PatientName=;PatientID=;PatientBirthDate=;PatientSex=;"
                     "StudyDate=;StudyTime=;AccessionNumber=;StudyDescription=;ModalitiesInStudy=;"
                     "ReferringPhysicianName=;StudyID=;NumberOfStudyRelatedSeries=;"
                     "NumberOfStudyRelatedInstances=")
SERIES_RETURN_KEYS = ("SeriesInstanceUID=;Modality=;SeriesNumber=;SeriesDescription=;"
                      "NumberOfSeriesRelatedInstances=")
IMAGE_RETURN_KEYS = "SOPInstanceUID=;SOPClassUID=;InstanceNumber="


# ----------------------------------------------------------------------------- catalogue

def plan_archive(n_instances, n_studies, seed=SEED):
    """The whole archive as plain data (deterministic for a given size and seed)."""
    rng = random.Random(seed)
    n_patients = max(1, round(n_studies / 8))
    patients = []
    for p in range(n_patients):
        latin1 = rng.random() < 0.15
        family = rng.choice(FAMILY_LATIN1 if latin1 else FAMILY_ASCII)
        given = rng.choice(GIVEN_LATIN1 if (latin1 and rng.random() < 0.5) else GIVEN)
        birth = date(1930, 1, 1) + timedelta(days=rng.randrange(90 * 365))
        patients.append({
            "id": f"P{p + 1:06d}",
            "name": f"{family}^{given}",
            "latin1": latin1,
            "birth": birth.strftime("%Y%m%d"),
            "sex": rng.choice("MF") if rng.random() < 0.97 else "O",
        })
    # every patient gets one study; the rest go to patients with a skew (some have many)
    weights = [rng.expovariate(1.0) ** 2 for _ in range(n_patients)]
    owners = list(range(min(n_patients, n_studies)))
    owners += rng.choices(range(n_patients), weights=weights, k=n_studies - len(owners))
    rng.shuffle(owners)
    base, extra = divmod(n_instances, n_studies)
    first_day = date(2015, 1, 1)
    n_days = (date(2024, 12, 31) - first_day).days + 1
    accessions = rng.sample(range(10 ** 7, 10 ** 8), n_studies)
    modalities = [m for m, _ in MODALITY_WEIGHTS]
    mweights = [w for _, w in MODALITY_WEIGHTS]
    studies = []
    for s in range(n_studies):
        modality = rng.choices(modalities, weights=mweights)[0]
        n_inst = base + (1 if s < extra else 0)
        n_series = min(rng.choice((1, 1, 2, 2, 3)) if modality != "PT" else rng.choice((2, 3)), n_inst)
        counts = [n_inst // n_series + (1 if i < n_inst % n_series else 0) for i in range(n_series)]
        series = []
        for i, c in enumerate(counts):
            smod = "CT" if (modality == "PT" and i == 1) else modality
            series.append({
                "uid": f"{UID_ROOT}.2.{s + 1}.{i + 1}",
                "modality": smod,
                "number": i + 1,
                "description": f"{smod} SERIES {i + 1}",
                "instances": c,
            })
        day = first_day + timedelta(days=rng.randrange(n_days))
        t = rng.randrange(7 * 3600, 20 * 3600)
        studies.append({
            "uid": f"{UID_ROOT}.1.{s + 1}",
            "index": s,
            "patient": owners[s],
            "date": day.strftime("%Y%m%d"),
            "time": f"{t // 3600:02d}{t // 60 % 60:02d}{t % 60:02d}",
            "accession": f"A{accessions[s]}",
            "description": rng.choice(DESCRIPTIONS[modality]),
            "referring": rng.choice(REFERRING),
            "study_id": str(rng.randrange(1, 100000)),
            "modality": modality,
            "series": series,
        })
    return {"patients": patients, "studies": studies}


# ----------------------------------------------------------------------------- file writing

_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}


def _el(tag, vr, value):
    """One explicit-VR little-endian element (strings padded to even length as PS3.5 says)."""
    if len(value) % 2:
        value += b"\0" if vr == b"UI" else b" "
    if vr in _LONG_VRS:
        return struct.pack("<HH2s2xI", tag >> 16, tag & 0xFFFF, vr, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


# Tags patched per file (everything else comes from the pydicom template).
VARYING = {
    0x00080005: b"CS", 0x00080016: b"UI", 0x00080018: b"UI", 0x00080020: b"DA", 0x00080021: b"DA",
    0x00080030: b"TM", 0x00080031: b"TM", 0x00080050: b"SH", 0x00080060: b"CS", 0x00080090: b"PN",
    0x00081030: b"LO", 0x0008103E: b"LO", 0x00100010: b"PN", 0x00100020: b"LO", 0x00100030: b"DA",
    0x00100040: b"CS", 0x00180015: b"CS", 0x0020000D: b"UI", 0x0020000E: b"UI", 0x00200010: b"SH",
    0x00200011: b"IS", 0x00200013: b"IS",
}


def build_template():
    """ONE template dataset written with pydicom; returns {tag: encoded bytes} of its constant
    elements (pixel module, manufacturer, ...), each encoded by pydicom itself."""
    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    ds = Dataset()
    ds.Manufacturer = "OssaBench"
    ds.InstitutionName = "OSSA GENERAL HOSPITAL"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(128))
    ds["PixelData"].VR = "OW"
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    encoded = {}
    for elem in ds:
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        write_data_element(fp, elem)
        encoded[int(elem.tag)] = fp.getvalue()
    return encoded


def encode_file(template, values):
    """Part-10 bytes for one instance: the template's constant elements plus `values`
    ({tag: bytes}), in ascending tag order."""
    parts = dict(template)
    for tag, raw in values.items():
        parts[tag] = _el(tag, VARYING[tag], raw)
    body = b"".join(parts[t] for t in sorted(parts))
    sop_class, sop_inst = values[0x00080016], values[0x00080018]
    meta = (_el(0x00020001, b"OB", b"\x00\x01") + _el(0x00020002, b"UI", sop_class) +
            _el(0x00020003, b"UI", sop_inst) + _el(0x00020010, b"UI", b"1.2.840.10008.1.2.1") +
            _el(0x00020012, b"UI", b"1.2.826.0.1.3680043.8.498.1") +
            _el(0x00020013, b"SH", b"OSSA_BENCH"))
    group_len = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(meta))
    return b"\0" * 128 + b"DICM" + group_len + meta + body


def instance_values(patient, study, series, number):
    enc = "latin-1" if patient["latin1"] else "ascii"
    v = {
        0x00080016: SOP_CLASSES[series["modality"]].encode(),
        0x00080018: f"{UID_ROOT}.3.{study['index'] + 1}.{series['number']}.{number}".encode(),
        0x00080020: study["date"].encode(),
        0x00080021: study["date"].encode(),
        0x00080030: study["time"].encode(),
        0x00080031: study["time"].encode(),
        0x00080050: study["accession"].encode(),
        0x00080060: series["modality"].encode(),
        0x00080090: study["referring"].encode(),
        0x00081030: study["description"].encode(),
        0x0008103E: series["description"].encode(),
        0x00100010: patient["name"].encode(enc),
        0x00100020: patient["id"].encode(),
        0x00100030: patient["birth"].encode(),
        0x00100040: patient["sex"].encode(),
        0x00180015: BODY_PARTS[series["modality"]].encode(),
        0x0020000D: study["uid"].encode(),
        0x0020000E: series["uid"].encode(),
        0x00200010: study["study_id"].encode(),
        0x00200011: str(series["number"]).encode(),
        0x00200013: str(number).encode(),
    }
    if patient["latin1"]:
        v[0x00080005] = b"ISO_IR 100"
    return v


def _write_chunk(job):
    src, patients, studies = job
    template = build_template()
    n = 0
    for study in studies:
        shard = study["index"] % SHARDS
        d = os.path.join(src, f"shard{shard}", f"{study['index'] // 100:04d}")
        os.makedirs(d, exist_ok=True)
        patient = patients[study["patient"]]
        for series in study["series"]:
            for number in range(1, series["instances"] + 1):
                data = encode_file(template, instance_values(patient, study, series, number))
                with open(os.path.join(d, f"{study['index']:05d}_{series['number']}_{number:03d}.dcm"), "wb") as f:
                    f.write(data)
                n += 1
    return n


def generate_files(src, plan, workers=2):
    studies = plan["studies"]
    chunk = max(1, len(studies) // 40)
    jobs = [(src, plan["patients"], studies[i:i + chunk]) for i in range(0, len(studies), chunk)]
    with multiprocessing.Pool(workers) as pool:
        return sum(pool.imap_unordered(_write_chunk, jobs))


def validate_sample(src, plan):
    """Reads a few generated files back with pydicom and checks them against the plan."""
    import pydicom
    rng = random.Random(1)
    picks = rng.sample(plan["studies"], min(5, len(plan["studies"])))
    latin = [s for s in plan["studies"] if plan["patients"][s["patient"]]["latin1"]][:2]
    for study in picks + latin:
        series = study["series"][-1]
        path = os.path.join(src, f"shard{study['index'] % SHARDS}", f"{study['index'] // 100:04d}",
                            f"{study['index']:05d}_{series['number']}_{series['instances']:03d}.dcm")
        ds = pydicom.dcmread(path)
        patient = plan["patients"][study["patient"]]
        assert str(ds.PatientName) == patient["name"], (str(ds.PatientName), patient["name"])
        assert ds.PatientID == patient["id"] and ds.StudyInstanceUID == study["uid"]
        assert ds.SeriesInstanceUID == series["uid"] and ds.InstanceNumber == series["instances"]
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.pixel_array.shape == (8, 8)
    r = subprocess.run(["dcmdump", "-q", path], capture_output=True)  # DCMTK parses it too
    if r.returncode != 0:
        raise RuntimeError(f"dcmdump rejects a generated file {path}: {r.stderr.decode()}")


# ----------------------------------------------------------------------------- archive build

def archive_ready(work, n_instances, n_studies):
    try:
        with open(os.path.join(work, "manifest.json")) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    if (m.get("instances"), m.get("studies"), m.get("seed"), m.get("layout")) != \
            (n_instances, n_studies, SEED, LAYOUT_VERSION):
        return None
    if not os.path.exists(os.path.join(work, "archive", "index.sqlite")):
        return None
    stored = count_stored(os.path.join(work, "archive", "storage"))
    if stored != n_instances:
        print(f"cached archive has {stored} files, expected {n_instances}: rebuilding", flush=True)
        return None
    return m


def count_stored(storage):
    n = 0
    for root, dirs, files in os.walk(storage):
        if root == storage and "tmp" in dirs:
            dirs.remove("tmp")
        n += sum(1 for f in files if f.endswith(".dcm"))
    return n


def build_archive(args, ossa_bin, work, n_instances, n_studies, plan):
    shutil.rmtree(os.path.join(work, "archive"), ignore_errors=True)
    try:
        os.remove(os.path.join(work, "manifest.json"))
    except FileNotFoundError:
        pass
    src = os.path.join(work, "src")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    t0 = time.perf_counter()
    written = generate_files(src, plan)
    gen_s = time.perf_counter() - t0
    validate_sample(src, plan)
    print(f"generated {written} files ({len(plan['studies'])} studies, {len(plan['patients'])} patients) "
          f"in {gen_s:.1f}s (not part of the ingest rate)", flush=True)
    os.sync()

    archive = os.path.join(work, "archive")
    os.makedirs(archive)
    server = benchlib.OssaServer(ossa_bin, archive)
    if args.ingest == "storescu":
        server.start()
        groups = [[os.path.join(src, f"shard{k}")] for k in range(SHARDS)]
        print(f"ingesting with {SHARDS} concurrent storescu associations to ossa on port {server.port} ...",
              flush=True)
        try:
            wall, results = benchlib.run_storescu_parallel(server.port, groups)
            alive = server.alive()
        finally:
            rc = server.stop()
        failed = [(i, r, e) for i, (r, e) in enumerate(results) if r != 0]
        for i, r, e in failed:
            print(f"!! storescu #{i} exited with {r}:\n{e.strip()[-3000:]}", flush=True)
        if failed or not alive or rc != 0:
            sys.exit(f"error: ingest failed (server alive during run: {alive}, exit status {rc}); "
                     f"server log tail:\n{server.log_tail()}")
        method = f"{SHARDS} concurrent storescu associations (C-STORE over TCP, TCP_NODELAY=1)"
    else:
        server.write_config()
        print("ingesting with `ossa import` ...", flush=True)
        t = time.perf_counter()
        r = subprocess.run([ossa_bin, "import", "--config", server.config, src], capture_output=True)
        wall = time.perf_counter() - t
        if r.returncode != 0:
            sys.exit(f"error: ossa import exited with {r.returncode}:\n{r.stderr.decode()[-3000:]}")
        method = "ossa import (local files, 4 threads)"
    stored = count_stored(os.path.join(archive, "storage"))
    if stored != n_instances:
        sys.exit(f"error: {stored} files in the archive after ingest, expected {n_instances}")
    total_bytes = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(src) for f in fs)
    manifest = {
        "instances": n_instances, "studies": n_studies, "patients": len(plan["patients"]),
        "seed": SEED, "layout": LAYOUT_VERSION, "ingest_method": method,
        "ingest_seconds": wall, "ingest_rate": n_instances / wall,
        "ingest_mb_per_s": total_bytes / 1e6 / wall, "generated_seconds": gen_s,
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    with open(os.path.join(work, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    if not args.keep_source:
        shutil.rmtree(src, ignore_errors=True)
    return manifest


# ----------------------------------------------------------------------------- queries

def nearest_rank(sorted_values, p):
    if not sorted_values:
        return 0.0
    import math
    k = max(1, min(len(sorted_values), math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[k - 1]


def median(sorted_values):
    n = len(sorted_values)
    if n == 0:
        return 0.0
    return sorted_values[n // 2] if n % 2 else (sorted_values[n // 2 - 1] + sorted_values[n // 2]) / 2


def keys(level, returns, **match):
    """'key=value;...' for a query file line: the level, the return keys (empty), and the matching
    keys, each key once (a matching key replaces the empty return key of the same name)."""
    items = {"QueryRetrieveLevel": level}
    for k in returns.split(";"):
        if k:
            items[k.rstrip("=")] = ""
    items.update(match)
    if "SpecificCharacterSet" in items:  # first, as in a dataset
        items = {"SpecificCharacterSet": items.pop("SpecificCharacterSet"), **items}
    return ";".join(f"{k}={v}" for k, v in items.items())


def plan_queries(plan, repeat):
    """[(row label, indexed?, [(name, keys (str), expected matches, repeat)])]"""
    rng = random.Random(7)
    patients, studies = plan["patients"], plan["studies"]
    by_patient = {}
    for s in studies:
        by_patient.setdefault(s["patient"], []).append(s)
    rows = []

    picks = rng.sample(range(len(patients)), min(5, len(patients)))
    rows.append(("study: PatientID (5 random patients)", True, [
        (f"pid#{i}", keys("STUDY", STUDY_RETURN_KEYS, PatientID=patients[p]["id"]),
         len(by_patient.get(p, [])), repeat) for i, p in enumerate(picks)]))

    def name_prefix_count(prefix):
        return sum(1 for s in studies if patients[s["patient"]]["name"].startswith(prefix))

    rows.append(("study: PatientName=SMI*", True, [
        ("name-smi", keys("STUDY", STUDY_RETURN_KEYS, PatientName="SMI*"),
         name_prefix_count("SMI"), repeat)]))
    rows.append(("study: PatientName=MÜL* (ISO_IR 100)", True, [
        ("name-mul", keys("STUDY", STUDY_RETURN_KEYS, SpecificCharacterSet="ISO_IR 100", PatientName="MÜL*"), name_prefix_count("MÜL"), repeat)]))

    month_first, month_last = "20190301", "20190331"
    in_month = [s for s in studies if month_first <= s["date"] <= month_last]
    rows.append((f"study: StudyDate={month_first}-{month_last}", True, [
        ("date-month", keys("STUDY", STUDY_RETURN_KEYS, StudyDate=f"{month_first}-{month_last}"),
         len(in_month), repeat)]))
    ct_in_month = sum(1 for s in in_month if any(x["modality"] == "CT" for x in s["series"]))
    rows.append(("study: StudyDate month + ModalitiesInStudy=CT", True, [
        ("date-month-ct", keys("STUDY", STUDY_RETURN_KEYS, StudyDate=f"{month_first}-{month_last}",
                               ModalitiesInStudy="CT"),
         ct_in_month, repeat)]))

    acc = rng.sample(studies, min(5, len(studies)))
    rows.append(("study: AccessionNumber (5 random)", True, [
        (f"acc#{i}", keys("STUDY", STUDY_RETURN_KEYS, AccessionNumber=s["accession"]), 1, repeat)
        for i, s in enumerate(acc)]))

    multi = [s for s in studies if len(s["series"]) >= 2] or studies
    picks = rng.sample(multi, min(5, len(multi)))
    rows.append(("series: all series of one study (5 studies)", True, [
        (f"series#{i}", keys("SERIES", SERIES_RETURN_KEYS, StudyInstanceUID=s["uid"]),
         len(s["series"]), repeat) for i, s in enumerate(picks)]))
    picks = rng.sample(studies, min(5, len(studies)))
    rows.append(("image: all instances of one series (5 series)", True, [
        (f"image#{i}", keys("IMAGE", IMAGE_RETURN_KEYS, StudyInstanceUID=s["uid"],
                            SeriesInstanceUID=s["series"][0]["uid"]),
         s["series"][0]["instances"], repeat) for i, s in enumerate(picks)]))

    rows.append(("study: all studies (universal StudyInstanceUID)", False, [
        ("all", keys("STUDY", STUDY_RETURN_KEYS), len(studies), max(3, repeat // 10))]))
    return rows


def run_queries(latency_bin, port, rows):
    with tempfile.NamedTemporaryFile("wb", suffix=".queries", delete=False) as f:
        for _, _, queries in rows:
            for name, keys, _, rep in queries:
                # Latin-1 bytes: the query that carries SpecificCharacterSet=ISO_IR 100 is sent as such
                f.write(f"{name}\t{keys}\t{rep}\n".encode("latin-1"))
        qfile = f.name
    try:
        cmd = [latency_bin, "--port", str(port), "--aec", "OSSA", "--queries", qfile, "--times"]
        r = subprocess.run(cmd, capture_output=True)
    finally:
        os.remove(qfile)
    results = {}
    for line in r.stdout.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            obj = json.loads(line)
            results[obj["name"]] = obj
    if r.returncode not in (0, 1) or not results:
        sys.exit(f"error: {' '.join(cmd)} exited with {r.returncode}:\n{r.stderr.decode()}{r.stdout.decode()}")
    return results, r.returncode, r.stderr.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=100000, help="instances in the archive (default 100000)")
    ap.add_argument("--studies", type=int, help="studies (default: instances / 10)")
    ap.add_argument("--repeat", type=int, default=50, help="runs of each query (default 50)")
    ap.add_argument("--work", default="/tmp/ossa-bench-query", help="work dir, cached between runs")
    ap.add_argument("--ossa", help="ossa binary (default $OSSA_BIN or build/core/ossa)")
    ap.add_argument("--latency-bin", default=os.path.join(benchlib.REPO_ROOT, "build", "bench", "ossa_query_latency"),
                    help="ossa_query_latency binary (default build/bench/ossa_query_latency)")
    ap.add_argument("--ingest", choices=("storescu", "import"), default="storescu",
                    help="how the archive is filled (default storescu: the network path)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the archive even if cached")
    ap.add_argument("--keep-source", action="store_true", help="keep the generated files after ingest")
    args = ap.parse_args()

    n_instances = args.instances
    n_studies = args.studies or max(1, n_instances // 10)
    if n_studies > n_instances:
        sys.exit("error: --studies must not exceed --instances")
    ossa_bin = benchlib.resolve_ossa(args.ossa)
    latency_bin = os.path.abspath(args.latency_bin)
    if not os.access(latency_bin, os.X_OK):
        sys.exit(f"error: {latency_bin} not found; build the target ossa_query_latency "
                 f"(cmake --build BUILD --target ossa_query_latency) or pass --latency-bin")
    for tool in ("storescu", "echoscu", "dcmdump"):
        benchlib.require_tool(tool)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)

    print(f"ossa: {ossa_bin}\nlatency client: {latency_bin}\nwork: {work}", flush=True)
    t0 = time.perf_counter()
    plan = plan_archive(n_instances, n_studies)
    manifest = None if args.rebuild else archive_ready(work, n_instances, n_studies)
    cached = manifest is not None
    if cached:
        print(f"using the cached archive ({n_instances} instances, {n_studies} studies, built "
              f"{manifest['built']})", flush=True)
    else:
        manifest = build_archive(args, ossa_bin, work, n_instances, n_studies, plan)
    print(f"ingest ({manifest['ingest_method']}): {manifest['instances']} instances in "
          f"{manifest['ingest_seconds']:.1f}s = {manifest['ingest_rate']:.0f} instances/s, "
          f"{manifest['ingest_mb_per_s']:.1f} MB/s{' (measured when the cached archive was built)' if cached else ''}",
          flush=True)

    rows = plan_queries(plan, args.repeat)
    server = benchlib.OssaServer(ossa_bin, os.path.join(work, "archive")).start()
    try:
        results, rc, stderr = run_queries(latency_bin, server.port, rows)
        alive = server.alive()
    finally:
        src = server.stop()
    if stderr.strip():
        print(f"ossa_query_latency stderr:\n{stderr.strip()}")

    print()
    print(f"C-FIND latency, one association, {args.repeat} runs per query (all-studies: fewer); "
          f"archive {n_instances} instances / {n_studies} studies / {len(plan['patients'])} patients")
    print("Each run = full C-FIND with every response received; study queries ask for 14 return keys.")
    print(f"Target: indexed keys median < {TARGET_MS:.0f} ms")
    header = ("query", "matches", "median ms", "p95 ms", "max ms", "check", "target")
    table = []
    problems = []
    all_met = True
    for label, indexed, queries in rows:
        times, matches, checks = [], [], []
        for name, _, expected, _ in queries:
            res = results.get(name)
            if res is None:
                checks.append(f"{name}: no result")
                continue
            if "error" in res:
                checks.append(f"{name}: {res['error']}")
            times += res.get("times_ms", [])
            matches.append(res["matches"])
            if res["matches"] != expected:
                checks.append(f"{name}: {res['matches']} matches, expected {expected}")
        times.sort()
        med, p95 = median(times), nearest_rank(times, 95)
        mrange = (str(matches[0]) if len(set(matches)) == 1 else f"{min(matches)}-{max(matches)}") if matches else "-"
        if indexed:
            met = bool(times) and med < TARGET_MS and not checks
            all_met &= met
            verdict = "met" if met else "MISSED"
        else:
            verdict = "(not indexed)"
        table.append((label, mrange, f"{med:.2f}", f"{p95:.2f}", f"{times[-1]:.2f}" if times else "-",
                      "ok" if not checks else "WRONG", verdict))
        problems += checks
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    for p in problems:
        print(f"!! {p}")
    if not alive:
        print("!! the server died during the queries; log tail:\n" + server.log_tail())
    if src != 0:
        print(f"!! ossa serve exit status after SIGTERM: {src}")
    print(f"\nOverall: target {'met' if all_met else 'NOT met'} (indexed keys median < {TARGET_MS:.0f} ms, "
          f"match counts as generated); total {time.perf_counter() - t0:.0f}s")
    return 0 if (rc == 0 and alive and src == 0 and not problems) else 1


if __name__ == "__main__":
    sys.exit(main())
