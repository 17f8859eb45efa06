"""50 storescu processes at once: all succeed, everything is findable, the log shows no errors."""

import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402

# A line at error level: Ossa's own format is "<date> <time>.<ms> ERROR <message>"; DCMTK's logger,
# if it gets through, writes "E: ..." / "F: ...".
ERROR_LINE = re.compile(r"\.\d{3} +(ERROR|FATAL)\b|^(E|F): ")


def error_lines(log):
    out = []
    for line in log.splitlines():
        if ERROR_LINE.search(line):
            out.append(line)
    return out


class ConcurrencyTest(h.TempDirTestCase):

    def test_fifty_parallel_storescu(self):
        srv = self.server()
        n_clients, per_client = 50, 4
        jobs = []
        for c in range(n_clients):
            study, series = h.new_uid(), h.new_uid()
            files, sops = [], []
            for i in range(per_client):
                ds = h.make_dataset(patient_id="CONC%02d" % c, patient_name="Client^%02d" % c,
                                    study_uid=study, series_uid=series, InstanceNumber=i + 1,
                                    rows=32, cols=32, bits=16, seed=c * 10 + i)
                files.append(h.write_part10(ds, self.tmp / ("c%02d" % c) / ("%d.dcm" % i)))
                sops.append(str(ds.SOPInstanceUID))
            jobs.append((study, series, files, sops))
        t0 = time.monotonic()
        procs = [subprocess.Popen(h.storescu_args(srv.port, files, aet="CONC%02d" % c),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=h.dcmtk_env())
                 for c, (_s, _se, files, _sops) in enumerate(jobs)]
        outputs = [p.communicate(timeout=120)[0].decode("utf-8", "replace") for p in procs]
        elapsed = time.monotonic() - t0
        print("\n%d clients x %d files in %.2f s" % (n_clients, per_client, elapsed),
              file=sys.stderr)
        failed = [(i, p.returncode, out[-800:]) for i, (p, out) in enumerate(zip(procs, outputs))
                  if p.returncode != 0 or out.count("Received Store Response (Success)") != per_client]
        self.assertEqual(failed, [], "storescu runs that did not store everything")

        all_sops = {s for j in jobs for s in j[3]}
        self.assertEqual(srv.indexed_sop_uids(), all_sops)
        for study, series, _files, sops in jobs:
            r = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series),
                          ("SOPInstanceUID", None)], level="IMAGE", workdir=self.tmp)
            self.assertEqual(sorted(r.strs("SOPInstanceUID")), sorted(sops), r.output[-800:])
        r = srv.find([("PatientID", "CONC*"), ("NumberOfPatientRelatedStudies", None)],
                     level="PATIENT", model="P", workdir=self.tmp)
        self.assertEqual(len(r.datasets), n_clients)
        self.assertEqual(srv.tmp_files(), [])
        self.assertEqual(srv.stop(), 0)
        errors = error_lines(srv.log_text())
        self.assertEqual(errors, [], "errors in the server log")

    def test_parallel_find_and_store(self):
        """Queries while stores run: every query answers, the final counts are right."""
        srv = self.server()
        study, series = h.new_uid(), h.new_uid()
        files = []
        for i in range(200):
            ds = h.make_dataset(patient_id="MIX", study_uid=study, series_uid=series,
                                InstanceNumber=i + 1, pixels=False)
            files.append(h.write_part10(ds, self.tmp / "mix" / ("%03d.dcm" % i)))
        store = subprocess.Popen(h.storescu_args(srv.port, files), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=h.dcmtk_env())
        finds = []
        while store.poll() is None and len(finds) < 40:
            finds.append(srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series)],
                                  level="IMAGE", workdir=self.tmp))
        out = store.communicate(timeout=120)[0].decode("utf-8", "replace")
        self.assertEqual(store.returncode, 0, out[-2000:])
        for f in finds:
            self.assertEqual(f.final_status, 0, f.output[-800:])
        counts = [len(f.datasets) for f in finds]
        self.assertEqual(counts, sorted(counts), "a later query saw fewer instances")
        r = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series)], level="IMAGE",
                     workdir=self.tmp)
        self.assertEqual(len(r.datasets), 200)
        self.assertEqual(error_lines(srv.log_text()), [])

    def _racing_duplicates(self, policy):
        """20 clients send versions of the same 3 instances at once: one index row and one file
        per instance, the file is intact and one of the versions sent, nothing left in tmp."""
        srv = self.server(subdir="srv-" + policy, duplicates=policy)
        study, series = h.new_uid(), h.new_uid()
        sops = [h.new_uid() for _ in range(3)]
        versions = {sop: [] for sop in sops}
        procs = []
        for c in range(20):
            files = []
            for k, sop in enumerate(sops):
                ds = h.make_dataset(patient_id="RACE", study_uid=study, series_uid=series,
                                    sop_uid=sop, InstanceNumber=k + 1, rows=64, cols=64, bits=16,
                                    seed=c * 7 + k, ImageComments="client %d" % c)
                p = h.write_part10(ds, self.tmp / policy / ("c%02d" % c) / ("%d.dcm" % k))
                versions[sop].append(h.dataset_bytes(p))
                files.append(p)
            procs.append(subprocess.Popen(h.storescu_args(srv.port, files, aet="RACE%02d" % c),
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          env=h.dcmtk_env()))
        outs = [p.communicate(timeout=120)[0].decode("utf-8", "replace") for p in procs]
        for p, out in zip(procs, outs):
            self.assertEqual(p.returncode, 0, out[-1500:])
            self.assertNotIn("Failed", out)
        rows = srv.query("SELECT sop_instance_uid, file_path, file_size FROM instances")
        self.assertEqual(sorted(r[0] for r in rows), sorted(sops), "one index row per instance")
        for sop, rel, size in rows:
            f = srv.storage_path / rel
            self.assertTrue(f.is_file(), rel)
            self.assertEqual(f.stat().st_size, size)
            self.assertIn(h.dataset_bytes(f), versions[sop],
                          "stored file is not one of the versions sent (torn write?)")
        dicom_files = [p for p in srv.storage_path.rglob("*") if p.is_file()
                       and "tmp" not in p.relative_to(srv.storage_path).parts
                       and p.read_bytes()[128:132] == b"DICM"]
        self.assertEqual(len(dicom_files), len(sops),
                         "files in storage (orphans of replaced versions?): %s" % dicom_files)
        self.assertEqual(srv.tmp_files(), [])
        r = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series)], level="IMAGE",
                     workdir=self.tmp)
        self.assertEqual(sorted(r.strs("SOPInstanceUID")), sorted(sops))
        self.assertEqual(error_lines(srv.log_text()), [])

    def test_racing_duplicates_overwrite(self):
        self._racing_duplicates("overwrite")

    def test_racing_duplicates_keep(self):
        self._racing_duplicates("keep")


if __name__ == "__main__":
    h.main()
