"""ossa import: folders recursively, while the server runs; summary line, rejected files, exit codes;
imported instances are findable through the running server."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402

SUMMARY = re.compile(r"^imported (\d+), duplicates (\d+), rejected (\d+)\s*$", re.M)


def parse_import(r):
    out = r.stdout.decode("utf-8", "replace")
    m = SUMMARY.search(out)
    rejected = re.findall(r"^rejected: (.*?): (.*)$", out, re.M)
    return (tuple(int(x) for x in m.groups()) if m else None), rejected, out


class ImportTest(h.TempDirTestCase):

    def build_tree(self, root):
        """A nested tree: 6 good instances, one copy of a good one, a text file, a DICOM file
        without SOP Instance UID. Returns (good SOP UIDs, study, series, paths of bad files)."""
        study, series = h.new_uid(), h.new_uid()
        sops = []
        layout = ["a/1.dcm", "a/2.dcm", "a/b/3.dcm", "a/b/c/4", "d/e/f/g/5.DCM", "6.dcm"]
        for i, rel in enumerate(layout, start=1):
            ds = h.make_instance(root / rel, patient_id="IMP", patient_name="Import^Tree",
                                 study_uid=study, series_uid=series, InstanceNumber=i)
            sops.append(str(ds.SOPInstanceUID))
        copy = root / "copies" / "copy-of-1.dcm"
        copy.parent.mkdir(parents=True)
        copy.write_bytes((root / "a/1.dcm").read_bytes())
        text = root / "a" / "notes.txt"
        text.write_text("this is not a DICOM file\n" * 20)
        nosop = root / "bad" / "no-sop-uid.dcm"
        ds = h.make_dataset(patient_id="IMP", study_uid=study, series_uid=series,
                            omit=("SOPInstanceUID",))
        ds.SOPInstanceUID = h.new_uid()  # only for the meta header
        h.write_part10(ds, nosop)
        del ds.SOPInstanceUID
        ds.save_as(str(nosop), write_like_original=False)
        return sops, study, series, [text, nosop]

    def test_import_tree_while_running(self):
        srv = self.server()
        # one instance is already on the server before the import
        pre = self.tmp / "pre.dcm"
        pre_ds = h.make_instance(pre, patient_id="IMP")
        root = self.tmp / "tree"
        sops, study, series, bad = self.build_tree(root)
        (root / "pre-copy.dcm").write_bytes(pre.read_bytes())
        self.assertEqual(srv.store([pre]).code(pre), 0)

        r = h.ossa("import", "--config", str(srv.config_path), str(root), timeout=120)
        counts, rejected, out = parse_import(r)
        self.assertIsNotNone(counts, "no summary line in:\n" + r.out)
        self.assertEqual(counts, (6, 2, 2), "imported, duplicates, rejected:\n" + out)
        self.assertEqual(r.returncode, 1, "exit code with rejected files:\n" + r.out)
        rejected_paths = {Path(p).name for p, _reason in rejected}
        self.assertEqual(rejected_paths, {"notes.txt", "no-sop-uid.dcm"}, out)
        for p, reason in rejected:
            self.assertTrue(reason.strip(), "rejected line without a reason: %r" % p)
            self.assertTrue(Path(p).is_absolute() or (root / p).exists() or Path(p).exists(),
                            "rejected path should name the file: %r" % p)

        # the running server finds them
        self.assertTrue(srv.running())
        found = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series),
                          ("SOPInstanceUID", None), ("InstanceNumber", None)],
                         level="IMAGE", workdir=self.tmp)
        self.assertEqual(found.final_status, 0, found.output[-1500:])
        self.assertEqual(sorted(found.strs("SOPInstanceUID")), sorted(sops))
        study_level = srv.find([("StudyInstanceUID", study), ("NumberOfStudyRelatedInstances", None)],
                               level="STUDY", workdir=self.tmp)
        self.assertEqual([int(d.NumberOfStudyRelatedInstances) for d in study_level.datasets], [6])
        for sop in sops + [str(pre_ds.SOPInstanceUID)]:
            f = srv.stored_file(sop)
            self.assertTrue(f.is_file(), f)
            self.assertEqual(str(h.pydicom.dcmread(str(f), stop_before_pixels=True).SOPInstanceUID),
                             sop)
        self.assertEqual(srv.query("SELECT count(*) FROM instances")[0][0], 7)
        # the source tree is left alone
        self.assertTrue((root / "a/1.dcm").is_file())
        self.assertTrue(bad[0].is_file())
        # still serving
        self.assertTrue(srv.echo())
        # a new C-STORE after the import works too
        post = self.tmp / "post.dcm"
        post_ds = h.make_instance(post, patient_id="IMP", study_uid=study, series_uid=series,
                                  InstanceNumber=99)
        self.assertEqual(srv.store([post]).code(post), 0)
        self.assertEqual(len(srv.instance_rows(str(post_ds.SOPInstanceUID))), 1)

        # importing the same tree again: nothing new
        r2 = h.ossa("import", "--config", str(srv.config_path), str(root), timeout=120)
        counts2, _rej2, out2 = parse_import(r2)
        self.assertEqual(counts2, (0, 8, 2), out2)
        self.assertEqual(r2.returncode, 1)
        self.assertEqual(srv.tmp_files(), [])

    def test_import_clean_files_exit_zero(self):
        srv = self.server()
        files = []
        for i in range(3):
            p = self.tmp / "clean" / ("%d.dcm" % i)
            h.make_instance(p, patient_id="CLEAN")
            files.append(p)
        # single files as arguments, not a folder
        r = h.ossa("import", "--config", str(srv.config_path), *[str(f) for f in files])
        counts, rejected, out = parse_import(r)
        self.assertEqual(counts, (3, 0, 0), r.out)
        self.assertEqual(rejected, [])
        self.assertEqual(r.returncode, 0, r.out)
        found = srv.find([("PatientID", "CLEAN")], level="STUDY", workdir=self.tmp)
        self.assertEqual(len(found.datasets), 3, found.output[-1500:])

    def test_import_without_server(self):
        srv = self.server(start=False)
        p = self.tmp / "x.dcm"
        ds = h.make_instance(p, patient_id="OFFLINE")
        r = h.ossa("import", "--config", str(srv.config_path), str(p))
        counts, _rej, out = parse_import(r)
        self.assertEqual(counts, (1, 0, 0), r.out)
        self.assertEqual(r.returncode, 0)
        srv.start()
        found = srv.find([("PatientID", "OFFLINE")], level="STUDY", workdir=self.tmp)
        self.assertEqual(len(found.datasets), 1, found.output[-1500:])
        self.assertEqual(len(srv.instance_rows(str(ds.SOPInstanceUID))), 1)

    def test_usage_errors(self):
        srv = self.server(start=False)
        r = h.ossa("import", "--config", str(srv.config_path))
        self.assertEqual(r.returncode, 2, "import without paths: " + r.out)
        bad_cfg = self.tmp / "bad.yaml"
        bad_cfg.write_text("server:\n  colour: blue\n")
        p = self.tmp / "y.dcm"
        h.make_instance(p)
        r = h.ossa("import", "--config", str(bad_cfg), str(p))
        self.assertEqual(r.returncode, 2, "import with a bad config: " + r.out)
        r = h.ossa("import", "--config", str(self.tmp / "missing.yaml"), str(p))
        self.assertEqual(r.returncode, 2, "import with a missing config: " + r.out)

    def test_missing_path_is_rejected(self):
        srv = self.server(start=False)
        r = h.ossa("import", "--config", str(srv.config_path), str(self.tmp / "nope"))
        self.assertNotEqual(r.returncode, 0, r.out)

    def test_import_during_ingest(self):
        """ossa import and C-STOREs write to the same index at the same time: both complete."""
        import subprocess
        srv = self.server()
        study_a, series_a, study_b, series_b = (h.new_uid() for _ in range(4))
        sent, imported = [], []
        for i in range(300):
            ds = h.make_dataset(patient_id="BUSY", study_uid=study_a, series_uid=series_a,
                                InstanceNumber=i + 1, pixels=False)
            sent.append((h.write_part10(ds, self.tmp / "sent" / ("%03d.dcm" % i)),
                         str(ds.SOPInstanceUID)))
        for i in range(300):
            ds = h.make_dataset(patient_id="BUSY", study_uid=study_b, series_uid=series_b,
                                InstanceNumber=i + 1, pixels=False)
            h.write_part10(ds, self.tmp / "imp" / ("sub%d" % (i % 3)) / ("%03d.dcm" % i))
            imported.append(str(ds.SOPInstanceUID))
        store = subprocess.Popen(h.storescu_args(srv.port, [f for f, _ in sent]),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env=h.dcmtk_env())
        r = h.ossa("import", "--config", str(srv.config_path), str(self.tmp / "imp"), timeout=120)
        out = store.communicate(timeout=120)[0].decode("utf-8", "replace")
        counts, rejected, text = parse_import(r)
        self.assertEqual(counts, (300, 0, 0), r.out[-2000:])
        self.assertEqual(r.returncode, 0)
        self.assertEqual(store.returncode, 0, out[-2000:])
        self.assertEqual(out.count("Received Store Response (Success)"), 300, out[-2000:])
        self.assertEqual(srv.indexed_sop_uids(), {s for _f, s in sent} | set(imported))
        for study, series, sops in ((study_a, series_a, [s for _f, s in sent]),
                                    (study_b, series_b, imported)):
            f = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series)],
                         level="IMAGE", workdir=self.tmp)
            self.assertEqual(sorted(f.strs("SOPInstanceUID")), sorted(sops))

    def test_import_keeps_transfer_syntax(self):
        srv = self.server()
        src = self.tmp / "src.dcm"
        ds = h.make_instance(src, patient_id="TSI", rows=16, cols=16, bits=12)
        (self.tmp / "in").mkdir()
        jls = h.compress(src, self.tmp / "in" / "jls.dcm", "jpeg-ls")
        r = h.ossa("import", "--config", str(srv.config_path), str(jls))
        self.assertEqual(parse_import(r)[0], (1, 0, 0), r.out)
        rows = srv.instance_rows(str(ds.SOPInstanceUID))
        self.assertEqual(rows[0][2], h.JPEG_LS_LOSSLESS, "index transfer_syntax_uid")
        stored = srv.stored_file(str(ds.SOPInstanceUID))
        self.assertEqual(h.meta_transfer_syntax(stored), h.JPEG_LS_LOSSLESS)
        self.assertEqual(h.dataset_bytes(stored), h.dataset_bytes(jls),
                         "imported file's dataset should be stored as it is")


if __name__ == "__main__":
    h.main()
