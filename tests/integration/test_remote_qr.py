"""Ossa against an independent Q/R server and against picky storage peers.

1. Retrieve jobs (`ossa retrieve NODE [--get] --level STUDY --wait UID`) from DCMTK's dcmqrscp, which
   holds a study of three series (uncompressed CT, and one MR instance in JPEG lossless): every
   instance must end up in Ossa's index, each stored file equal to the file loaded into dcmqrscp
   (same attributes, same pixel data). `ossa query NODE` lists the study.
2. Lossless re-encoding on the way out: an uncompressed CT instance C-MOVEd to a storescp that
   accepts CT Image Storage only in JPEG lossless (SV1) must arrive in that syntax, and decompress
   to the original pixels exactly (docs/conformance.md, retrieve: "otherwise it is converted with
   DCMTK's codecs (... lossless JPEG, JPEG-LS and RLE encoding)").
3. A send job of a JPEG-LS instance to a storescp that accepts only implicit VR little endian: it
   arrives decompressed, pixel-identical to the uncompressed source.

About dcmqrscp 3.6.7 (why its association profile below looks the way it does): it never converts
a transfer syntax itself, and for each sub-operation it uses the first accepted presentation
context of the instance's SOP class, whatever the syntax (it does not look for one matching the
file). Its default outgoing proposal (-xs: one context per class listing JPEG lossless, then the
uncompressed syntaxes) does not work with Ossa either, which takes explicit VR little endian from
such a context (as docs/conformance.md says). So dcmqrscp runs with an association profile (-xf):
its C-MOVE sub-associations propose CT Image Storage only uncompressed and MR Image Storage only in
JPEG lossless, and the study's only MR instance is the JPEG one. For C-GET the requester (Ossa's
retrieve job) proposes the contexts; the profile lists SCU/SCP role selection for the two storage
classes so that dcmqrscp accepts Ossa's SCP role.

Run: OSSA_BIN=/abs/path/to/ossa /usr/bin/python3 tests/integration/test_remote_qr.py
"""

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402
from test_scu_cli import DcmQrScp  # noqa: E402

JOB_TIMEOUT = 60

# dcmqrscp -xf <file> In Out
DCMQRSCP_PROFILES = """\
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit
[JpegLossless]
TransferSyntax1 = JPEGLossless:Non-hierarchical-1stOrderPrediction
[JpegLosslessOrUncompressed]
TransferSyntax1 = JPEGLossless:Non-hierarchical-1stOrderPrediction
TransferSyntax2 = LocalEndianExplicit
TransferSyntax3 = LittleEndianImplicit

[[PresentationContexts]]
[In]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = FINDStudyRootQueryRetrieveInformationModel\\Uncompressed
PresentationContext3 = MOVEStudyRootQueryRetrieveInformationModel\\Uncompressed
PresentationContext4 = GETStudyRootQueryRetrieveInformationModel\\Uncompressed
PresentationContext5 = FINDPatientRootQueryRetrieveInformationModel\\Uncompressed
PresentationContext6 = MOVEPatientRootQueryRetrieveInformationModel\\Uncompressed
PresentationContext7 = GETPatientRootQueryRetrieveInformationModel\\Uncompressed
PresentationContext8 = CTImageStorage\\JpegLosslessOrUncompressed
PresentationContext9 = MRImageStorage\\JpegLosslessOrUncompressed
[Out]
PresentationContext1 = CTImageStorage\\Uncompressed
PresentationContext2 = MRImageStorage\\JpegLossless

[[SCPSCURoleSelection]]
[Roles]
Role1 = CTImageStorage\\BOTH
Role2 = MRImageStorage\\BOTH

[[Profiles]]
[In]
PresentationContexts = In
SCPSCURoleSelection = Roles
[Out]
PresentationContexts = Out
"""

# storescp -xf <file> JpegOnly: CT Image Storage in JPEG lossless SV1 only.
STORESCP_JPEG_ONLY = """\
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit
[JpegLossless]
TransferSyntax1 = JPEGLossless:Non-hierarchical-1stOrderPrediction

[[PresentationContexts]]
[JpegOnly]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = CTImageStorage\\JpegLossless

[[Profiles]]
[JpegOnly]
PresentationContexts = JpegOnly
"""


class QrScp(DcmQrScp):
    """test_scu_cli.DcmQrScp (fork mode, own process group) started with extra options and the
    association profiles above."""

    def __init__(self, folder, ossa_port, aet="QRSCP"):
        super().__init__(folder, aet=aet, hosts=[("ossa", "OSSA", ossa_port)])
        self.profile_path = self.folder / "profiles.cfg"
        self.profile_path.write_text(DCMQRSCP_PROFILES)
        self.options = ["-v", "-xf", str(self.profile_path), "In", "Out"]

    def start(self, timeout=20.0):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["dcmqrscp"] + self.options + ["-c", str(self.config_path), str(self.port)],
            stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL, env=h.dcmtk_env(),
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("dcmqrscp exited with %s:\n%s"
                                     % (self.proc.returncode, self.log_text()))
            r = h.run(["echoscu", "-aec", self.aet, "-to", "5", "-ta", "5", "127.0.0.1",
                       self.port], timeout=20)
            if r.returncode == 0:
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("dcmqrscp did not answer C-ECHO:\n" + self.log_text())
            time.sleep(0.1)

    def load(self, files, options=()):
        r = h.storescu(self.port, files, aec=self.aet, options=options)
        if r.returncode != 0 or len(r.succeeded()) != len(files):
            raise AssertionError("loading dcmqrscp failed: %r\n%s\n%s"
                                 % (r, r.output[-3000:], self.log_text()))


def ossa_cli(server, command, *args, timeout=JOB_TIMEOUT):
    return h.run([h.require_ossa_bin(), command, "--config", str(server.config_path)]
                 + [str(a) for a in args], timeout=timeout)


def read(path):
    return h.pydicom.dcmread(str(path))


def study_instance_uids(server, study_uid):
    rows = server.query(
        "SELECT i.sop_instance_uid FROM instances i JOIN series se ON i.series_fk = se.id "
        "JOIN studies st ON se.study_fk = st.id WHERE st.study_instance_uid = ?", (study_uid,))
    return {r[0] for r in rows}


class RemoteQrTest(h.TempDirTestCase):

    def setUp(self):
        super().setUp()
        self.helpers = []
        self.addCleanup(self._stop_helpers)

    def _stop_helpers(self):
        for p in reversed(self.helpers):
            p.stop()

    def helper(self, proc):
        self.helpers.append(proc)
        return proc.start()

    # --------------------------------------------------------------------------------------------
    # 1. dcmqrscp as the remote Q/R server

    def make_study(self, folder):
        """Series 1: two 16-bit CT; series 2: one 8-bit CT; series 3: one 16-bit MR in JPEG lossless
        SV1. Returns (study uid, {sop uid: (file, transfer syntax)}, uncompressed files, JPEG file,
        {series uid: {sop uids}})."""
        folder = Path(folder)
        study = h.new_uid()
        common = dict(patient_id="QR001", patient_name="Remote^Study", study_uid=study,
                      StudyDescription="REMOTE QR", AccessionNumber="ACC42")
        plain = []
        series = {}
        for si, (count, bits) in enumerate(((2, 16), (1, 8)), start=1):
            series_uid = h.new_uid()
            for ii in range(count):
                p = folder / ("ct-%d-%d.dcm" % (si, ii))
                ds = h.make_instance(p, series_uid=series_uid, bits=bits, rows=16, cols=16,
                                     SeriesNumber=si, InstanceNumber=ii + 1,
                                     SeriesDescription="CT %d" % si, **common)
                plain.append(p)
                series.setdefault(series_uid, set()).add(str(ds.SOPInstanceUID))
        mr_series = h.new_uid()
        src = folder / "mr-src.dcm"
        ds = h.make_instance(src, series_uid=mr_series, sop_class=h.MR_IMAGE_STORAGE,
                             modality="MR", bits=16, rows=16, cols=16, SeriesNumber=3,
                             InstanceNumber=1, SeriesDescription="MR JPEG", **common)
        jpeg = h.compress(src, folder / "mr-jpeg-lossless.dcm", "jpeg-lossless")
        series[mr_series] = {str(ds.SOPInstanceUID)}
        sent = {}
        for p in plain + [jpeg]:
            sent[str(read(p).SOPInstanceUID)] = (p, h.meta_transfer_syntax(p))
        self.assertEqual(sent[str(ds.SOPInstanceUID)][1], h.JPEG_LOSSLESS_SV1)
        return study, sent, plain, jpeg, series

    def start_qr(self, ossa_server):
        if not h.have_tool("dcmqrscp"):
            self.skipTest("dcmqrscp not installed")
        qr = QrScp(self.tmp / "qr", ossa_server.port)
        self.helpers.append(qr)
        qr.start()
        study, sent, plain, jpeg, series = self.make_study(self.tmp / "data")
        qr.load(plain)
        qr.load([jpeg], options=["-xs"])  # JPEG lossless as it is
        stored = {p.name for p in qr.db.iterdir() if p.suffix == ".dcm"}
        self.assertEqual(len(stored), len(sent), "dcmqrscp did not keep every instance")
        return qr, study, sent, series

    def assert_retrieved(self, srv, study, sent, series, job_output, qr):
        """Every sent instance is in Ossa's index (and answers C-FIND at IMAGE level) and its
        stored file equals the file loaded into dcmqrscp."""
        indexed = study_instance_uids(srv, study)
        missing = {uid: sent[uid][1] for uid in set(sent) - indexed}
        self.assertFalse(missing, "instances missing in Ossa (uid: stored transfer syntax): %r\n"
                         "job output:\n%s\nOssa log:\n%s\ndcmqrscp log:\n%s"
                         % (missing, job_output, srv.log_text()[-2500:], qr.log_text()))
        self.assertEqual(indexed, set(sent))
        for series_uid, uids in series.items():
            f = srv.find(["StudyInstanceUID=" + study, "SeriesInstanceUID=" + series_uid,
                          ("SOPInstanceUID", None)], level="IMAGE", workdir=self.tmp)
            self.assertFalse(f.failed, f.output[-2000:])
            self.assertEqual(set(f.strs("SOPInstanceUID")), uids, f.output[-2000:])
        for uid, (path, ts) in sent.items():
            stored = srv.stored_file(uid)
            self.assertEqual(h.meta_transfer_syntax(stored), ts,
                             "%s: stored in another transfer syntax than it was sent" % uid)
            diffs = h.dataset_differences(read(path), read(stored))
            self.assertEqual(diffs, [], "%s (%s): stored data set differs from the file sent to "
                                        "dcmqrscp" % (uid, ts))

    def test_move_from_dcmqrscp(self):
        srv = self.server(start=False)
        qr, study, sent, series = self.start_qr(srv)
        h.set_nodes(srv, [h.node("QRSCP", qr.port, name="qr", retrieve=True, query=True)])
        srv.start()
        r = ossa_cli(srv, "retrieve", "qr", "--level", "STUDY", "--wait", study)
        self.assertEqual(r.returncode, 0, r.out + srv.log_text()[-2500:] + qr.log_text())
        self.assertRegex(r.out, r"done, %d/%d done, 0 failed" % (len(sent), len(sent)))
        self.assert_retrieved(srv, study, sent, series, r.out, qr)
        # Ossa was the C-MOVE destination: dcmqrscp's sub-association called OSSA.
        self.assertIn("association from QRSCP", srv.log_text())

    def test_get_from_dcmqrscp(self):
        srv = self.server(start=False)
        qr, study, sent, series = self.start_qr(srv)
        h.set_nodes(srv, [h.node("QRSCP", qr.port, name="qr", retrieve=True, query=True)])
        srv.start()
        r = ossa_cli(srv, "retrieve", "qr", "--get", "--level", "STUDY", "--wait", study)
        # dcmqrscp sends each instance on the first context it accepted for the SOP class (Ossa
        # proposes uncompressed ones first) and has no codecs to convert a JPEG original: those
        # sub-operations fail at dcmqrscp. Ossa must take every other instance bit for bit and
        # report the failures in the job, not hide them. (C-MOVE, where dcmqrscp proposes the
        # file's own syntax, brings every instance: test_move_from_dcmqrscp.)
        plain = {uid: v for uid, v in sent.items() if v[1] not in h.ENCAPSULATED_TS}
        compressed = set(sent) - set(plain)
        self.assertTrue(compressed, "the study must hold compressed originals for this test")
        indexed = study_instance_uids(srv, study)
        self.assertEqual(indexed, set(plain), r.out + srv.log_text()[-2500:])
        for uid, (path, ts) in plain.items():
            stored = srv.stored_file(uid)
            self.assertEqual(h.meta_transfer_syntax(stored), ts)
            self.assertEqual(h.dataset_differences(read(path), read(stored)), [], uid)
        self.assertNotEqual(r.returncode, 0, r.out)
        self.assertRegex(r.out, r"failed, %d/%d done, %d failed" % (
            len(plain), len(sent), len(compressed)))
        self.assertIn("unable to convert", qr.log_text())
        # No association from dcmqrscp: everything came back on Ossa's own association.
        self.assertNotIn("association from QRSCP", srv.log_text())

    def test_query_dcmqrscp(self):
        srv = self.server(start=False)
        qr, study, sent, series = self.start_qr(srv)
        h.set_nodes(srv, [h.node("QRSCP", qr.port, name="qr", retrieve=True, query=True)])
        r = ossa_cli(srv, "query", "qr", "-k", "PatientID=QR001", "-k", "StudyDescription",
                     "-k", "AccessionNumber")
        self.assertEqual(r.returncode, 0, r.out + qr.log_text())
        answers = [json.loads(line) for line in r.stdout.decode("utf-8").splitlines()
                   if line.strip()]
        self.assertEqual([a["StudyInstanceUID"] for a in answers], [study], r.out)
        self.assertEqual(answers[0]["StudyDescription"], "REMOTE QR")
        self.assertEqual(answers[0]["AccessionNumber"], "ACC42")
        r = ossa_cli(srv, "query", "qr", "--level", "SERIES", "-k", "StudyInstanceUID=" + study,
                     "-k", "Modality")
        self.assertEqual(r.returncode, 0, r.out)
        answers = [json.loads(line) for line in r.stdout.decode("utf-8").splitlines()
                   if line.strip()]
        self.assertEqual({a["SeriesInstanceUID"] for a in answers}, set(series))
        self.assertEqual(sorted(a["Modality"] for a in answers), ["CT", "CT", "MR"])

    # --------------------------------------------------------------------------------------------
    # 2. Lossless JPEG encoding for a peer that accepts nothing else

    def assert_jpeg_lossless_copy(self, received, src, name):
        """`received` is in JPEG lossless SV1 and dcmdjpeg turns it back into `src`: same pixels,
        same attributes except Derivation Description, which DCMTK's JPEG encoder adds."""
        self.assertEqual(h.meta_transfer_syntax(received), h.JPEG_LOSSLESS_SV1, name)
        plain = self.tmp / ("%s-decompressed.dcm" % name)
        h.run(["dcmdjpeg", received, plain], check=True)
        original, decoded = read(src), read(plain)
        self.assertEqual(bytes(decoded.PixelData), bytes(original.PixelData),
                         "%s: the JPEG lossless copy does not decompress to the original pixels"
                         % name)
        self.assertEqual(h.dataset_differences(original, decoded,
                                               ignore=("PixelData", "DerivationDescription")),
                         [], name)

    def test_move_reencodes_to_jpeg_lossless_for_a_jpeg_only_peer(self):
        profile = self.tmp / "jpeg-only.cfg"
        profile.write_text(STORESCP_JPEG_ONLY)
        scp = self.helper(h.StoreScpProcess(self.tmp / "jpegonly", aet="JPEGONLY",
                                            options=["-xf", str(profile), "JpegOnly", "+B"]))
        srv = self.server(start=False)
        h.set_nodes(srv, [h.node("JPEGONLY", scp.port, move_destination=True)])
        srv.start()
        src = self.tmp / "ct16.dcm"
        ds = h.make_instance(src, patient_id="JL001", bits=16, rows=32, cols=32, seed=3)
        uid = str(ds.SOPInstanceUID)

        # The peer does take CT in JPEG lossless (and only that): storescu -xs gets through, a
        # plain (uncompressed-only) storescu does not.
        control = h.compress(src, self.tmp / "ct16-jpeg.dcm", "jpeg-lossless")
        res = h.storescu(scp.port, [control], aec="JPEGONLY", options=["-xs"])
        self.assertEqual(res.code(control), 0, res.output[-2000:])
        self.assert_jpeg_lossless_copy(scp.files()[uid], src, "control")
        res = h.storescu(scp.port, [src], aec="JPEGONLY")
        self.assertNotEqual(res.code(src), 0, res.output[-2000:])
        scp.clear()

        st = srv.store([src])
        self.assertEqual(st.code(src), 0, st.output[-2000:])
        self.assertEqual(srv.instance_rows(uid)[0][2], h.ExplicitVRLittleEndian)
        m = h.movescu(srv.port, ["StudyInstanceUID=" + ds.StudyInstanceUID], dest="JPEGONLY",
                      level="STUDY")
        detail = "%s\nOssa log:\n%s\nstorescp log:\n%s" % (m.summary(), srv.log_text()[-2000:],
                                                          scp.log_text()[-1500:])
        self.assertEqual(m.final_status, h.STATUS_SUCCESS, detail)
        self.assertEqual((m.completed, m.failed), (1, 0), detail)
        files = scp.files()
        self.assertEqual(set(files), {uid}, detail)
        self.assert_jpeg_lossless_copy(files[uid], src, "from-ossa")

    # --------------------------------------------------------------------------------------------
    # 3. A send job decompresses JPEG-LS for an implicit-VR-only peer

    def test_send_job_decompresses_jpeg_ls_for_an_implicit_only_peer(self):
        scp = self.helper(h.StoreScpProcess(self.tmp / "implicit", aet="IMPLICIT",
                                            options=["+xi", "+B"]))
        srv = self.server(start=False)
        h.set_nodes(srv, [h.node("IMPLICIT", scp.port, send=True)])
        srv.start()
        src = self.tmp / "ct12.dcm"
        ds = h.make_instance(src, patient_id="JLS001", bits=12, rows=32, cols=32, seed=5)
        uid = str(ds.SOPInstanceUID)
        jls = h.compress(src, self.tmp / "ct12-jpeg-ls.dcm", "jpeg-ls")
        st = srv.store([jls], options=["-xt"])
        self.assertEqual(st.code(jls), 0, st.output[-2000:])
        self.assertEqual(srv.instance_rows(uid)[0][2], h.JPEG_LS_LOSSLESS)

        r = ossa_cli(srv, "send", "IMPLICIT", "--level", "STUDY", "--wait", ds.StudyInstanceUID)
        detail = "%s\nOssa log:\n%s\nstorescp log:\n%s" % (r.out, srv.log_text()[-2000:],
                                                          scp.log_text()[-1500:])
        self.assertEqual(r.returncode, 0, detail)
        self.assertRegex(r.out, r"done, 1/1 done, 0 failed")
        files = scp.files()
        self.assertEqual(set(files), {uid}, detail)
        received = files[uid]
        self.assertEqual(h.meta_transfer_syntax(received), h.ImplicitVRLittleEndian)
        original, got = read(src), read(received)
        self.assertEqual(bytes(got.PixelData), bytes(original.PixelData),
                         "decompressed pixels differ from the uncompressed source")
        self.assertEqual(h.dataset_differences(original, got), [])


if __name__ == "__main__":
    h.main()
