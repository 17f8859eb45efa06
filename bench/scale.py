#!/usr/bin/python3
"""Ossa at scale: an archive of N instances built through C-STORE, then the latencies that
matter on it (issue 7).

1. Plans an archive (deterministic): --instances (default 1,000,000) in --studies (default N/10)
   of --patients (default studies/2) patients; every patient has a study, the rest are skewed
   (some have dozens). Names: ~72% ASCII, ~12% Latin-1 (ISO_IR 100), ~5% Cyrillic (ISO_IR 144),
   ~3% Greek (ISO_IR 126), ~6% UTF-8 (ISO_IR 192; Chinese, Japanese, Korean with an alphabetic
   group) and ~2% Japanese ISO 2022 IR 87 (escape sequences), each file declaring its Specific
   Character Set. StudyDate 2010-2025, times 07:00-20:00, accession numbers unique (3% empty),
   modalities CT/MR/US/CR/DX/MG/PT(+CT)/NM/XA with realistic shares and per-modality instance
   counts (CR 1-4 ... CT/PT dozens), scaled to the exact total.
2. Ingests in steps of --step (100,000) instances: each step's files (8x8 pixels, patched from
   ONE pydicom-made template, 2 processes, into --src, by default /dev/shm; generation is NOT
   timed) are sent by
   --associations (4) concurrent storescu processes (TCP_NODELAY=1) into ONE `ossa serve` that
   runs through the whole ingest. After each step: the step's ingest rate, the index size
   (index.sqlite + -wal, bytes and bytes/instance) and the server's RSS (now and the peak of the
   step, sampled every 0.2 s from /proc; VmHWM too). The step's files are deleted afterwards.
3. On the full archive, after a restart: ossa_query_latency on one association (each query
   --repeat times, complete C-FIND, every response received): study level by PatientID,
   PatientName prefix (ASCII, Latin-1, Cyrillic in UTF-8), StudyDate one day and one month,
   AccessionNumber, ModalitiesInStudy alone and with a month, series level and image level in
   one study; match counts are checked against the plan. Twice: with --lean (each response's
   status decoded, its identifier skipped: the server's latency, judged against the targets)
   and through DCMTK's DcmSCU (every identifier decoded: what a DCMTK-based viewer waits).
   Start-up time: SIGTERM, then start `ossa serve` again and time from exec until an
   A-ASSOCIATE-RQ is accepted (raw socket, polled every 2 ms), 3 times; the median and the first;
   then once more after dropping the page cache (as after a reboot) when run as root.
   C-MOVE of one study (movescu -> storescp, files counted).
   DBWindowFind over XML-RPC with a few typical predicates (match counts checked against the plan).
4. Prints a markdown table for docs/performance.md and writes it to WORK/result.md.

    /usr/bin/python3 bench/scale.py [--instances 1000000] [--step 100000] [--work /tmp/ossa-bench-scale]
        [--associations 4] [--repeat 30] [--ossa PATH] [--latency-bin PATH] [--queries-only]
"""

import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import dul  # noqa: E402
from query import build_template, encode_file  # noqa: E402  (same template-patching writer)

SEED = 20261202
UID_ROOT = "1.2.826.0.1.3680043.8.498.79"  # pydicom's root + an arc of its own (query.py uses .78)
LAYOUT = 1

TARGETS = {"indexed_ms": 10.0, "prefix_ms": 50.0, "startup_s": 1.0, "rss_mb": 150.0,
           "bytes_per_instance": 2048.0, "last_vs_first": 0.90}

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1", "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1", "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "PT": "1.2.840.10008.5.1.4.1.1.128", "NM": "1.2.840.10008.5.1.4.1.1.20",
    "XA": "1.2.840.10008.5.1.4.1.1.12.1",
}
# modality: (share of studies, (min, max) instances before scaling, series choices)
MODALITIES = {
    "CR": (20, (1, 4), (1, 1, 2)), "DX": (10, (1, 3), (1, 1, 2)), "CT": (18, (10, 40), (1, 2, 3, 4)),
    "MR": (16, (12, 40), (2, 3, 4, 5)), "US": (14, (3, 15), (1, 1, 2)), "MG": (8, (4, 6), (1, 2)),
    "PT": (5, (20, 50), (2, 3)), "NM": (4, (2, 8), (1, 2)), "XA": (5, (5, 20), (1, 2, 3)),
}
DESCRIPTIONS = {
    "CT": ["CT HEAD W/O CONTRAST", "CT CHEST", "CT ABDOMEN PELVIS", "CT ANGIO NECK"],
    "MR": ["MR BRAIN", "MR KNEE LEFT", "MR LUMBAR SPINE", "MR PROSTATE"],
    "US": ["US ABDOMEN", "US THYROID", "US OBSTETRIC"], "CR": ["CHEST PA AND LATERAL", "HAND 3 VIEWS"],
    "DX": ["CHEST AP PORTABLE", "KNEE 2 VIEWS"], "MG": ["MAMMO SCREENING BILATERAL"],
    "PT": ["PET-CT WHOLE BODY FDG"], "NM": ["BONE SCAN WHOLE BODY"], "XA": ["CORONARY ANGIOGRAPHY"],
}
ASCII_FAMILY = [
    "SMITH", "SMITHSON", "SMIRNOV", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER",
    "DAVIS", "RODRIGUEZ", "MARTINEZ", "HERNANDEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR",
    "MOORE", "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ",
    "CLARK", "RAMIREZ", "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT",
    "SCOTT", "TORRES", "NGUYEN", "HILL", "FLORES", "GREEN", "ADAMS", "NELSON", "BAKER", "HALL",
    "ROSSI", "BIANCHI", "SCHMIDT", "SCHNEIDER", "FISCHER", "WEBER", "MEYER", "WAGNER", "BECKER",
    "DUBOIS", "MOREAU", "LAURENT", "SIMON", "MICHEL", "JANSSEN", "DE VRIES", "VAN DIJK", "KOWALSKI",
    "NOWAK", "HANSEN", "JOHANSSON", "MURPHY", "KELLY", "SILVA", "SANTOS", "OLIVEIRA", "COHEN",
]
ASCII_GIVEN = [
    "JOHN", "MARY", "JAMES", "PATRICIA", "ROBERT", "JENNIFER", "MICHAEL", "LINDA", "DAVID",
    "ELIZABETH", "MARIA", "ANNA", "PETER", "THOMAS", "SARAH", "LAURA", "PAUL", "ANNE", "MARC",
    "SOPHIE", "LUCAS", "EMMA", "NOAH", "MIA", "LEON", "HANNA", "OLIVIA", "LIAM", "ELLA", "OSCAR",
]
# (Specific Character Set, Python codec, family names, given names)
CHARSETS = {
    "latin1": ("ISO_IR 100", "latin-1",
               ["MÜLLER", "MÜLLER-LÜDENSCHEIDT", "GONÇALVES", "NÚÑEZ", "FRANÇOIS", "ØSTERGÅRD",
                "STRÖM", "JÄRVINEN", "LÓPEZ", "PEÑA", "DÍAZ", "BÉRANGER", "SØRENSEN", "ÅBERG", "GÖTZE"],
               ["ZOË", "JOSÉ", "ÅSA", "BJÖRN", "CÉLINE", "JÜRGEN", "RENÉ", "INÊS", "SØREN", "ANNA"]),
    "cyrillic": ("ISO_IR 144", "iso8859-5",
                 ["ИВАНОВ", "ИВАНОВА", "СМИРНОВ", "КУЗНЕЦОВ", "ПОПОВ", "ПЕТРОВ", "СОКОЛОВА", "ВОЛКОВ"],
                 ["ИВАН", "ОЛЬГА", "СЕРГЕЙ", "НАТАЛЬЯ", "АЛЕКСЕЙ", "ЕЛЕНА"]),
    "greek": ("ISO_IR 126", "iso8859-7",
              ["ΠΑΠΑΔΟΠΟΥΛΟΣ", "ΓΕΩΡΓΙΟΥ", "ΝΙΚΟΛΑΟΥ", "ΔΗΜΗΤΡΙΟΥ", "ΙΩΑΝΝΟΥ"],
              ["ΓΙΩΡΓΟΣ", "ΜΑΡΙΑ", "ΝΙΚΟΣ", "ΕΛΕΝΗ", "ΔΗΜΗΤΡΗΣ"]),
    "utf8": ("ISO_IR 192", "utf-8",
             ["Wang^Wei=王^伟", "Li^Na=李^娜", "Zhang^Min=张^敏", "Yamada^Taro=山田^太郎",
              "Tanaka^Hanako=田中^花子", "Kim^Minjun=김^민준", "Park^Jiwoo=박^지우"],
             None),
    "jis": ("\\ISO 2022 IR 87", "iso2022_jp",
            ["Yamada^Tarou=山田^太郎", "Suzuki^Ichiro=鈴木^一郎", "Sato^Yuki=佐藤^由紀"], None),
}
CHARSET_SHARES = [("ascii", 72), ("latin1", 12), ("cyrillic", 5), ("greek", 3), ("utf8", 6), ("jis", 2)]
REFERRING = ["HOUSE^GREGORY", "GREY^MEREDITH", "KILDARE^JAMES", "QUINN^MICHAELA", "", ""]
BODY_PARTS = {"CT": "CHEST", "MR": "BRAIN", "US": "ABDOMEN", "CR": "CHEST", "DX": "CHEST",
              "MG": "BREAST", "PT": "WHOLEBODY", "NM": "WHOLEBODY", "XA": "HEART"}

STUDY_KEYS = ("StudyInstanceUID=;PatientName=;PatientID=;PatientBirthDate=;PatientSex=;StudyDate=;"
              "StudyTime=;AccessionNumber=;StudyDescription=;ModalitiesInStudy=;ReferringPhysicianName=;"
              "StudyID=;NumberOfStudyRelatedSeries=;NumberOfStudyRelatedInstances=")
SERIES_KEYS = "SeriesInstanceUID=;Modality=;SeriesNumber=;SeriesDescription=;NumberOfSeriesRelatedInstances="
IMAGE_KEYS = "SOPInstanceUID=;SOPClassUID=;InstanceNumber="


# ----------------------------------------------------------------------------------- the plan

def plan_archive(n_instances, n_studies, n_patients, seed=SEED):
    rng = random.Random(seed)
    kinds = [k for k, _ in CHARSET_SHARES]
    kweights = [w for _, w in CHARSET_SHARES]
    patients = []
    for p in range(n_patients):
        kind = rng.choices(kinds, weights=kweights)[0]
        if kind == "ascii":
            name = f"{rng.choice(ASCII_FAMILY)}^{rng.choice(ASCII_GIVEN)}"
        else:
            _, _, families, givens = CHARSETS[kind]
            name = rng.choice(families)
            if givens:
                name += "^" + rng.choice(givens)
        patients.append({"id": f"P{p + 1:07d}", "name": name, "charset": kind,
                         "birth": (date(1930, 1, 1) + timedelta(days=rng.randrange(92 * 365))).strftime("%Y%m%d"),
                         "sex": rng.choice("MF") if rng.random() < 0.97 else "O"})
    weights = [rng.expovariate(1.0) ** 2 for _ in range(n_patients)]
    owners = list(range(min(n_patients, n_studies)))
    owners += rng.choices(range(n_patients), weights=weights, k=n_studies - len(owners))
    rng.shuffle(owners)
    mods = list(MODALITIES)
    mweights = [MODALITIES[m][0] for m in mods]
    raw, chosen = [], []
    for _ in range(n_studies):
        m = rng.choices(mods, weights=mweights)[0]
        lo, hi = MODALITIES[m][1]
        chosen.append(m)
        raw.append(rng.randint(lo, hi))
    counts = scale_counts(raw, n_instances)
    first_day, n_days = date(2010, 1, 1), (date(2025, 12, 31) - date(2010, 1, 1)).days + 1
    accessions = rng.sample(range(10 ** 7, 10 ** 8), n_studies)
    studies = []
    for s in range(n_studies):
        m, n_inst = chosen[s], counts[s]
        n_series = min(rng.choice(MODALITIES[m][2]), n_inst)
        per = [n_inst // n_series + (1 if i < n_inst % n_series else 0) for i in range(n_series)]
        series = [{"uid": f"{UID_ROOT}.2.{s + 1}.{i + 1}", "number": i + 1, "instances": c,
                   "modality": "CT" if (m == "PT" and i == 1) else m} for i, c in enumerate(per)]
        t = rng.randrange(7 * 3600, 20 * 3600)
        studies.append({
            "index": s, "uid": f"{UID_ROOT}.1.{s + 1}", "patient": owners[s], "modality": m,
            "date": (first_day + timedelta(days=rng.randrange(n_days))).strftime("%Y%m%d"),
            "time": f"{t // 3600:02d}{t // 60 % 60:02d}{t % 60:02d}",
            "accession": "" if rng.random() < 0.03 else f"A{accessions[s]}",
            "description": rng.choice(DESCRIPTIONS[m]), "referring": rng.choice(REFERRING),
            "study_id": str(rng.randrange(1, 100000)), "series": series,
        })
    return {"patients": patients, "studies": studies}


def scale_counts(raw, total):
    """Scales per-study counts to sum exactly to `total`, each at least 1 (largest remainder)."""
    factor = total / sum(raw)
    scaled = [max(1, r * factor) for r in raw]
    counts = [int(x) for x in scaled]
    diff = total - sum(counts)
    order = sorted(range(len(raw)), key=lambda i: scaled[i] - counts[i], reverse=(diff > 0))
    i = 0
    while diff != 0:
        j = order[i % len(order)]
        if diff > 0:
            counts[j] += 1
            diff -= 1
        elif counts[j] > 1:
            counts[j] -= 1
            diff += 1
        i += 1
    return counts


def all_instances(plan):
    """(study index, series index, instance number) of every instance, in ingest order."""
    for study in plan["studies"]:
        for si, series in enumerate(study["series"]):
            for n in range(1, series["instances"] + 1):
                yield study["index"], si, n


def instance_values(patient, study, series, number):
    kind = patient["charset"]
    if kind == "ascii":
        name = patient["name"].encode("ascii")
    else:
        name = patient["name"].encode(CHARSETS[kind][1])
    v = {
        0x00080016: SOP_CLASSES[series["modality"]].encode(),
        0x00080018: f"{UID_ROOT}.3.{study['index'] + 1}.{series['number']}.{number}".encode(),
        0x00080020: study["date"].encode(), 0x00080021: study["date"].encode(),
        0x00080030: study["time"].encode(), 0x00080031: study["time"].encode(),
        0x00080050: study["accession"].encode(), 0x00080060: series["modality"].encode(),
        0x00080090: study["referring"].encode(), 0x00081030: study["description"].encode(),
        0x0008103E: f"{series['modality']} SERIES {series['number']}".encode(),
        0x00100010: name, 0x00100020: patient["id"].encode(), 0x00100030: patient["birth"].encode(),
        0x00100040: patient["sex"].encode(), 0x00180015: BODY_PARTS[series["modality"]].encode(),
        0x0020000D: study["uid"].encode(), 0x0020000E: series["uid"].encode(),
        0x00200010: study["study_id"].encode(), 0x00200011: str(series["number"]).encode(),
        0x00200013: str(number).encode(),
    }
    if kind != "ascii":
        v[0x00080005] = CHARSETS[kind][0].encode("ascii")
    return v


_PLAN = None  # set before the generator processes fork (inherited, not pickled)
_TEMPLATE = None  # encoded once (importing pydicom costs seconds), inherited by the workers


def _write_files(job):
    outdir, shards, items = job
    template = _TEMPLATE
    patients, studies = _PLAN["patients"], _PLAN["studies"]
    for k, (s, si, n) in enumerate(items):
        study = studies[s]
        series = study["series"][si]
        data = encode_file(template, instance_values(patients[study["patient"]], study, series, n))
        d = os.path.join(outdir, f"shard{s % shards}", f"{s // 200:05d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{s:06d}_{si + 1}_{n:04d}.dcm"), "wb") as f:
            f.write(data)
    return len(items)


def generate_step(plan, items, outdir, shards, workers=2):
    global _PLAN, _TEMPLATE
    _PLAN = plan
    if _TEMPLATE is None:
        _TEMPLATE = build_template()
    chunk = max(1000, len(items) // (workers * 8))
    jobs = [(outdir, shards, items[i:i + chunk]) for i in range(0, len(items), chunk)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        return sum(pool.imap_unordered(_write_files, jobs))


# ----------------------------------------------------------------------------------- server

class ScaleServer(benchlib.OssaServer):
    """benchlib's server with the DEFAULT max_associations and a move destination."""

    def __init__(self, ossa_bin, root, nodes=(), **kw):
        super().__init__(ossa_bin, root, **kw)
        self.nodes = list(nodes)
        self.xmlrpc_port = benchlib.free_port()

    def write_config(self):
        os.makedirs(os.path.join(self.root, "storage"), exist_ok=True)
        with open(self.config, "w") as f:
            f.write(f"server: {{aet: {self.aet}, port: {self.port}, bind: 127.0.0.1}}\n"
                    f"storage: {{path: {self.root}/storage, duplicates: overwrite, min_free_mb: 0}}\n"
                    f"index: {{path: {self.root}/index.sqlite}}\n"
                    f"log: {{level: {self.log_level}}}\n"
                    f"http: {{port: {benchlib.free_port()}, bind: 127.0.0.1}}\n"
                    f"xmlrpc: {{port: {self.xmlrpc_port}, bind: 127.0.0.1}}\n")
            if self.nodes:
                f.write("nodes:\n")
                for aet, port in self.nodes:
                    f.write(f"  - {{name: {aet}, aet: {aet}, host: 127.0.0.1, port: {port}, "
                            f"move_destination: true}}\n")

    def start_timed(self, timeout=120.0):
        """Starts the server; returns seconds from exec until an association is accepted."""
        self.write_config()
        self._log = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([self.ossa_bin, "serve", "--config", self.config],
                                     stdout=self._log, stderr=self._log, env=benchlib.dcmtk_env())
        dul.time_until_accepting(self.port, self.proc, timeout, called=self.aet)
        return time.perf_counter() - t0


class RssSampler(threading.Thread):
    """Samples the server's VmRSS every `interval` s; `take_peak()` returns and resets the peak."""

    def __init__(self, pid, interval=0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.overall_kb = 0
        self.running = True

    def run(self):
        while self.running:
            try:
                _, _, rss, _ = dul.process_counts(self.pid)
            except (OSError, ValueError):
                return
            self.peak_kb = max(self.peak_kb, rss)
            self.overall_kb = max(self.overall_kb, rss)
            time.sleep(self.interval)

    def take_peak(self):
        peak, self.peak_kb = self.peak_kb, 0
        return peak


def index_bytes(archive):
    main = os.path.join(archive, "index.sqlite")
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        try:
            sizes[suffix or "main"] = os.path.getsize(main + suffix)
        except FileNotFoundError:
            sizes[suffix or "main"] = 0
    return sizes


# ----------------------------------------------------------------------------------- ingest

def ingest(args, ossa_bin, work, plan):
    archive = os.path.join(work, "archive")
    shutil.rmtree(archive, ignore_errors=True)
    os.makedirs(archive)
    src = args.src or os.path.join(work, "src")
    items = list(all_instances(plan))
    server = ScaleServer(ossa_bin, archive)
    server.start()
    sampler = RssSampler(server.proc.pid)
    sampler.start()
    steps = []
    print(f"\n{'step':>5} {'instances':>10} {'gen s':>6} {'ingest s':>8} {'inst/s':>7} "
          f"{'index MB':>9} {'wal MB':>7} {'B/inst':>7} {'RSS MB':>7} {'peak RSS MB':>11}", flush=True)
    try:
        for k in range(0, len(items), args.step):
            step_items = items[k:k + args.step]
            shutil.rmtree(src, ignore_errors=True)
            t = time.perf_counter()
            generate_step(plan, step_items, src, args.associations)
            gen_s = time.perf_counter() - t
            os.sync()
            sampler.take_peak()
            groups = [[os.path.join(src, f"shard{i}")] for i in range(args.associations)
                      if os.path.isdir(os.path.join(src, f"shard{i}"))]
            wall, results = benchlib.run_storescu_parallel(server.port, groups, extra=["-to", "60"])
            failed = [(i, rc, err) for i, (rc, err) in enumerate(results) if rc != 0]
            if failed or not server.alive():
                for i, rc, err in failed:
                    print(f"!! storescu #{i} exited with {rc}: {err.strip()[-2000:]}")
                sys.exit(f"error: ingest step failed; server alive: {server.alive()}\n{server.log_tail()}")
            sizes = index_bytes(archive)
            _, _, rss, hwm = dul.process_counts(server.proc.pid)
            done = k + len(step_items)
            total = sizes["main"] + sizes["-wal"]
            step = {"instances": done, "count": len(step_items), "gen_s": gen_s, "ingest_s": wall,
                    "rate": len(step_items) / wall, "index_main": sizes["main"], "index_wal": sizes["-wal"],
                    "bytes_per_instance": total / done, "rss_kb": rss,
                    "peak_rss_kb": max(sampler.take_peak(), rss), "hwm_kb": hwm}
            steps.append(step)
            print(f"{len(steps):>5} {done:>10} {gen_s:>6.1f} {wall:>8.1f} {step['rate']:>7.0f} "
                  f"{sizes['main'] / 1e6:>9.1f} {sizes['-wal'] / 1e6:>7.1f} {step['bytes_per_instance']:>7.0f} "
                  f"{rss / 1024:>7.1f} {step['peak_rss_kb'] / 1024:>11.1f}", flush=True)
    finally:
        sampler.running = False
        rc = server.stop()
        shutil.rmtree(src, ignore_errors=True)
    if rc != 0:
        sys.exit(f"error: ossa serve exit status {rc} after the ingest\n{server.log_tail()}")
    stored = count_stored(os.path.join(archive, "storage"))
    if stored != len(items):
        sys.exit(f"error: {stored} files stored, expected {len(items)}")
    return steps


def count_stored(storage):
    n = 0
    for root, dirs, files in os.walk(storage):
        if root == storage and "tmp" in dirs:
            dirs.remove("tmp")
        n += sum(1 for f in files if f.endswith(".dcm"))
    return n


# ----------------------------------------------------------------------------------- queries

def query_line(name, level, returns, repeat, charset=None, **match):
    items = {}
    if charset:
        items["SpecificCharacterSet"] = charset
    items["QueryRetrieveLevel"] = level
    for k in returns.split(";"):
        if k:
            items[k.rstrip("=")] = ""
    items.update(match)
    return f"{name}\t{';'.join(f'{k}={v}' for k, v in items.items())}\t{repeat}\n"


def plan_queries(plan, repeat):
    """[(label, target kind, [(name, line bytes, expected)])]"""
    rng = random.Random(11)
    patients, studies = plan["patients"], plan["studies"]
    by_patient = {}
    for s in studies:
        by_patient.setdefault(s["patient"], []).append(s)
    rows = []

    def q(name, level, returns, charset=None, codec="ascii", **match):
        return query_line(name, level, returns, repeat, charset, **match).encode(codec)

    picks = rng.sample(range(len(patients)), 5)
    rows.append(("study: PatientID (5 random patients)", "indexed",
                 [(f"pid{i}", q(f"pid{i}", "STUDY", STUDY_KEYS, PatientID=patients[p]["id"]),
                   len(by_patient.get(p, []))) for i, p in enumerate(picks)]))

    def prefix_count(prefix):
        return sum(1 for s in studies if patients[s["patient"]]["name"].upper().startswith(prefix))

    rows.append(("study: PatientName=SMI*", "prefix",
                 [("smi", q("smi", "STUDY", STUDY_KEYS, PatientName="SMI*"), prefix_count("SMI"))]))
    rows.append(("study: PatientName=MÜL* (Latin-1 query)", "prefix",
                 [("mul", q("mul", "STUDY", STUDY_KEYS, "ISO_IR 100", "latin-1", PatientName="MÜL*"),
                   prefix_count("MÜL"))]))
    rows.append(("study: PatientName=ИВАН* (UTF-8 query)", "prefix",
                 [("ivan", q("ivan", "STUDY", STUDY_KEYS, "ISO_IR 192", "utf-8", PatientName="ИВАН*"),
                   prefix_count("ИВАН"))]))
    day = rng.choice(studies)["date"]
    rows.append((f"study: StudyDate={day} (one day)", "indexed",
                 [("day", q("day", "STUDY", STUDY_KEYS, StudyDate=day),
                   sum(1 for s in studies if s["date"] == day))]))
    m1, m2 = "20190301", "20190331"
    in_month = [s for s in studies if m1 <= s["date"] <= m2]
    rows.append((f"study: StudyDate={m1}-{m2} (one month)", "indexed",
                 [("month", q("month", "STUDY", STUDY_KEYS, StudyDate=f"{m1}-{m2}"), len(in_month))]))
    acc = rng.sample([s for s in studies if s["accession"]], 5)
    rows.append(("study: AccessionNumber (5 random)", "indexed",
                 [(f"acc{i}", q(f"acc{i}", "STUDY", STUDY_KEYS, AccessionNumber=s["accession"]), 1)
                  for i, s in enumerate(acc)]))

    def has_mod(s, m):
        return any(x["modality"] == m for x in s["series"])

    rows.append(("study: ModalitiesInStudy=NM (alone)", "info",
                 [("nm", q("nm", "STUDY", STUDY_KEYS, ModalitiesInStudy="NM"),
                   sum(1 for s in studies if has_mod(s, "NM")))]))
    rows.append(("study: StudyDate month + ModalitiesInStudy=CT", "indexed",
                 [("month-ct", q("month-ct", "STUDY", STUDY_KEYS, StudyDate=f"{m1}-{m2}", ModalitiesInStudy="CT"),
                   sum(1 for s in in_month if has_mod(s, "CT")))]))
    multi = [s for s in studies if len(s["series"]) >= 3] or studies
    picks = rng.sample(multi, 5)
    rows.append(("series: all series of one study (5 studies)", "indexed",
                 [(f"ser{i}", q(f"ser{i}", "SERIES", SERIES_KEYS, StudyInstanceUID=s["uid"]), len(s["series"]))
                  for i, s in enumerate(picks)]))
    big = [s for s in studies if s["series"][0]["instances"] >= 10] or studies
    picks = rng.sample(big, 5)
    rows.append(("image: all instances of one series (5 series)", "indexed",
                 [(f"img{i}", q(f"img{i}", "IMAGE", IMAGE_KEYS, StudyInstanceUID=s["uid"],
                                SeriesInstanceUID=s["series"][0]["uid"]), s["series"][0]["instances"])
                  for i, s in enumerate(picks)]))
    return rows


def run_dbwindowfind(port, plan, repeat):
    """OsiriX's DBWindowFind over XML-RPC (python's xmlrpc.client, one connection per call as
    OsiriX scripts do): [(label, matches, expected, times_ms)]."""
    import xmlrpc.client
    rng = random.Random(13)
    patients, studies = plan["patients"], plan["studies"]
    by_patient = {}
    for s in studies:
        by_patient.setdefault(s["patient"], []).append(s)
    p = rng.randrange(len(patients))
    acc = rng.choice([s for s in studies if s["accession"]])
    in_month = [s for s in studies if "20190301" <= s["date"] <= "20190331"]
    smi = sum(1 for s in studies if patients[s["patient"]]["name"].upper().startswith("SMI"))
    cases = [
        ("Study: patientID == one patient", "Study", f"patientID == '{patients[p]['id']}'",
         len(by_patient.get(p, []))),
        ("Study: name BEGINSWITH[c] 'smi'", "Study", "name BEGINSWITH[c] 'smi'", smi),
        ("Study: accessionNumber == one", "Study", f"accessionNumber == '{acc['accession']}'", 1),
        ("Study: one month of dates", "Study",
         "date >= CAST('2019-03-01', 'NSDate') AND date < CAST('2019-04-01', 'NSDate')", len(in_month)),
        ("Series: modality == 'CT' AND study.accessionNumber == one", "Series",
         f"modality == 'CT' AND study.accessionNumber == '{acc['accession']}'",
         sum(1 for x in acc["series"] if x["modality"] == "CT")),
    ]
    out = []
    for label, table, predicate, expected in cases:
        times, matches = [], None
        for _ in range(repeat):
            proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2", allow_none=True)
            t0 = time.perf_counter()
            answer = proxy.DBWindowFind({"request": predicate, "table": table, "execute": "Nothing"})
            times.append((time.perf_counter() - t0) * 1000)
            matches = len(answer.get("elements", [])) if answer.get("error") == "0" else 0
        out.append((label, predicate, matches, expected, times))
    return out


def run_queries(latency_bin, port, rows, lean):
    with tempfile.NamedTemporaryFile("wb", suffix=".queries", delete=False) as f:
        for _, _, queries in rows:
            for _, line, _ in queries:
                f.write(line)
        qfile = f.name
    try:
        r = subprocess.run([latency_bin, "--port", str(port), "--aec", "OSSA", "--queries", qfile, "--times"]
                           + (["--lean"] if lean else []), capture_output=True)
    finally:
        os.remove(qfile)
    results = {}
    for line in r.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            results[obj["name"]] = obj
    if not results:
        sys.exit(f"error: ossa_query_latency exited with {r.returncode}: {r.stderr.decode()}")
    return results


def echo_baseline(latency_bin, port, repeat):
    """Latency of a C-FIND that matches nothing through the unique-key index: the floor of the
    network + DIMSE round trip, so readers can see what part of a query is the server's search."""
    r = subprocess.run([latency_bin, "--port", str(port), "--name", "floor", "--key", "QueryRetrieveLevel=STUDY",
                        "--key", "StudyInstanceUID=9.9.9.9", "--repeat", str(repeat), "--lean"], capture_output=True)
    for line in r.stdout.decode().splitlines():
        if line.startswith("{"):
            return json.loads(line)
    return None


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[max(1, min(len(v), math.ceil(p / 100 * len(v)))) - 1]


def run_move(server, plan, work):
    study = max(plan["studies"][:1000], key=lambda s: sum(x["instances"] for x in s["series"]))
    count = sum(x["instances"] for x in study["series"])
    outdir = os.path.join(work, "move-dest")
    shutil.rmtree(outdir, ignore_errors=True)
    scp = benchlib.StoreScp(outdir, aet="SCALEDEST", port=server.nodes[0][1]).start()
    try:
        t0 = time.perf_counter()
        p = subprocess.run([benchlib.require_tool("movescu"), "-S", "-aec", server.aet, "-aet", "SCALEMOVE",
                            "-aem", "SCALEDEST", "-k", "QueryRetrieveLevel=STUDY",
                            "-k", f"StudyInstanceUID={study['uid']}", "127.0.0.1", str(server.port)],
                           capture_output=True, env=benchlib.dcmtk_env())
        wall = time.perf_counter() - t0
    finally:
        scp.stop()
    got = benchlib.count_files(outdir)
    shutil.rmtree(outdir, ignore_errors=True)
    ok = p.returncode == 0 and got == count
    return {"instances": count, "received": got, "seconds": wall, "ok": ok,
            "error": "" if ok else p.stderr.decode("utf-8", "replace")[-500:]}


# ----------------------------------------------------------------------------------- report

def machine_description(work):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
    mem = sh("free -g | awk '/Mem:/ {print $2}'")
    disk = sh("df -h --output=source,fstype,size " + work + " | tail -1")
    return f"{sh('nproc')} cores ({cpu}), {mem} GiB RAM, disk {disk}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--studies", type=int, help="default instances/10")
    ap.add_argument("--patients", type=int, help="default studies/2")
    ap.add_argument("--step", type=int, default=100_000, help="instances per reported step")
    ap.add_argument("--associations", type=int, default=4, help="concurrent storescu associations")
    ap.add_argument("--repeat", type=int, default=30, help="runs of each query")
    ap.add_argument("--work", default="/tmp/ossa-bench-scale")
    ap.add_argument("--src", default="/dev/shm/ossa-bench-scale-src",
                    help="where each step's files are generated (default in RAM: creating 100,000 small "
                         "files on a busy disk takes minutes; the server's storage stays in --work)")
    ap.add_argument("--ossa")
    ap.add_argument("--latency-bin", default=os.path.join(benchlib.REPO_ROOT, "build", "bench", "ossa_query_latency"))
    ap.add_argument("--queries-only", action="store_true", help="reuse WORK/archive (built by an earlier run)")
    args = ap.parse_args()

    n_studies = args.studies or max(1, args.instances // 10)
    n_patients = args.patients or max(1, n_studies // 2)
    ossa_bin = benchlib.resolve_ossa(args.ossa)
    latency_bin = os.path.abspath(args.latency_bin)
    if not os.access(latency_bin, os.X_OK):
        sys.exit(f"error: {latency_bin} not found (build target ossa_query_latency or pass --latency-bin)")
    for tool in ("storescu", "storescp", "movescu", "echoscu"):
        benchlib.require_tool(tool)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    t_all = time.perf_counter()
    t = time.perf_counter()
    plan = plan_archive(args.instances, n_studies, n_patients)
    print(f"ossa {ossa_bin}\nplan: {args.instances} instances, {n_studies} studies, {n_patients} patients "
          f"({time.perf_counter() - t:.1f}s)", flush=True)

    manifest_path = os.path.join(work, "steps.json")
    if args.queries_only:
        with open(manifest_path) as f:
            saved = json.load(f)
        if saved["instances"] != args.instances:
            sys.exit("error: WORK/archive was built with another size")
        steps = saved["steps"]
    else:
        steps = ingest(args, ossa_bin, work, plan)
        with open(manifest_path, "w") as f:
            json.dump({"instances": args.instances, "studies": n_studies, "steps": steps}, f, indent=1)

    archive = os.path.join(work, "archive")
    dest_port = benchlib.free_port()
    server = ScaleServer(ossa_bin, archive, nodes=[("SCALEDEST", dest_port)])
    startups = []
    for _ in range(3):
        startups.append(server.start_timed())
        if len(startups) < 3:
            server.stop()
    # After a reboot nothing of the index is in the page cache: one start-up from a cold cache,
    # when this process may drop the caches (root), so that a start-up that reads much of the
    # index shows up (a warm start hides it).
    cold_startup = None
    if os.access("/proc/sys/vm/drop_caches", os.W_OK):
        server.stop()
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        cold_startup = server.start_timed()
    sampler = RssSampler(server.proc.pid)
    sampler.start()
    try:
        rows = plan_queries(plan, args.repeat)
        floor = echo_baseline(latency_bin, server.port, args.repeat)
        results = run_queries(latency_bin, server.port, rows, lean=True)
        decoded = run_queries(latency_bin, server.port, rows, lean=False)
        move = run_move(server, plan, work)
        dbwindow = run_dbwindowfind(server.xmlrpc_port, plan, max(5, args.repeat // 3))
        alive = server.alive()
        _, _, rss_q, _ = dul.process_counts(server.proc.pid)
    finally:
        sampler.running = False
        rc = server.stop()

    # ---- report
    first, last = steps[0], steps[-1]
    ratio = last["rate"] / first["rate"]
    peak_rss_mb = max(max(s["peak_rss_kb"] for s in steps), sampler.overall_kb) / 1024
    out = []
    out.append(f"Archive: {args.instances:,} instances, {n_studies:,} studies, {n_patients:,} patients; "
               f"ingest over {args.associations} concurrent storescu associations; machine: {machine_description(work)}")
    out.append("")
    out.append("| step | instances | ingest s | inst/s | index MB (main + wal) | bytes/instance | RSS MB | peak RSS MB |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, s in enumerate(steps):
        out.append(f"| {i + 1} | {s['instances']:,} | {s['ingest_s']:.1f} | {s['rate']:.0f} | "
                   f"{s['index_main'] / 1e6:.1f} + {s['index_wal'] / 1e6:.1f} | {s['bytes_per_instance']:.0f} | "
                   f"{s['rss_kb'] / 1024:.1f} | {s['peak_rss_kb'] / 1024:.1f} |")
    out.append("")
    out.append(f"C-FIND latency on one association, {args.repeat} runs per query (ossa_query_latency; each run is "
               f"a complete C-FIND with every response received). 'median' and 'p95': `--lean`, the client decodes "
               f"each response's status and skips its identifier, so the time is the server's and the transport's; "
               f"'DcmSCU median': the same queries through DCMTK's DcmSCU, which decodes every identifier (what a "
               f"DCMTK-based viewer spends). Floor (a unique-key query that matches nothing, lean): "
               f"median {floor['median_ms']:.2f} ms." if floor else "")
    out.append("")
    out.append("| query | matches | median ms | p95 ms | DcmSCU median ms | target | result |")
    out.append("|---|---:|---:|---:|---:|---|---|")
    verdicts = []
    for label, kind, queries in rows:
        matches = [results.get(name, {}).get("matches") for name, _, _ in queries]
        times, decoded_times, wrong = [], [], []
        for client, out_times, suffix in ((results, times, ""), (decoded, decoded_times, " (DcmSCU)")):
            for name, _, expected in queries:
                res = client.get(name, {})
                out_times += res.get("times_ms", [])
                if res.get("matches") != expected or "error" in res:
                    wrong.append(f"{name}{suffix}: {res.get('matches')} matches (expected {expected}) "
                                 f"{res.get('error', '')}")
        med, p95 = (statistics.median(times) if times else float("nan")), pct(times, 95)
        decoded_med = statistics.median(decoded_times) if decoded_times else float("nan")
        limit = {"indexed": TARGETS["indexed_ms"], "prefix": TARGETS["prefix_ms"]}.get(kind)
        met = (not wrong) and (limit is None or med < limit)
        if limit is not None:
            verdicts.append((label, met))
        mtxt = str(matches[0]) if len(set(matches)) == 1 else f"{min(matches)}-{max(matches)}"
        out.append(f"| {label} | {mtxt} | {med:.2f} | {p95:.2f} | {decoded_med:.2f} | "
                   f"{'< %.0f ms' % limit if limit else '-'} | {'met' if met else ('WRONG: ' + '; '.join(wrong) if wrong else 'MISSED')} |")
    out.append("")
    out.append("| measure | value | target | result |")
    out.append("|---|---:|---|---|")
    checks = [
        ("ingest rate, last step / first step", f"{last['rate']:.0f} / {first['rate']:.0f} = {ratio:.0%}",
         ">= 90%", ratio >= TARGETS["last_vs_first"]),
        ("index size at the end", f"{(last['index_main'] + last['index_wal']) / 1e6:.0f} MB, "
         f"{last['bytes_per_instance']:.0f} B/instance", "< 2048 B/instance",
         last["bytes_per_instance"] < TARGETS["bytes_per_instance"]),
        ("server RSS, peak (ingest and queries)", f"{peak_rss_mb:.1f} MB", "< 150 MB", peak_rss_mb < TARGETS["rss_mb"]),
        ("start-up on the full archive (exec -> association accepted), median of 3",
         f"{statistics.median(startups):.3f} s (runs: {', '.join('%.3f' % s for s in startups)})", "< 1 s",
         statistics.median(startups) < TARGETS["startup_s"]),
    ]
    if cold_startup is not None:
        checks.append(("start-up from a cold page cache (caches dropped first)", f"{cold_startup:.3f} s", "< 1 s",
                       cold_startup < TARGETS["startup_s"]))
    checks += [
        (f"C-MOVE of one study ({move['instances']} instances) to storescp",
         f"{move['seconds']:.2f} s, {move['received']} received", "all received", move["ok"]),
    ]
    for label, value, target, met in checks:
        out.append(f"| {label} | {value} | {target} | {'met' if met else 'MISSED'} |")
        verdicts.append((label, met))
    out.append("")
    out.append("DBWindowFind over XML-RPC (python xmlrpc.client, a new HTTP connection per call, "
               "execute Nothing; the time includes building and parsing the XML of every element):")
    out.append("")
    out.append("| predicate (table) | matches | median ms | p95 ms | result |")
    out.append("|---|---:|---:|---:|---|")
    for label, predicate, matches, expected, times in dbwindow:
        ok = matches == expected
        verdicts.append((f"DBWindowFind {label}", ok))
        out.append(f"| `{predicate}` ({label.split(':')[0]}) | {matches} | {statistics.median(times):.2f} | "
                   f"{pct(times, 95):.2f} | {'ok' if ok else f'WRONG: expected {expected}'} |")
    text = "\n".join(out)
    print("\n" + text)
    with open(os.path.join(work, "result.md"), "w") as f:
        f.write(text + "\n")
    problems = [label for label, met in verdicts if not met]
    if not alive or rc != 0:
        problems.append(f"server alive={alive} exit={rc}")
    print(f"\nOverall: {'all targets met' if not problems else 'MISSED: ' + '; '.join(problems)}; "
          f"total {time.perf_counter() - t_all:.0f}s; table in {work}/result.md")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
