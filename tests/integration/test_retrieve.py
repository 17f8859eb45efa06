"""C-MOVE and C-GET SCP: Patient Root and Study Root at every level, UID lists, move destinations
from the `nodes:` configuration (unknown, not allowed, not listening), sub-operation counts and the
Failed SOP Instance UID List, missing unique keys, C-CANCEL, and retrievals running concurrently.

Destinations are DCMTK storescp processes started here (bit-preserving, +B), so a received file's
data set can be compared byte for byte with the file Ossa stored; getscu also runs with +B.
"""

import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"

PATIENTS = {"R001": "Retrieve^Alice", "R002": "Retrieve^Bob"}

# study key, patient, description, series [(modality, SOP class, rows, cols, bits, instances)];
# rows None: no pixel data (a structured report)
STUDIES = [
    ("A", "R001", "CT CHEST", [("CT", h.CT_IMAGE_STORAGE, 16, 16, 8, 3),
                               ("CT", h.CT_IMAGE_STORAGE, 16, 16, 16, 2)]),
    ("B", "R001", "MR HEAD", [("MR", h.MR_IMAGE_STORAGE, 32, 32, 16, 2)]),
    ("C", "R002", "CT AND REPORT", [("CT", h.CT_IMAGE_STORAGE, 16, 16, 12, 1),
                                    ("SR", BASIC_TEXT_SR, None, None, None, 2)]),
]

FAILURE_STATUSES = "0xA900 or 0xC000-0xCFFF"


def is_failure_status(s):
    return s is not None and (s == 0xA900 or 0xC000 <= s <= 0xCFFF)


class Archive:
    """Writes the archive's files and remembers UIDs by key: study "A", series "A.1", instance
    "A.1.2"; patients by their ID."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.uid = {}
        self.key_of = {}
        self.file = {}          # instance key -> path
        self.patient_of = {}    # any key -> patient ID
        for skey, pid, desc, series in STUDIES:
            study_uid = self._new(skey)
            self.patient_of[skey] = pid
            for si, (mod, sop_class, rows, cols, bits, count) in enumerate(series, start=1):
                sekey = "%s.%d" % (skey, si)
                series_uid = self._new(sekey)
                self.patient_of[sekey] = pid
                for ii in range(1, count + 1):
                    ikey = "%s.%d" % (sekey, ii)
                    sop_uid = self._new(ikey)
                    self.patient_of[ikey] = pid
                    kw = dict(rows=rows, cols=cols, bits=bits) if rows else dict(pixels=False)
                    ds = h.make_dataset(
                        patient_id=pid, patient_name=PATIENTS[pid], study_uid=study_uid,
                        series_uid=series_uid, sop_uid=sop_uid, sop_class=sop_class,
                        modality=mod, seed=len(self.file), StudyDescription=desc,
                        AccessionNumber="ACC-" + skey, SeriesNumber=si, InstanceNumber=ii,
                        SeriesDescription="%s series %d" % (mod, si),
                        ImageComments="instance %s" % ikey, **kw)
                    p = self.folder / ("%s.dcm" % ikey)
                    h.write_part10(ds, p)
                    self.file[ikey] = p

    def _new(self, key):
        u = h.new_uid()
        self.uid[key] = u
        self.key_of[u] = key
        return u

    def instances(self, *prefixes):
        """Instance keys under any of: a patient ID, a study, series or instance key."""
        out = set()
        for ikey in self.file:
            for p in prefixes:
                if p in PATIENTS and self.patient_of[ikey] == p:
                    out.add(ikey)
                elif ikey == p or ikey.startswith(p + "."):
                    out.add(ikey)
        return out

    @property
    def files(self):
        return [self.file[k] for k in sorted(self.file)]


def keys_for(archive, level, model, *targets):
    """Identifier keys retrieving `targets` (archive keys, all of the same parent; several give a
    backslash-separated UID list at the retrieve level)."""
    first = targets[0]
    parts = first.split(".") if first not in PATIENTS else []
    keys = []
    if model == "P" or level == "PATIENT":
        pids = [t if t in PATIENTS else archive.patient_of[t] for t in targets]
        keys.append(("PatientID", "\\".join(pids) if level == "PATIENT" else pids[0]))
    if level == "PATIENT":
        return keys
    lv = {"STUDY": 1, "SERIES": 2, "IMAGE": 3}[level]
    names = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
    for depth in range(1, lv + 1):
        if depth < lv:
            keys.append((names[depth - 1], archive.uid[".".join(parts[:depth])]))
        else:
            keys.append((names[depth - 1], "\\".join(archive.uid[t] for t in targets)))
    return keys


class RetrieveTestBase(unittest.TestCase):
    """One Ossa with the archive stored, and its destinations; shared by the tests of a class."""

    @classmethod
    def setUpClass(cls):
        h.require_ossa_bin()
        cls.tmp = Path(tempfile.mkdtemp(prefix="ossa-it-retrieve-"))
        cls.scps = {}
        try:
            cls._set_up()
        except BaseException:
            cls._tear_down()
            raise

    @classmethod
    def _set_up(cls):
        # DEST1 logs every DIMSE command (checks of the sub-association); all write bit for bit.
        for i in range(1, 5):
            aet = "DEST%d" % i
            cls.scps[aet] = h.StoreScpProcess(cls.tmp / aet.lower(), aet=aet, options=["+B"],
                                              debug=(i == 1)).start()
        # slow destination for C-CANCEL: storescp sleeps 1 s after each store
        cls.scps["SLOW"] = h.StoreScpProcess(cls.tmp / "slow", aet="SLOW",
                                             options=["+B", "--sleep-after", "1"]).start()
        cls.scps["REFUSE"] = h.StoreScpProcess(cls.tmp / "refuse", aet="REFUSE",
                                               options=["--refuse"]).start()
        cls.scps["ABORT"] = h.StoreScpProcess(cls.tmp / "abort", aet="ABORT",
                                              options=["--abort-during"]).start()
        cls.down_port = h.free_port()  # declared, nothing listens there
        nodes = [h.node(aet, scp.port) for aet, scp in cls.scps.items()]
        nodes.append(h.node("DOWN", cls.down_port))
        nodes.append(h.node("NOMOVE", cls.scps["DEST1"].port, move_destination=False))
        cls.srv = h.OssaServer(cls.tmp / "srv")
        h.set_nodes(cls.srv, nodes)
        cls.srv.start()
        cls.archive = Archive(cls.tmp / "data")
        res = cls.srv.store(cls.archive.files, options=["-R"])
        bad = [f for f in map(str, cls.archive.files) if res.code(f) != 0]
        if res.returncode != 0 or bad:
            raise AssertionError("could not store the archive (%s):\n%s\nlog:\n%s"
                                 % (bad, res.output[-3000:], cls.srv.log_text()[-3000:]))

    @classmethod
    def tearDownClass(cls):
        cls._tear_down()

    @classmethod
    def _tear_down(cls):
        srv = getattr(cls, "srv", None)
        if srv is not None and srv.running():
            srv.kill()
        for scp in cls.scps.values():
            scp.stop()
        if h.os.environ.get("OSSA_KEEP_TMP"):
            print("kept %s" % cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        for scp in self.scps.values():
            scp.clear()

    def tearDown(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            print("\n----- server log (last 3000 chars) -----\n%s\n-----"
                  % self.srv.log_text()[-3000:], file=sys.stderr)

    # helpers -------------------------------------------------------------------------------------
    def move(self, keys, level, model="S", dest="DEST1", aet="MOVESCU", options=()):
        return h.movescu(self.srv.port, keys, dest, level=level, model=model, aet=aet,
                         options=options)

    def get(self, keys, level, model="S", options=("+B",), name="get"):
        outdir = Path(tempfile.mkdtemp(prefix=name + "-", dir=self.tmp))
        return h.getscu(self.srv.port, keys, outdir, level=level, model=model, options=options)

    def assert_server_fine(self):
        self.assertTrue(self.srv.running(), "server died:\n" + self.srv.log_text()[-3000:])
        self.assertTrue(self.srv.echo(), "server does not answer C-ECHO")

    def describe(self, r):
        return "%s\n--- %s output (tail) ---\n%s" % (r.summary(), r.kind.lower() + "scu",
                                                     r.output[-2500:])

    def assert_counts(self, r, n, msg=""):
        """Final success with n completed; pending responses consistent with n sub-operations."""
        self.assertEqual(r.final_status, h.STATUS_SUCCESS, "%s\n%s" % (msg, self.describe(r)))
        self.assertEqual((r.completed, r.failed, r.warning), (n, 0, 0),
                         "%s: final counts\n%s" % (msg, self.describe(r)))
        self.assert_pending_consistent(r, n, msg)

    def assert_pending_consistent(self, r, n, msg=""):
        last_done = -1
        for p in r.pending:
            counts = (p["remaining"], p["completed"], p["failed"], p["warning"])
            self.assertNotIn(None, counts, "%s: pending response without all four counts: %r"
                             % (msg, p))
            self.assertEqual(sum(counts), n, "%s: pending counts %r do not add up to %d"
                             % (msg, counts, n))
            done = n - p["remaining"]
            self.assertGreaterEqual(done, last_done, "%s: pending counts go backwards" % msg)
            last_done = done

    def assert_received(self, files, expected_keys, msg=""):
        """The received files are exactly the expected instances, each identical to what Ossa
        stored (data set bytes) and to the original (attribute values, pixel data)."""
        odd = [k for k in files if not isinstance(k, str)]
        self.assertEqual(odd, [], "%s: duplicate or unreadable received files" % msg)
        got = {self.archive.key_of.get(u, u) for u in files}
        self.assertEqual(got, set(expected_keys), "%s: instances received" % msg)
        for uid, path in files.items():
            key = self.archive.key_of[uid]
            original = h.pydicom.dcmread(str(self.archive.file[key]))
            received = h.pydicom.dcmread(str(path))
            self.assertEqual(str(received.SOPInstanceUID), uid)
            self.assertEqual(h.dataset_differences(original, received), [],
                             "%s: %s attributes differ from the original" % (msg, key))
            if "PixelData" in original:
                self.assertEqual(bytes(received.PixelData), bytes(original.PixelData),
                                 "%s: %s pixel data" % (msg, key))
            self.assertEqual(str(received.file_meta.TransferSyntaxUID),
                             h.meta_transfer_syntax(self.srv.stored_file(uid)),
                             "%s: %s sent in another transfer syntax than stored" % (msg, key))
            got_bytes = h.dataset_bytes(path)
            want_bytes = h.dataset_bytes(self.srv.stored_file(uid))
            if got_bytes != want_bytes:
                first = next((i for i in range(min(len(got_bytes), len(want_bytes)))
                              if got_bytes[i] != want_bytes[i]), min(len(got_bytes),
                                                                     len(want_bytes)))
                self.fail("%s: %s data set not identical to the stored one (%d vs %d bytes, "
                          "first difference at %d)" % (msg, key, len(got_bytes),
                                                       len(want_bytes), first))

    def nothing_received(self):
        return {aet: list(scp.files()) for aet, scp in self.scps.items() if scp.files()}


LEVEL_CASES = {
    # model: [(level, targets)]
    "S": [("STUDY", ["A"]), ("STUDY", ["C"]), ("SERIES", ["A.2"]), ("SERIES", ["B.1"]),
          ("IMAGE", ["A.1.2"]), ("IMAGE", ["C.2.1"])],
    "P": [("PATIENT", ["R001"]), ("PATIENT", ["R002"]), ("STUDY", ["B"]), ("SERIES", ["C.2"]),
          ("IMAGE", ["C.1.1"]), ("IMAGE", ["A.2.2"])],
}

LIST_CASES = [
    ("S", "IMAGE", ["A.1.1", "A.1.3"]),
    ("S", "SERIES", ["A.1", "A.2"]),
    ("S", "STUDY", ["A", "C"]),
    ("P", "IMAGE", ["A.1.1", "A.1.2", "A.1.3"]),
    ("P", "STUDY", ["A", "B"]),
]


class MoveTest(RetrieveTestBase):

    def test_negotiation_accepts_move_and_get(self):
        for uid in (h.PATIENT_ROOT_MOVE, h.STUDY_ROOT_MOVE, h.PATIENT_ROOT_GET, h.STUDY_ROOT_GET):
            with self.subTest(sop_class=uid):
                a = h.RawAssociation(self.srv.port, uid, h.ImplicitVRLittleEndian)
                try:
                    self.assertTrue(a.accepted, "presentation context for %s not accepted" % uid)
                finally:
                    a.release()

    def check_move(self, model, level, targets, dest="DEST1"):
        msg = "C-MOVE %s %s %s" % ({"S": "Study Root", "P": "Patient Root"}[model], level,
                                    "\\".join(targets))
        scp = self.scps[dest]
        scp.clear()
        expected = self.archive.instances(*targets)
        r = self.move(keys_for(self.archive, level, model, *targets), level, model, dest=dest)
        self.assert_counts(r, len(expected), msg)
        self.assert_received(scp.files(), expected, msg)
        return r

    def test_move_every_level_study_root(self):
        for level, targets in LEVEL_CASES["S"]:
            with self.subTest(level=level, targets=targets):
                self.check_move("S", level, targets)
        self.assert_server_fine()

    def test_move_every_level_patient_root(self):
        for level, targets in LEVEL_CASES["P"]:
            with self.subTest(level=level, targets=targets):
                self.check_move("P", level, targets)
        self.assert_server_fine()

    def test_move_uid_lists(self):
        for model, level, targets in LIST_CASES:
            with self.subTest(model=model, level=level, targets=targets):
                self.check_move(model, level, targets)

    def test_move_to_each_destination(self):
        for dest in ("DEST2", "DEST3", "DEST4"):
            with self.subTest(dest=dest):
                for scp in self.scps.values():
                    scp.clear()
                self.check_move("S", "STUDY", ["B"], dest=dest)
                others = [a for a, s in self.scps.items() if a != dest and s.files()]
                self.assertEqual(others, [], "files arrived at other destinations too")

    def test_move_no_match(self):
        cases = [
            ("STUDY", [("StudyInstanceUID", "1.2.3.999.1")]),
            ("SERIES", [("StudyInstanceUID", self.archive.uid["A"]),
                        ("SeriesInstanceUID", "1.2.3.999.2")]),
            ("IMAGE", [("StudyInstanceUID", self.archive.uid["A"]),
                       ("SeriesInstanceUID", self.archive.uid["A.1"]),
                       ("SOPInstanceUID", "1.2.3.999.3")]),
            # the series exists, but not in that study
            ("SERIES", [("StudyInstanceUID", self.archive.uid["B"]),
                        ("SeriesInstanceUID", self.archive.uid["A.1"])]),
        ]
        for level, keys in cases:
            with self.subTest(level=level, keys=keys):
                r = self.move(keys, level)
                self.assertEqual(r.final_status, h.STATUS_SUCCESS, self.describe(r))
                self.assertIn(r.completed, (0, None), self.describe(r))
                self.assertIn(r.failed, (0, None), self.describe(r))
                self.assertIn(r.warning, (0, None), self.describe(r))
                self.assertEqual(self.nothing_received(), {})
        r = self.move([("PatientID", "NOBODY")], "PATIENT", model="P")
        self.assertEqual(r.final_status, h.STATUS_SUCCESS, self.describe(r))
        self.assertEqual(self.nothing_received(), {})

    def test_move_unknown_destination(self):
        keys = keys_for(self.archive, "STUDY", "S", "A")
        for dest, why in (("NOBODY", "not declared"),
                          ("NOMOVE", "declared with move_destination: false"),
                          ("STORESCP", "storescp's default AE title")):
            with self.subTest(dest=dest, why=why):
                r = self.move(keys, "STUDY", dest=dest)
                self.assertEqual(r.final_status, h.STATUS_MOVE_DESTINATION_UNKNOWN,
                                 "%s (%s)\n%s" % (dest, why, self.describe(r)))
                self.assertIn(r.completed, (0, None), self.describe(r))
                self.assertEqual(self.nothing_received(), {}, "files sent to %s" % dest)
        self.assert_server_fine()

    def test_move_destination_not_listening(self):
        expected = self.archive.instances("A")
        r = self.move(keys_for(self.archive, "STUDY", "S", "A"), "STUDY", dest="DOWN")
        # contract: every sub-operation failed -> A702 (any failure status would be acceptable
        # DICOM; A702 is what Ossa promises)
        self.assertEqual(r.final_status, h.STATUS_SUBOPS_ALL_FAILED, self.describe(r))
        self.assertEqual(r.completed, 0, self.describe(r))
        self.assertEqual(r.failed, len(expected), self.describe(r))
        self.assertEqual({self.archive.key_of.get(u, u) for u in r.failed_uids}, expected,
                         "Failed SOP Instance UID List\n" + self.describe(r))
        self.assert_server_fine()
        # and a good destination still works afterwards
        self.check_move("S", "STUDY", ["C"])

    def test_move_destination_refuses_or_aborts(self):
        expected = self.archive.instances("A")
        for dest, what in (("REFUSE", "rejects the association"),
                           ("ABORT", "aborts during the first C-STORE")):
            with self.subTest(dest=dest, what=what):
                r = self.move(keys_for(self.archive, "STUDY", "S", "A"), "STUDY", dest=dest)
                self.assertEqual(r.final_status, h.STATUS_SUBOPS_ALL_FAILED, self.describe(r))
                self.assertEqual((r.completed, r.failed), (0, len(expected)), self.describe(r))
                self.assertEqual({self.archive.key_of.get(u, u) for u in r.failed_uids}, expected)
                self.assert_server_fine()

    def test_move_originator_disappears(self):
        """movescu killed while Ossa is sending (slow destination): the server stays fine, and
        it does not keep the destination busy for long."""
        p, finish = h.retrieve_popen("movescu", self.srv.port,
                                     keys_for(self.archive, "STUDY", "S", "A"), level="STUDY",
                                     dest="SLOW")
        h.time.sleep(1.5)
        p.kill()
        p.communicate()
        self.assert_server_fine()
        h.time.sleep(len(self.archive.instances("A")) + 1.0)
        self.scps["SLOW"].clear()
        self.check_move("S", "IMAGE", ["C.1.1"], dest="SLOW")
        self.assert_server_fine()

    def test_move_missing_or_bad_keys(self):
        a = self.archive.uid
        cases = [
            ("S", "SERIES", [("SeriesInstanceUID", a["A.1"])], "no StudyInstanceUID"),
            ("S", "IMAGE", [("StudyInstanceUID", a["A"]), ("SOPInstanceUID", a["A.1.1"])],
             "no SeriesInstanceUID"),
            ("S", "IMAGE", [("SeriesInstanceUID", a["A.1"]), ("SOPInstanceUID", a["A.1.1"])],
             "no StudyInstanceUID"),
            ("S", "STUDY", [("PatientID", "R001")], "no StudyInstanceUID"),
            ("S", "STUDY", [("StudyInstanceUID", "")], "empty StudyInstanceUID"),
            ("S", "IMAGE", [("StudyInstanceUID", a["A"]), ("SeriesInstanceUID", a["A.1"])],
             "no SOPInstanceUID"),
            ("P", "PATIENT", [("PatientName", "Retrieve^Alice")], "no PatientID"),
            ("S", "PATIENT", [("PatientID", "R001")], "PATIENT level in Study Root"),
            ("S", "FRAME", [("StudyInstanceUID", a["A"])], "unknown level"),
            ("S", None, [("StudyInstanceUID", a["A"])], "no QueryRetrieveLevel"),
            ("S", "SERIES", [("StudyInstanceUID", a["A"] + "\\" + a["B"]),
                             ("SeriesInstanceUID", a["A.1"])],
             "UID list above the retrieve level"),
        ]
        for model, level, keys, why in cases:
            with self.subTest(why=why, level=level, model=model):
                r = self.move(keys, level, model)
                self.assertTrue(is_failure_status(r.final_status),
                                "%s: expected %s\n%s" % (why, FAILURE_STATUSES, self.describe(r)))
                self.assertEqual(self.nothing_received(), {})
                self.assert_server_fine()

    def test_sub_association_and_move_originator(self):
        scp = self.scps["DEST1"]
        since = scp.log_size()
        expected = self.archive.instances("A")
        r = self.move(keys_for(self.archive, "STUDY", "S", "A"), "STUDY", aet="MOVER7")
        self.assert_counts(r, len(expected))
        self.assert_received(scp.files(), expected)
        log = scp.log_text(since)
        self.assertRegex(log, r"Calling Application Name:\s+OSSA\s*\n",
                         "sub-association's calling AE title is not Ossa's")
        self.assertRegex(log, r"Called Application Name:\s+DEST1\s*\n")
        originators = h.re.findall(r"Move Originator AE Title\s*:\s*(\S*)", log)
        ids = h.re.findall(r"Move Originator ID\s*:\s*(\S*)", log)
        self.assertEqual(originators, ["MOVER7"] * len(expected),
                         "Move Originator AE Title of the C-STORE-RQs")
        self.assertEqual(ids, ["1"] * len(expected), "Move Originator Message ID (movescu's is 1)")

    def test_move_cancel(self):
        expected = self.archive.instances("A")
        keys = keys_for(self.archive, "STUDY", "S", "A")
        r = self.move(keys, "STUDY", dest="SLOW", options=["--cancel", "1"])
        self.assertEqual(r.final_status, h.STATUS_CANCEL,
                         "C-CANCEL after the first response\n" + self.describe(r))
        self.assertIsNotNone(r.completed, self.describe(r))
        self.assertLess(r.completed, len(expected), "everything was sent despite C-CANCEL")
        got = self.scps["SLOW"].files()
        self.assertEqual(len(got), r.completed + (r.warning or 0),
                         "files received vs completed sub-operations\n" + self.describe(r))
        self.assert_server_fine()
        # the association after a cancel and the server keep working
        self.scps["SLOW"].clear()
        self.check_move("S", "IMAGE", ["A.1.1"], dest="SLOW")


class GetTest(RetrieveTestBase):

    def check_get(self, model, level, targets, options=("+B",)):
        msg = "C-GET %s %s %s" % ({"S": "Study Root", "P": "Patient Root"}[model], level,
                                   "\\".join(targets))
        expected = self.archive.instances(*targets)
        r = self.get(keys_for(self.archive, level, model, *targets), level, model, options)
        self.assert_counts(r, len(expected), msg)
        self.assert_received(r.files, expected, msg)
        self.assertEqual(self.nothing_received(), {}, "C-GET also sent to a move destination")
        return r

    def test_get_every_level_study_root(self):
        for level, targets in LEVEL_CASES["S"]:
            with self.subTest(level=level, targets=targets):
                self.check_get("S", level, targets)
        self.assert_server_fine()

    def test_get_every_level_patient_root(self):
        for level, targets in LEVEL_CASES["P"]:
            with self.subTest(level=level, targets=targets):
                self.check_get("P", level, targets)
        self.assert_server_fine()

    def test_get_uid_lists(self):
        for model, level, targets in LIST_CASES:
            with self.subTest(model=model, level=level, targets=targets):
                self.check_get(model, level, targets)

    def test_get_no_match(self):
        r = self.get([("StudyInstanceUID", "1.2.3.999.1")], "STUDY")
        self.assertEqual(r.final_status, h.STATUS_SUCCESS, self.describe(r))
        self.assertIn(r.completed, (0, None), self.describe(r))
        self.assertEqual(r.files, {})

    def test_get_missing_unique_key(self):
        a = self.archive.uid
        for level, keys, why in (
                ("SERIES", [("SeriesInstanceUID", a["A.1"])], "no StudyInstanceUID"),
                ("IMAGE", [("StudyInstanceUID", a["A"]), ("SOPInstanceUID", a["A.1.1"])],
                 "no SeriesInstanceUID")):
            with self.subTest(why=why):
                r = self.get(keys, level)
                self.assertTrue(is_failure_status(r.final_status),
                                "%s: expected %s\n%s" % (why, FAILURE_STATUSES, self.describe(r)))
                self.assertEqual(r.files, {})
                self.assert_server_fine()

    def test_get_received_in_memory(self):
        """getscu's default mode (receive in memory, re-encode on write): same values."""
        expected = self.archive.instances("B", "C")
        r = self.get(keys_for(self.archive, "STUDY", "S", "B", "C"), "STUDY", options=())
        self.assert_counts(r, len(expected))
        got = {self.archive.key_of.get(u, u) for u in r.files}
        self.assertEqual(got, expected)
        for uid, path in r.files.items():
            original = h.pydicom.dcmread(str(self.archive.file[self.archive.key_of[uid]]))
            self.assertEqual(h.dataset_differences(original, h.pydicom.dcmread(str(path))), [])


class ConcurrentRetrieveTest(RetrieveTestBase):

    def test_four_moves_and_four_gets_at_once(self):
        jobs = []
        move_targets = [("DEST1", "STUDY", ["A"]), ("DEST2", "STUDY", ["B"]),
                        ("DEST3", "STUDY", ["C"]), ("DEST4", "PATIENT", ["R001"])]
        get_targets = [("STUDY", ["A"]), ("STUDY", ["C"]), ("PATIENT", ["R002"]),
                       ("SERIES", ["A.2"])]
        for i, (dest, level, targets) in enumerate(move_targets):
            model = "P" if level == "PATIENT" else "S"
            p, finish = h.retrieve_popen("movescu", self.srv.port,
                                         keys_for(self.archive, level, model, *targets),
                                         level=level, model=model, aet="MOVER%d" % i, dest=dest)
            jobs.append(("move", dest, level, targets, finish, None))
        for i, (level, targets) in enumerate(get_targets):
            model = "P" if level == "PATIENT" else "S"
            outdir = self.tmp / ("concurrent-get-%d" % i)
            shutil.rmtree(outdir, ignore_errors=True)
            p, finish = h.retrieve_popen("getscu", self.srv.port,
                                         keys_for(self.archive, level, model, *targets),
                                         level=level, model=model, aet="GETTER%d" % i,
                                         outdir=outdir, options=["+B"])
            jobs.append(("get", None, level, targets, finish, outdir))
        results = [(job, job[4](timeout=300)) for job in jobs]
        for (kind, dest, level, targets, _, outdir), r in results:
            expected = self.archive.instances(*targets)
            msg = "concurrent %s %s %s" % (kind, level, targets)
            with self.subTest(kind=kind, level=level, targets=targets):
                self.assert_counts(r, len(expected), msg)
                files = self.scps[dest].files() if kind == "move" else r.files
                self.assert_received(files, expected, msg)
        self.assert_server_fine()

    def test_repeated_concurrent_rounds(self):
        """Three rounds of 4 + 4 on the whole archive: no leaked associations or threads."""
        total = len(self.archive.file)
        all_studies = keys_for(self.archive, "STUDY", "S", "A", "B", "C")
        for rnd in range(3):
            jobs = []
            for i in range(4):
                dest = "DEST%d" % (i + 1)
                self.scps[dest].clear()
                _, finish = h.retrieve_popen("movescu", self.srv.port, all_studies,
                                             level="STUDY", model="S", dest=dest)
                jobs.append(("move", dest, finish))
                outdir = self.tmp / ("round%d-get%d" % (rnd, i))
                _, finish = h.retrieve_popen("getscu", self.srv.port, all_studies,
                                             level="STUDY", model="S", outdir=outdir,
                                             options=["+B"])
                jobs.append(("get", None, finish))
            for kind, dest, finish in jobs:
                r = finish(timeout=300)
                with self.subTest(round=rnd, kind=kind, dest=dest):
                    self.assert_counts(r, total, "round %d %s" % (rnd, kind))
                    files = self.scps[dest].files() if kind == "move" else r.files
                    self.assertEqual(len(files), total)
        self.assert_server_fine()


class ManySopClassesTest(h.TempDirTestCase):
    """A study with more SOP classes than one association can carry (128 presentation contexts):
    C-MOVE needs more than one sub-association, and must work with a destination that serves one
    association at a time (storescp without --fork, like many modalities and workstations).
    C-GET: getscu proposes a fixed list of storage SOP classes; what it did not propose fails as a
    sub-operation, everything else arrives."""

    ACSE_TIMEOUT = 5

    def setUp(self):
        super().setUp()
        import test_echo_store  # storage_sop_classes(): every non-retired storage class DCMTK knows
        self.classes = test_echo_store.storage_sop_classes()
        self.assertGreater(len(self.classes), 128)
        self.dest = h.StoreScpProcess(self.tmp / "dest", aet="ALLSOP", options=["+B", "-pm"])
        self.dest.start()
        self.addCleanup(self.dest.stop)
        self.srv = self.server(start=False, acse_timeout=self.ACSE_TIMEOUT)
        h.set_nodes(self.srv, [h.node("ALLSOP", self.dest.port)])
        self.srv.start()
        self.study, series = h.new_uid(), h.new_uid()
        self.sop_of = {}
        files = []
        for i, (uid, name) in enumerate(self.classes):
            image = "Image" in name or "Mammography" in name or "X-Ray" in name
            p = self.tmp / "sop" / ("%03d.dcm" % i)
            ds = h.make_dataset(patient_id="SOPCLASSES", patient_name="All^Classes",
                                study_uid=self.study, series_uid=series, sop_class=uid,
                                modality="OT", pixels=image, InstanceNumber=i + 1)
            h.write_part10(ds, p)
            files.append(p)
            self.sop_of[str(ds.SOPInstanceUID)] = uid
        for start in range(0, len(files), 60):
            res = self.srv.store(files[start:start + 60], options=["-R", "-nh"])
            self.assertEqual(len(res.succeeded()), len(files[start:start + 60]), res.output[-2000:])

    def test_move_to_single_association_destination(self):
        n = len(self.classes)
        r = h.movescu(self.srv.port, [("StudyInstanceUID", self.study)], "ALLSOP", level="STUDY")
        self.assertEqual((r.final_status, r.completed, r.failed), (h.STATUS_SUCCESS, n, 0),
                         "%s\n(%d SOP classes need 2 sub-associations; storescp without --fork "
                         "accepts the second only after the first is released)" % (r.summary(), n))
        self.assertLess(r.elapsed, self.ACSE_TIMEOUT, "the C-MOVE waited for an ACSE timeout")
        self.assertEqual(set(self.dest.files()), set(self.sop_of))
        self.assertTrue(self.srv.echo())

    def test_get_what_getscu_proposed(self):
        n = len(self.classes)
        r = h.getscu(self.srv.port, [("StudyInstanceUID", self.study)], self.tmp / "get",
                     level="STUDY", options=["+B"])
        # getscu 3.6.7 proposes ~110 storage classes (SCP role) within its 128 contexts
        self.assertEqual(r.final_status, h.STATUS_SUBOPS_WARNING, r.summary())
        self.assertEqual((r.completed, r.failed, r.warning), (len(r.files), n - len(r.files), 0),
                         r.summary())
        self.assertGreater(len(r.files), 90, r.summary())
        arrived = {self.sop_of[u] for u in r.files}
        common = {h.CT_IMAGE_STORAGE, h.MR_IMAGE_STORAGE, h.SC_IMAGE_STORAGE, h.PET_IMAGE_STORAGE,
                  "1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.1",
                  "1.2.840.10008.5.1.4.1.1.88.11"}
        self.assertEqual(common - arrived, set(), "common classes that getscu proposes")
        self.assertTrue(self.srv.echo())


if __name__ == "__main__":
    h.main()
