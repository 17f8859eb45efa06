"""C-FIND SCP: Patient Root and Study Root, all levels, PS3.4 C.2.2.2 matching, computed attributes,
non-indexed attributes, stable order, relational-key failures and C-CANCEL."""

import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"

PATIENTS = {
    "P001": dict(name="Smith^John", birth="19700101", sex="M", ethnic="NORDIC"),
    "P002": dict(name="Smith^Jane", birth="19800215", sex="F", ethnic="LATIN"),
    "P003": dict(name="Brown^Charlie", birth="19900320", sex="M", ethnic="NORDIC"),
}

# study key, patient, date, time, accession, description, series [(modality, body part, description,
# number of instances)]
STUDIES = [
    ("S1", "P001", "20230110", "083000", "ACC001", "CT CHEST",
     [("CT", "CHEST", "Axial", 3), ("PT", "CHEST", "PET WB", 2)]),
    ("S2", "P001", "20230515", "141500", "ACC002", "MR BRAIN",
     [("MR", "BRAIN", "T1 axial", 2), ("MR", "BRAIN", "T2 axial", 1)]),
    ("S3", "P002", "20231201", "235959", "ACC003", "CT ABDOMEN",
     [("CT", "ABDOMEN", "Venous", 1)]),
    ("S4", "P002", "20240105", "000000", "ACC004", "US ABDOMEN",
     [("US", "ABDOMEN", "Liver", 2)]),
    ("S5", "P003", "20240220", "101010", "XYZ005", "CR CHEST",
     [("CR", "CHEST", "PA", 1), ("SR", None, "Report", 1)]),
]

ALL_STUDIES = {"S1", "S2", "S3", "S4", "S5"}


class Archive:
    """Builds the archive and remembers the UIDs by key (S1, S1.2, S1.2.1)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.uid = {}
        self.key_of = {}
        self.files = []
        for skey, pid, date, time_, acc, desc, series in STUDIES:
            pat = PATIENTS[pid]
            study_uid = self._new(skey)
            for si, (mod, body, sdesc, count) in enumerate(series, start=1):
                sekey = "%s.%d" % (skey, si)
                series_uid = self._new(sekey)
                for ii in range(1, count + 1):
                    ikey = "%s.%d" % (sekey, ii)
                    sop_uid = self._new(ikey)
                    extra = {}
                    if body:
                        extra["BodyPartExamined"] = body
                    is_sr = mod == "SR"
                    ds = h.make_dataset(
                        patient_id=pid, patient_name=pat["name"], study_uid=study_uid,
                        series_uid=series_uid, sop_uid=sop_uid,
                        sop_class=BASIC_TEXT_SR if is_sr else h.CT_IMAGE_STORAGE, modality=mod,
                        pixels=not is_sr, PatientBirthDate=pat["birth"], PatientSex=pat["sex"],
                        EthnicGroup=pat["ethnic"], StudyDate=date, StudyTime=time_,
                        AccessionNumber=acc, StudyDescription=desc, StudyID=skey,
                        SeriesNumber=si, SeriesDescription=sdesc, SeriesDate=date,
                        InstanceNumber=ii,
                        ImageComments=("KEY IMAGE" if ikey == "S1.1.2" else "image %s" % ikey),
                        **extra)
                    p = self.folder / ("%s.dcm" % ikey)
                    h.write_part10(ds, p)
                    self.files.append(p)

    def _new(self, key):
        u = h.new_uid()
        self.uid[key] = u
        self.key_of[u] = key
        return u


class FindTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.require_ossa_bin()
        cls.tmp = Path(tempfile.mkdtemp(prefix="ossa-it-find-"))
        cls.srv = h.OssaServer(cls.tmp / "srv")
        cls.srv.start()
        cls.archive = Archive(cls.tmp / "data")
        res = cls.srv.store(cls.archive.files, options=["-R"])
        bad = [f for f in map(str, cls.archive.files) if res.code(f) != 0]
        if res.returncode != 0 or bad:
            cls.srv.kill()
            raise AssertionError("could not store the archive (%s):\n%s\nlog:\n%s"
                                 % (bad, res.output[-3000:], cls.srv.log_text()[-3000:]))

    @classmethod
    def tearDownClass(cls):
        if cls.srv.running():
            cls.srv.kill()
        if h.os.environ.get("OSSA_KEEP_TMP"):
            print("kept %s" % cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # helpers -------------------------------------------------------------------------------------
    UNIQUE = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
              "IMAGE": "SOPInstanceUID"}

    def find(self, keys, level, model="S", **kw):
        ks = []
        for k, v in keys:
            if k.endswith("InstanceUID") and isinstance(v, str) and v in self.archive.uid:
                v = self.archive.uid[v]
            ks.append((k, v))
        unique = self.UNIQUE[level]
        if not any(k == unique for k, _ in ks):
            ks.append((unique, None))
        return self.srv.find(ks, level=level, model=model, workdir=self.tmp, **kw)

    def keys_of(self, result, level):
        unique = self.UNIQUE[level]
        out = []
        for d in result.datasets:
            v = d.get(unique)
            v = None if v is None else str(v)
            out.append(v if level == "PATIENT" else self.archive.key_of.get(v, v))
        return out

    def assert_matches(self, result, level, expected, msg=""):
        self.assertEqual(result.final_status, 0, "%s: final status %r\n%s"
                         % (msg, result.final_text, result.output[-1500:]))
        got = self.keys_of(result, level)
        self.assertEqual(len(got), len(set(got)), "%s: duplicate responses %r" % (msg, got))
        self.assertEqual(set(got), set(expected), msg)

    def uidlist(self, *keys):
        return "\\".join(self.archive.uid[k] for k in keys)

    # matching, table driven ----------------------------------------------------------------------
    def test_study_level_matching(self):
        cases = [
            ("universal", [], ALL_STUDIES),
            ("patient id", [("PatientID", "P001")], {"S1", "S2"}),
            ("no match", [("PatientID", "NOPE")], set()),
            ("name exact", [("PatientName", "Smith^John")], {"S1", "S2"}),
            ("name case-insensitive", [("PatientName", "smith^JOHN")], {"S1", "S2"}),
            ("name prefix *", [("PatientName", "Smith*")], {"S1", "S2", "S3", "S4"}),
            ("name ? and *", [("PatientName", "*^Ja?e")], {"S3", "S4"}),
            ("name wildcard case-insensitive", [("PatientName", "SMITH^J*")],
             {"S1", "S2", "S3", "S4"}),
            ("accession ?", [("AccessionNumber", "ACC00?")], {"S1", "S2", "S3", "S4"}),
            ("accession *", [("AccessionNumber", "*005")], {"S5"}),
            ("accession case-sensitive (PS3.4: only PN may be insensitive)",
             [("AccessionNumber", "acc001")], set()),
            ("description * both ends", [("StudyDescription", "*CHEST*")], {"S1", "S5"}),
            ("date single", [("StudyDate", "20231201")], {"S3"}),
            ("date range A-B", [("StudyDate", "20230101-20231231")], {"S1", "S2", "S3"}),
            ("date range A-", [("StudyDate", "20240101-")], {"S4", "S5"}),
            ("date range -B inclusive", [("StudyDate", "-20230515")], {"S1", "S2"}),
            ("date range A-A", [("StudyDate", "20230110-20230110")], {"S1"}),
            ("time range A-B", [("StudyTime", "080000-120000")], {"S1", "S5"}),
            ("time range -B", [("StudyTime", "-083000")], {"S1", "S4"}),
            ("time range A-", [("StudyTime", "235959-")], {"S3"}),
            ("time range hhmm", [("StudyTime", "1000-1500")], {"S2", "S5"}),
            ("uid list", [("StudyInstanceUID", self.uidlist("S1", "S3"))], {"S1", "S3"}),
            ("single uid", [("StudyInstanceUID", self.archive.uid["S4"])], {"S4"}),
            ("modalities in study CT (CT\\PT study too)", [("ModalitiesInStudy", "CT")],
             {"S1", "S3"}),
            ("modalities in study PT", [("ModalitiesInStudy", "PT")], {"S1"}),
            ("modalities in study SR", [("ModalitiesInStudy", "SR")], {"S5"}),
            ("combined keys", [("StudyDate", "20230101-20231231"), ("PatientID", "P002")],
             {"S3"}),
            ("patient attribute at study level", [("PatientBirthDate", "19750101-19951231")],
             {"S3", "S4", "S5"}),
            ("patient sex", [("PatientSex", "F")], {"S3", "S4"}),
            ("study id", [("StudyID", "S2")], {"S2"}),
            ("empty keys are universal", [("PatientName", ""), ("StudyDate", "")], ALL_STUDIES),
        ]
        for name, keys, expected in cases:
            with self.subTest(name):
                r = self.find(keys, "STUDY", model="S")
                self.assert_matches(r, "STUDY", expected, name)
        # the same in Patient Root (STUDY level needs PatientID)
        for name, keys, expected in cases:
            with self.subTest("patient root: " + name):
                for pid in ("P001", "P002", "P003"):
                    if any(k == "PatientID" for k, _ in keys):
                        continue
                    sub = {s for s in expected if dict((x[0], x[1]) for x in STUDIES)[s] == pid}
                    r = self.find([("PatientID", pid)] + keys, "STUDY", model="P")
                    self.assert_matches(r, "STUDY", sub, "%s (PatientID=%s)" % (name, pid))

    def test_patient_level_matching(self):
        cases = [
            ("universal", [], {"P001", "P002", "P003"}),
            ("id", [("PatientID", "P002")], {"P002"}),
            ("id wildcard", [("PatientID", "P00*")], {"P001", "P002", "P003"}),
            ("name prefix", [("PatientName", "Smith*")], {"P001", "P002"}),
            ("name case-insensitive", [("PatientName", "brown^charlie")], {"P003"}),
            ("birth date range", [("PatientBirthDate", "19750101-")], {"P002", "P003"}),
            ("birth date -B", [("PatientBirthDate", "-19800215")], {"P001", "P002"}),
            ("sex", [("PatientSex", "M")], {"P001", "P003"}),
            ("non-indexed EthnicGroup (0010,2160)", [("(0010,2160)", "NORDIC")],
             {"P001", "P003"}),
        ]
        for name, keys, expected in cases:
            with self.subTest(name):
                r = self.find(keys, "PATIENT", model="P")
                self.assert_matches(r, "PATIENT", expected, name)

    def test_series_level_matching(self):
        cases = [
            ("all series of a study", "S1", [], {"S1.1", "S1.2"}),
            ("modality", "S1", [("Modality", "PT")], {"S1.2"}),
            ("series number", "S2", [("SeriesNumber", "2")], {"S2.2"}),
            ("series description wildcard", "S2", [("SeriesDescription", "T? axial")],
             {"S2.1", "S2.2"}),
            ("non-indexed BodyPartExamined (0018,0015)", "S5", [("(0018,0015)", "CHEST")],
             {"S5.1"}),
            ("BodyPartExamined no match", "S2", [("BodyPartExamined", "CHEST")], set()),
            ("single series uid", "S1", [("SeriesInstanceUID", self.uidlist("S1.2"))], {"S1.2"}),
            ("series uid list", "S2", [("SeriesInstanceUID", self.uidlist("S2.1", "S2.2"))],
             {"S2.1", "S2.2"}),
        ]
        for name, study, keys, expected in cases:
            pid = dict((x[0], x[1]) for x in STUDIES)[study]
            with self.subTest("study root: " + name):
                r = self.find([("StudyInstanceUID", study)] + keys, "SERIES", model="S")
                self.assert_matches(r, "SERIES", expected, name)
            with self.subTest("patient root: " + name):
                r = self.find([("PatientID", pid), ("StudyInstanceUID", study)] + keys, "SERIES",
                              model="P")
                self.assert_matches(r, "SERIES", expected, name)

    def test_image_level_matching(self):
        a = self.archive.uid
        cases = [
            ("all instances of a series", "S1", "S1.1", [], {"S1.1.1", "S1.1.2", "S1.1.3"}),
            ("instance number", "S1", "S1.1", [("InstanceNumber", "2")], {"S1.1.2"}),
            ("sop uid list", "S1", "S1.1",
             [("SOPInstanceUID", a["S1.1.1"] + "\\" + a["S1.1.3"])], {"S1.1.1", "S1.1.3"}),
            ("sop class", "S5", "S5.2", [("SOPClassUID", BASIC_TEXT_SR)], {"S5.2.1"}),
            ("non-indexed ImageComments (0020,4000)", "S1", "S1.1", [("(0020,4000)", "KEY*")],
             {"S1.1.2"}),
        ]
        for name, study, series, keys, expected in cases:
            pid = dict((x[0], x[1]) for x in STUDIES)[study]
            with self.subTest("study root: " + name):
                r = self.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series)] + keys,
                              "IMAGE", model="S")
                self.assert_matches(r, "IMAGE", expected, name)
            with self.subTest("patient root: " + name):
                r = self.find([("PatientID", pid), ("StudyInstanceUID", study),
                               ("SeriesInstanceUID", series)] + keys, "IMAGE", model="P")
                self.assert_matches(r, "IMAGE", expected, name)

    # returned values -----------------------------------------------------------------------------
    def test_returned_study_keys_and_counts(self):
        r = self.find([("PatientID", None), ("PatientName", None), ("StudyDate", None),
                       ("StudyTime", None), ("AccessionNumber", None), ("StudyDescription", None),
                       ("ModalitiesInStudy", None), ("NumberOfStudyRelatedSeries", None),
                       ("NumberOfStudyRelatedInstances", None)], "STUDY")
        self.assert_matches(r, "STUDY", ALL_STUDIES)
        by_key = {self.archive.key_of[str(d.StudyInstanceUID)]: d for d in r.datasets}
        for skey, pid, date, time_, acc, desc, series in STUDIES:
            with self.subTest(skey):
                d = by_key[skey]
                self.assertEqual(str(d.PatientID), pid)
                self.assertEqual(str(d.PatientName), PATIENTS[pid]["name"])
                self.assertEqual(str(d.StudyDate), date)
                self.assertEqual(str(d.StudyTime), time_)
                self.assertEqual(str(d.AccessionNumber), acc)
                self.assertEqual(str(d.StudyDescription), desc)
                mods = d.ModalitiesInStudy
                mods = [mods] if isinstance(mods, str) else list(mods)
                self.assertEqual(sorted(mods), sorted({s[0] for s in series}),
                                 "ModalitiesInStudy of %s" % skey)
                self.assertEqual(len(mods), len(set(mods)), "ModalitiesInStudy repeats a value")
                self.assertEqual(int(d.NumberOfStudyRelatedSeries), len(series))
                self.assertEqual(int(d.NumberOfStudyRelatedInstances), sum(s[3] for s in series))

    def test_answers_in_every_negotiated_transfer_syntax_and_small_pdus(self):
        # The pending responses' identifiers are encoded in the presentation context's syntax and
        # cut to the peer's maximum PDU: the same answers whatever was negotiated.
        keys = [("PatientID", None), ("PatientName", None), ("StudyDate", None),
                ("StudyDescription", "*"), ("ModalitiesInStudy", None),
                ("NumberOfStudyRelatedInstances", None)]
        reference = self.find(keys, "STUDY")
        self.assert_matches(reference, "STUDY", ALL_STUDIES)

        def answers(result):
            return sorted(tuple(str(d.get(k, "")) for k in
                                ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate",
                                 "ModalitiesInStudy", "NumberOfStudyRelatedInstances"))
                          for d in result.datasets)

        for options in (["-xi"], ["-xb"], ["-xe"], ["-pdu", "4096"]):
            with self.subTest(options=options):
                r = self.find(keys, "STUDY", options=options)
                self.assert_matches(r, "STUDY", ALL_STUDIES, " ".join(options))
                self.assertEqual(answers(r), answers(reference))

    def test_returned_patient_counts(self):
        r = self.find([("PatientName", None), ("PatientBirthDate", None),
                       ("NumberOfPatientRelatedStudies", None), ("(0010,2160)", None)],
                      "PATIENT", model="P")
        self.assert_matches(r, "PATIENT", set(PATIENTS))
        for d in r.datasets:
            pid = str(d.PatientID)
            with self.subTest(pid):
                self.assertEqual(str(d.PatientName), PATIENTS[pid]["name"])
                self.assertEqual(str(d.PatientBirthDate), PATIENTS[pid]["birth"])
                self.assertEqual(int(d.NumberOfPatientRelatedStudies),
                                 sum(1 for s in STUDIES if s[1] == pid))
                self.assertEqual(str(d.get("EthnicGroup", "")), PATIENTS[pid]["ethnic"],
                                 "non-indexed EthnicGroup returned at PATIENT level")

    def test_returned_series_keys_and_counts(self):
        r = self.find([("StudyInstanceUID", "S1"), ("Modality", None), ("SeriesNumber", None),
                       ("SeriesDescription", None), ("(0018,0015)", None),
                       ("NumberOfSeriesRelatedInstances", None)], "SERIES")
        self.assert_matches(r, "SERIES", {"S1.1", "S1.2"})
        series = STUDIES[0][6]
        for d in r.datasets:
            key = self.archive.key_of[str(d.SeriesInstanceUID)]
            idx = int(key.split(".")[1])
            mod, body, sdesc, count = series[idx - 1]
            with self.subTest(key):
                self.assertEqual(str(d.Modality), mod)
                self.assertEqual(int(d.SeriesNumber), idx)
                self.assertEqual(str(d.SeriesDescription), sdesc)
                self.assertEqual(str(d.get("BodyPartExamined", "")), body)
                self.assertEqual(int(d.NumberOfSeriesRelatedInstances), count)
                self.assertEqual(str(d.StudyInstanceUID), self.archive.uid["S1"])

    def test_returned_image_keys(self):
        r = self.find([("StudyInstanceUID", "S1"), ("SeriesInstanceUID", "S1.1"),
                       ("InstanceNumber", None), ("SOPClassUID", None), ("(0020,4000)", None)],
                      "IMAGE")
        self.assert_matches(r, "IMAGE", {"S1.1.1", "S1.1.2", "S1.1.3"})
        for d in r.datasets:
            key = self.archive.key_of[str(d.SOPInstanceUID)]
            with self.subTest(key):
                self.assertEqual(int(d.InstanceNumber), int(key.split(".")[-1]))
                self.assertEqual(str(d.SOPClassUID), h.CT_IMAGE_STORAGE)
                self.assertEqual(str(d.get("ImageComments", "")),
                                 "KEY IMAGE" if key == "S1.1.2" else "image " + key)
                self.assertEqual(str(d.SeriesInstanceUID), self.archive.uid["S1.1"])

    def test_stable_order(self):
        for level, keys, model in (("STUDY", [], "S"), ("PATIENT", [], "P"),
                                   ("IMAGE", [("StudyInstanceUID", "S1"),
                                              ("SeriesInstanceUID", "S1.1")], "S"),
                                   ("SERIES", [("StudyInstanceUID", "S2")], "S")):
            with self.subTest(level):
                first = self.keys_of(self.find(keys, level, model=model), level)
                second = self.keys_of(self.find(keys, level, model=model), level)
                self.assertTrue(first)
                self.assertEqual(first, second, "two identical queries gave different orders")

    # failures ------------------------------------------------------------------------------------
    def test_missing_relational_keys(self):
        cases = [
            ("study root SERIES without StudyInstanceUID", "S", "SERIES", [("Modality", None)]),
            ("study root SERIES with universal StudyInstanceUID", "S", "SERIES",
             [("StudyInstanceUID", "")]),
            ("study root IMAGE without SeriesInstanceUID", "S", "IMAGE",
             [("StudyInstanceUID", "S1")]),
            ("study root IMAGE without StudyInstanceUID", "S", "IMAGE",
             [("SeriesInstanceUID", "S1.1")]),
            ("patient root STUDY without PatientID", "P", "STUDY", [("StudyDate", None)]),
            ("patient root SERIES without PatientID", "P", "SERIES",
             [("StudyInstanceUID", "S1")]),
            ("patient root IMAGE without PatientID", "P", "IMAGE",
             [("StudyInstanceUID", "S1"), ("SeriesInstanceUID", "S1.1")]),
            ("study root has no PATIENT level", "S", "PATIENT", [("PatientName", None)]),
            ("unknown level", "S", "FRAME", [("StudyInstanceUID", None)]),
        ]
        for name, model, level, keys in cases:
            with self.subTest(name):
                ks = []
                for k, v in keys:
                    ks.append((k, self.archive.uid.get(v, v)
                               if isinstance(v, str) and k.endswith("InstanceUID") else v))
                r = self.srv.find(ks, level=level, model=model, workdir=self.tmp)
                self.assertTrue(r.failed, "%s: expected a failure status, got %r with %d "
                                "responses" % (name, r.final_text, len(r.datasets)))
                s = r.final_status
                self.assertIsNotNone(s, "%s: unknown status %r" % (name, r.final_text))
                self.assertTrue(s == 0xA900 or 0xC000 <= s <= 0xCFFF, "%s: status 0x%04X"
                                % (name, s))
                self.assertEqual(r.datasets, [], "%s: no matches with a failure" % name)
        self.assertTrue(self.srv.echo())

    def test_odd_queries_answered(self):
        """Unusual but well-formed queries get a final response (success or a failure status),
        never an abort, and the server keeps answering."""
        odd = [
            ("sequence return key", [("ProcedureCodeSequence[0].CodeValue", None)]),
            ("unknown character set", [("SpecificCharacterSet", "ISO_IR 999"),
                                       ("PatientName", b"J\xe9r*")]),
            ("not a date", [("StudyDate", "notadate")]),
            ("reversed range", [("StudyDate", "20240101-20230101")]),
            ("wildcard in a date", [("StudyDate", "2024*")]),
            ("5000-character name", [("PatientName", "A" * 5000)]),
            ("wildcard in a UID", [("StudyInstanceUID", "1.2.*")]),
            ("many return keys", [("(0008,%04x)" % i, None) for i in range(0x20, 0x40, 2)]),
            ("only wildcards", [("PatientName", "**??**")]),
            ("date-time range", [("AcquisitionDateTime", "20240101-")]),
        ]
        for name, keys in odd:
            with self.subTest(name):
                r = self.srv.find(keys, level="STUDY", workdir=self.tmp)
                self.assertIsNotNone(r.final_text, "%s: no final response:\n%s"
                                     % (name, r.output[-1500:]))
                self.assertNotIn("Abort", r.output)
        self.assertTrue(self.srv.echo())
        r = self.find([], "STUDY")
        self.assert_matches(r, "STUDY", ALL_STUDIES)


class CancelTest(h.TempDirTestCase):

    def test_cancel(self):
        srv = self.server()
        n = 600
        study, series = h.new_uid(), h.new_uid()
        files = []
        for i in range(n):
            ds = h.make_dataset(patient_id="CANCEL", study_uid=study, series_uid=series,
                                InstanceNumber=i + 1, pixels=False,
                                ImageComments="instance %d of a long series" % i)
            files.append(h.write_part10(ds, self.tmp / "c" / ("%04d.dcm" % i)))
        res = srv.store(files)
        self.assertEqual(len(res.succeeded()), n, res.output[-2000:])
        keys = [("StudyInstanceUID", study), ("SeriesInstanceUID", series),
                ("SOPInstanceUID", None), ("InstanceNumber", None), ("SOPClassUID", None),
                ("(0020,4000)", None), ("PatientName", None), ("PatientID", None)]
        full = srv.find(keys, level="IMAGE", workdir=self.tmp)
        self.assertEqual(full.final_status, 0, full.output[-1500:])
        self.assertEqual(len(full.datasets), n)
        r = srv.find(keys, level="IMAGE", workdir=self.tmp, cancel=1)
        self.assertIn("Sending Cancel Request", r.output)
        self.assertEqual(r.final_status, h.STATUS_CANCEL,
                         "final status after C-CANCEL: %r (%d responses)"
                         % (r.final_text, len(r.datasets)))
        self.assertLess(len(r.datasets), n)
        self.assertGreaterEqual(len(r.datasets), 1)
        # the association and the server are fine afterwards
        again = srv.find(keys[:3], level="IMAGE", workdir=self.tmp)
        self.assertEqual(len(again.datasets), n)


class SpecialValuesTest(h.TempDirTestCase):
    """Values with characters that mean something to SQL or to a LIKE pattern: '_' and '%' are
    literal characters in DICOM matching, and quotes must not break or widen a query."""

    PEOPLE = [("A_1", "Under^Score"), ("AB1", "Plain^Letter"), ("C%1", "Per^Cent"),
              ("CD1", "Plain^Other"), ("Q'1", "O'Brien^Pat"), ("Q21", "Obrien^Pat")]

    def test_literal_underscore_percent_and_quotes(self):
        srv = self.server()
        files = []
        for pid, name in self.PEOPLE:
            ds = h.make_dataset(patient_id=pid, patient_name=name, pixels=False)
            files.append(h.write_part10(ds, self.tmp / "sv" / ("%d.dcm" % len(files))))
        res = srv.store(files)
        self.assertEqual(len(res.succeeded()), len(files), res.output[-2000:])
        cases = [
            ("underscore is literal (single value)", [("PatientID", "A_1")], {"A_1"}),
            ("underscore is literal (wildcard)", [("PatientID", "A_*")], {"A_1"}),
            ("percent is literal (single value)", [("PatientID", "C%1")], {"C%1"}),
            ("percent is literal (wildcard)", [("PatientID", "C%*")], {"C%1"}),
            ("? matches the underscore", [("PatientID", "A?1")], {"A_1", "AB1"}),
            ("quote in a single value", [("PatientID", "Q'1")], {"Q'1"}),
            ("quote in a name wildcard", [("PatientName", "O'B*")], {"Q'1"}),
            ("quote, case-insensitive name", [("PatientName", "o'brien^pat")], {"Q'1"}),
            ("injection attempt matches nothing", [("PatientID", "' OR '1'='1")], set()),
            ("injection attempt in a name", [("PatientName", "x' OR 1=1 --")], set()),
        ]
        for name, keys, expected in cases:
            with self.subTest(name):
                r = srv.find(keys + ([("PatientID", None)] if keys[0][0] != "PatientID" else []),
                             level="PATIENT", model="P", workdir=self.tmp)
                self.assertEqual(r.final_status, 0, "%s: %r\n%s" % (name, r.final_text,
                                                                    r.output[-1000:]))
                self.assertEqual(set(r.strs("PatientID")), expected, name)
        self.assertEqual(srv.query("SELECT count(*) FROM instances")[0][0], len(files),
                         "the index must be intact")


if __name__ == "__main__":
    h.main()
