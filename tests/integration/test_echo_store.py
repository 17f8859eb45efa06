"""C-ECHO and C-STORE: every storage SOP class, every transfer syntax stored bit for bit,
duplicates, refusals (missing UIDs, unparseable data, low disk space), allowed callers."""

import re
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402
from pydicom._uid_dict import UID_dictionary  # noqa: E402
from pydicom.uid import (  # noqa: E402
    DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
    ImplicitVRLittleEndian)

# Storage SOP classes pydicom lists that DCMTK 3.6.7 does not count as storage classes (they are not
# in its dcmAllStorageSOPClassUIDs; storescp +xa rejects them too): protocol, hanging protocol,
# color palette and implant template objects.
NOT_IN_DCMTK_STORAGE_LIST = {
    "1.2.840.10008.5.1.4.1.1.200.1", "1.2.840.10008.5.1.4.1.1.200.3",
    "1.2.840.10008.5.1.4.1.1.200.7", "1.2.840.10008.5.1.4.38.1", "1.2.840.10008.5.1.4.39.1",
    "1.2.840.10008.5.1.4.43.1", "1.2.840.10008.5.1.4.44.1", "1.2.840.10008.5.1.4.45.1",
}


def storage_sop_classes():
    """Non-retired storage SOP classes (name ends in 'Storage' or 'Storage - For Presentation/
    Processing') that DCMTK 3.6.7 knows."""
    out = []
    for uid, (name, kind, _info, retired, _kw) in UID_dictionary.items():
        if kind != "SOP Class" or retired:
            continue
        if not re.search(r"Storage( - For (Presentation|Processing))?$", name):
            continue
        if uid == h.MEDIA_STORAGE_DIRECTORY or uid in NOT_IN_DCMTK_STORAGE_LIST:
            continue
        out.append((uid, name))
    return sorted(out)


def write_pgm(path, rows, cols, seed=0):
    data = bytes(((i * 5 + seed + (i // cols) * 9) & 0xFF) for i in range(rows * cols))
    Path(path).write_bytes(b"P5\n%d %d\n255\n" % (cols, rows) + data)


def transfer_syntax_cases(folder, tag, study_uid, series_uid, testcase):
    """[(name, file, storescu options, expected transfer syntax)] for one round of sends."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = []

    def base(name, ts=ExplicitVRLittleEndian, bits=8, **kw):
        p = folder / ("%s-%s.dcm" % (tag, name))
        h.make_instance(p, patient_id="TS", patient_name="Transfer^Syntax", study_uid=study_uid,
                        series_uid=series_uid, rows=16, cols=16, bits=bits, transfer_syntax=ts,
                        SeriesDescription=name, **kw)
        return p

    cases.append(("implicit-le", base("implicit-le", ImplicitVRLittleEndian, 16), ["-xi"],
                  ImplicitVRLittleEndian))
    cases.append(("explicit-le", base("explicit-le", ExplicitVRLittleEndian, 16), ["-xe"],
                  ExplicitVRLittleEndian))
    cases.append(("explicit-be", base("explicit-be", ExplicitVRBigEndian, 16), ["-xb"],
                  ExplicitVRBigEndian))
    src = base("deflated-src", ExplicitVRLittleEndian, 16)
    cases.append(("deflated", h.compress(src, folder / ("%s-deflated.dcm" % tag), "deflated"),
                  ["-xd"], DeflatedExplicitVRLittleEndian))
    src = base("jpeg-baseline-src", ExplicitVRLittleEndian, 8)
    cases.append(("jpeg-baseline", h.compress(src, folder / ("%s-jpeg-baseline.dcm" % tag),
                                              "jpeg-baseline"), ["-xy"], h.JPEG_BASELINE))
    src = base("jpeg-lossless-src", ExplicitVRLittleEndian, 12)
    cases.append(("jpeg-lossless", h.compress(src, folder / ("%s-jpeg-lossless.dcm" % tag),
                                              "jpeg-lossless"), ["-xs"], h.JPEG_LOSSLESS_SV1))
    src = base("jpeg-ls-src", ExplicitVRLittleEndian, 12)
    cases.append(("jpeg-ls", h.compress(src, folder / ("%s-jpeg-ls.dcm" % tag), "jpeg-ls"),
                  ["-xt"], h.JPEG_LS_LOSSLESS))
    src = base("rle-src", ExplicitVRLittleEndian, 16)
    cases.append(("rle", h.compress(src, folder / ("%s-rle.dcm" % tag), "rle"), ["-xr"],
                  h.RLE_LOSSLESS))
    if h.have_tool("opj_compress"):
        pgm = folder / ("%s-j2k.pgm" % tag)
        j2k = folder / ("%s-j2k.j2k" % tag)
        write_pgm(pgm, 32, 32)
        h.run(["opj_compress", "-i", pgm, "-o", j2k, "-n", "3"], check=True, timeout=60)
        p = folder / ("%s-j2k.dcm" % tag)
        h.encapsulated_instance(p, [j2k.read_bytes()], h.JPEG_2000_LOSSLESS, patient_id="TS",
                                patient_name="Transfer^Syntax", study_uid=study_uid,
                                series_uid=series_uid, rows=32, cols=32, bits=8,
                                SeriesDescription="j2k")
        cases.append(("jpeg2000", p, ["-xv"], h.JPEG_2000_LOSSLESS))
    else:
        testcase.missing_tools.append("opj_compress (libopenjp2-tools): JPEG 2000 not tested")
    for name, ts, opt, stream in (
            ("mpeg2", h.MPEG2_MPML, "-xm", b"\x00\x00\x01\xb3\x01\x00\x10\x13\xff\xff\xe0\x18"
                                            b"\x00\x00\x01\xb8\x00\x08\x00\x00\x00\x00\x01\xb7"),
            ("mpeg4", h.MPEG4_HP41, "-xn", b"\x00\x00\x00\x01\x67\x64\x00\x29\xac\x2c\xa8\x0a"
                                            b"\x00\x00\x00\x01\x68\xee\x3c\xb0\x00\x00\x01\x65")):
        p = folder / ("%s-%s.dcm" % (tag, name))
        h.encapsulated_instance(p, [stream], ts, patient_id="TS", patient_name="Transfer^Syntax",
                                study_uid=study_uid, series_uid=series_uid,
                                sop_class=h.VIDEO_PHOTOGRAPHIC_STORAGE, modality="XC", rows=16,
                                cols=16, bits=8, samples=3,
                                PhotometricInterpretation="YBR_PARTIAL_420", NumberOfFrames=1,
                                FrameTime=40, SeriesDescription=name)
        # storescu proposes the video SOP class only for required contexts (-R)
        cases.append((name, p, ["-R", opt], ts))
    # The other compressed syntaxes DCMTK can propose. The SCP stores without decoding, so a few
    # bytes standing in for the codestream are enough.
    for name, ts, opt, sop_class in (
            ("jpeg-extended", "1.2.840.10008.1.2.4.51", "-xx", h.CT_IMAGE_STORAGE),
            ("jpeg2000-lossy", "1.2.840.10008.1.2.4.91", "-xw", h.CT_IMAGE_STORAGE),
            ("jpeg-ls-near-lossless", "1.2.840.10008.1.2.4.81", "-xu", h.CT_IMAGE_STORAGE),
            ("mpeg2-high-level", "1.2.840.10008.1.2.4.101", "-xh", h.VIDEO_PHOTOGRAPHIC_STORAGE),
            ("mpeg4-bd", "1.2.840.10008.1.2.4.103", "-xl", h.VIDEO_PHOTOGRAPHIC_STORAGE),
            ("mpeg4-2d", "1.2.840.10008.1.2.4.104", "-x2", h.VIDEO_PHOTOGRAPHIC_STORAGE),
            ("mpeg4-3d", "1.2.840.10008.1.2.4.105", "-x3", h.VIDEO_PHOTOGRAPHIC_STORAGE),
            ("mpeg4-stereo", "1.2.840.10008.1.2.4.106", "-xo", h.VIDEO_PHOTOGRAPHIC_STORAGE),
            ("hevc-main", "1.2.840.10008.1.2.4.107", "-x4", h.VIDEO_PHOTOGRAPHIC_STORAGE),
            ("hevc-main10", "1.2.840.10008.1.2.4.108", "-x5", h.VIDEO_PHOTOGRAPHIC_STORAGE)):
        p = folder / ("%s-%s.dcm" % (tag, name))
        h.encapsulated_instance(p, [b"\xff\x4f\xff\x51 stand-in codestream " + name.encode()],
                                ts, patient_id="TS", patient_name="Transfer^Syntax",
                                study_uid=study_uid, series_uid=series_uid, sop_class=sop_class,
                                modality="XC" if sop_class != h.CT_IMAGE_STORAGE else "CT",
                                rows=16, cols=16, bits=8, SeriesDescription=name)
        cases.append((name, p, ["-R", opt], ts))
    return cases


class EchoStoreTest(h.TempDirTestCase):

    def setUp(self):
        super().setUp()
        self.missing_tools = []

    def tearDown(self):
        for m in self.missing_tools:
            print("note: %s" % m, file=sys.stderr)

    def assert_stored_as_sent(self, srv, sent_file, expected_ts):
        ds = h.pydicom.dcmread(str(sent_file), stop_before_pixels=True)
        sop = str(ds.SOPInstanceUID)
        rows = srv.instance_rows(sop)
        self.assertEqual(len(rows), 1, "index rows for %s: %r" % (sent_file, rows))
        _uid, sop_class, ts, _rel, _size = rows[0]
        self.assertEqual(sop_class, str(ds.SOPClassUID))
        self.assertEqual(ts, expected_ts, "index transfer_syntax_uid")
        stored = srv.stored_file(sop)
        self.assertTrue(stored.is_file(), "stored file missing: %s" % stored)
        meta = h.pydicom.dcmread(str(stored), stop_before_pixels=True).file_meta
        self.assertEqual(str(meta.TransferSyntaxUID), expected_ts, "stored file's meta TS")
        self.assertEqual(str(meta.MediaStorageSOPInstanceUID), sop)
        self.assertEqual(str(meta.MediaStorageSOPClassUID), str(ds.SOPClassUID))
        self.assertEqual(stored.stat().st_size, _size, "index file_size vs the file")
        got = h.dataset_bytes(stored)
        want = h.expected_wire_bytes(sent_file)
        if expected_ts == DeflatedExplicitVRLittleEndian:
            self.assertEqual(h.inflate(got), h.inflate(h.dataset_bytes(sent_file)),
                             "deflated dataset differs after inflating")
        self.assertEqual(len(got), len(want), "dataset length differs for %s" % sent_file.name)
        if got != want:
            first = next(i for i in range(len(got)) if got[i] != want[i])
            self.fail("dataset bytes differ for %s (first difference at byte %d of %d)"
                      % (sent_file.name, first, len(got)))

    # ---------------------------------------------------------------------------------------------
    def test_echo(self):
        srv = self.server()
        r = h.run(["echoscu", "-v", "-aec", "OSSA", "127.0.0.1", srv.port])
        self.assertEqual(r.returncode, 0, r.out)
        self.assertIn("Received Echo Response (Success)", r.out)

    def test_every_storage_sop_class(self):
        srv = self.server()
        classes = storage_sop_classes()
        self.assertGreater(len(classes), 150)
        study, series = h.new_uid(), h.new_uid()
        files = {}
        for i, (uid, name) in enumerate(classes):
            image = "Image" in name or "Mammography" in name or "X-Ray" in name
            p = self.tmp / "sop" / ("%03d.dcm" % i)
            ds = h.make_dataset(patient_id="SOPCLASSES", patient_name="All^Classes",
                                study_uid=study, series_uid=series, sop_class=uid, modality="OT",
                                pixels=image, InstanceNumber=i + 1)
            h.write_part10(ds, p)
            files[str(p)] = (uid, name, str(ds.SOPInstanceUID))
        paths = sorted(files)
        not_ok = []
        for start in range(0, len(paths), 60):
            batch = paths[start:start + 60]
            res = srv.store(batch, options=["-R", "-nh"])
            for p in batch:
                if res.code(p) != 0:
                    uid, name, _ = files[p]
                    not_ok.append("%s (%s): %s" % (uid, name, res.status.get(p, "not sent")))
            if start == 0 and not res.status:
                self.fail("storescu sent nothing:\n%s" % res.output[-3000:])
        self.assertEqual(not_ok, [], "SOP classes not stored:\n" + "\n".join(not_ok))
        # all findable at IMAGE level, with their SOP class
        found = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series),
                          ("SOPInstanceUID", None), ("SOPClassUID", None)],
                         level="IMAGE", workdir=self.tmp)
        self.assertEqual(found.final_status, 0, found.output[-2000:])
        got = {str(d.SOPInstanceUID): str(d.get("SOPClassUID", "")) for d in found.datasets}
        want = {sop: uid for (uid, _n, sop) in files.values()}
        self.assertEqual(set(got), set(want), "IMAGE-level C-FIND results")
        wrong = {k: (got[k], want[k]) for k in want if got.get(k) != want[k]}
        self.assertEqual(wrong, {}, "SOPClassUID returned by C-FIND")
        # all in the index
        rows = dict(srv.query("SELECT sop_instance_uid, sop_class_uid FROM instances"))
        self.assertEqual(rows, want)
        self.assertEqual(srv.tmp_files(), [])

    def test_transfer_syntaxes_bit_for_bit(self):
        srv = self.server()
        study, series = h.new_uid(), h.new_uid()
        for round_name, force_required in (("own-option", False), ("required-only", True)):
            cases = transfer_syntax_cases(self.tmp / round_name, round_name, study, series, self)
            for name, path, options, ts in cases:
                with self.subTest(round=round_name, syntax=name):
                    opts = ["-R"] + options if force_required and "-R" not in options else options
                    res = srv.store([path], options=opts)
                    self.assertEqual(res.returncode, 0, res.output[-3000:])
                    self.assertEqual(res.code(path), 0, "store status for %s: %r\n%s"
                                     % (name, res.status, res.output[-2000:]))
                    for a, b in re.findall(r"Converting transfer syntax: (.*?) -> (.*)$",
                                           res.output, re.M):
                        self.assertEqual(a.strip(), b.strip(), "storescu converted the file; the "
                                         "server did not accept its transfer syntax")
                    self.assert_stored_as_sent(srv, path, ts)
                    found = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series),
                                      ("SOPInstanceUID", h.pydicom.dcmread(str(path)).SOPInstanceUID)],
                                     level="IMAGE", workdir=self.tmp)
                    self.assertEqual(len(found.datasets), 1, found)
        self.assertEqual(srv.tmp_files(), [])

    # ---------------------------------------------------------------------------------------------
    def _duplicate(self, policy):
        srv = self.server(duplicates=policy)
        study, series, sop = h.new_uid(), h.new_uid(), h.new_uid()
        first = self.tmp / "first.dcm"
        second = self.tmp / "second.dcm"
        h.make_instance(first, patient_id="DUP", study_uid=study, series_uid=series, sop_uid=sop,
                        InstanceNumber=1, ImageComments="first version")
        h.make_instance(second, patient_id="DUP", study_uid=study, series_uid=series, sop_uid=sop,
                        InstanceNumber=2, ImageComments="second version", rows=12, cols=12)
        r1 = srv.store([first])
        self.assertEqual(r1.code(first), 0, r1.output)
        r2 = srv.store([second])
        self.assertIsNotNone(r2.code(second), r2.output)
        self.assertFalse(0xA000 <= r2.code(second) <= 0xCFFF,
                         "a duplicate should not be refused: 0x%04X" % r2.code(second))
        rows = srv.query("SELECT count(*) FROM instances WHERE sop_instance_uid = ?", (sop,))
        self.assertEqual(rows[0][0], 1, "one index row per SOP Instance UID")
        self.assertEqual(srv.query("SELECT count(*) FROM instances")[0][0], 1)
        stored = srv.stored_file(sop)
        expect_file = second if policy == "overwrite" else first
        self.assertEqual(h.dataset_bytes(stored), h.dataset_bytes(expect_file),
                         "stored content should be the %s version"
                         % ("second" if policy == "overwrite" else "first"))
        found = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series),
                          ("SOPInstanceUID", sop), ("InstanceNumber", None)],
                         level="IMAGE", workdir=self.tmp)
        self.assertEqual(len(found.datasets), 1, found.output[-2000:])
        self.assertEqual(int(found.datasets[0].InstanceNumber),
                         2 if policy == "overwrite" else 1)
        # exactly one file for the instance remains in storage (no orphan of the replaced one)
        files = [p for p in srv.storage_path.rglob("*") if p.is_file()
                 and "tmp" not in p.relative_to(srv.storage_path).parts]
        dicom_files = [p for p in files if p.read_bytes()[128:132] == b"DICM"]
        self.assertEqual(len(dicom_files), 1, "files in storage: %s" % dicom_files)
        self.assertEqual(srv.tmp_files(), [])

    def test_duplicate_overwrite(self):
        self._duplicate("overwrite")

    def test_duplicate_keep(self):
        self._duplicate("keep")

    # ---------------------------------------------------------------------------------------------
    def test_missing_study_uid_storescu(self):
        srv = self.server()
        bad = self.tmp / "nostudy.dcm"
        good = self.tmp / "good.dcm"
        ds = h.make_dataset(patient_id="BAD", omit=("StudyInstanceUID",))
        h.write_part10(ds, bad)
        h.make_instance(good, patient_id="GOOD")
        res = srv.store([bad, good], options=["-nh"], debug=True)
        self.assertEqual(res.code(bad), 0xA900, "status for a dataset without StudyInstanceUID: %r"
                         % (res.status.get(str(bad)),))
        self.assertEqual(res.code(good), 0, "the next store on the association should succeed")
        self.assertEqual(srv.instance_rows(str(ds.SOPInstanceUID)), [])
        self.assertEqual(srv.tmp_files(), [])
        self.assertTrue(srv.echo())

    def test_missing_uids_raw(self):
        """Datasets without Study/Series/SOP Instance UID, sent by a raw client (DCMTK's tools
        refuse to send a dataset without SOP Instance UID): status 0xA900."""
        srv = self.server()
        for missing in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            with self.subTest(missing=missing):
                ds = h.make_dataset(patient_id="RAW", omit=(missing,))
                sop = ds.get("SOPInstanceUID") or h.new_uid()
                status = h.raw_store(srv.port, h.CT_IMAGE_STORAGE, str(sop), h.encode_dataset(ds))
                self.assertEqual(status, 0xA900, "missing %s -> 0x%04X" % (missing, status))
                self.assertEqual(srv.instance_rows(str(sop)), [])
        self.assertEqual(srv.query("SELECT count(*) FROM instances")[0][0], 0)
        self.assertEqual(srv.tmp_files(), [])
        self.assertTrue(srv.echo())

    def test_unparseable_dataset(self):
        srv = self.server()
        sop = h.new_uid()
        ds = h.make_dataset(patient_id="JUNK", sop_uid=sop)
        good = h.encode_dataset(ds)
        # a valid start, then an element whose length runs far past the end of the data
        junk = good[:40] + struct.pack("<HH2sHI", 0x0010, 0x0010, b"OB", 0, 0x7FFFFFF0) + b"xx"
        try:
            status = h.raw_store(srv.port, h.CT_IMAGE_STORAGE, sop, junk)
        except ConnectionError as e:
            self.fail("server aborted the association instead of answering with a failure "
                      "status: %s" % e)
        self.assertTrue(0xC000 <= status <= 0xCFFF, "unparseable data -> 0x%04X" % status)
        self.assertEqual(srv.instance_rows(sop), [])
        self.assertEqual(srv.tmp_files(), [])
        self.assertTrue(srv.echo())
        # and the server still stores a good one
        self.assertEqual(h.raw_store(srv.port, h.CT_IMAGE_STORAGE, sop, good), 0)
        self.assertEqual(len(srv.instance_rows(sop)), 1)

    def test_aborted_store_leaves_no_temp_file(self):
        srv = self.server()
        ds = h.make_dataset(patient_id="ABORT", rows=256, cols=256, bits=16)
        data = h.encode_dataset(ds)
        assoc = h.RawAssociation(srv.port, h.CT_IMAGE_STORAGE)
        assoc.msg_id = 1
        cmd = h._command([(0x0002, h._uid(h.CT_IMAGE_STORAGE)), (0x0100, struct.pack("<H", 1)),
                          (0x0110, struct.pack("<H", 1)), (0x0700, struct.pack("<H", 0)),
                          (0x0800, struct.pack("<H", 0)),
                          (0x1000, h._uid(str(ds.SOPInstanceUID)))])
        assoc._send_pdvs(cmd, True)
        # half the data set, never the last fragment, then A-ABORT
        half = data[:len(data) // 2]
        assoc._send_pdu(0x04, struct.pack(">IBB", len(half[:8000]) + 2, 1, 0) + half[:8000])
        assoc.abort()
        import time
        deadline = time.monotonic() + 10
        while srv.tmp_files() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(srv.tmp_files(), [], "temp file left after an aborted C-STORE")
        self.assertEqual(srv.instance_rows(str(ds.SOPInstanceUID)), [])
        self.assertTrue(srv.echo())

    # ---------------------------------------------------------------------------------------------
    def test_allowed_callers(self):
        srv = self.server(allowed_callers=["GOODSCU", "OTHER"])
        f = self.tmp / "a.dcm"
        ds = h.make_instance(f, patient_id="CALLER")
        bad = srv.store([f], aet="BADSCU")
        self.assertNotEqual(bad.returncode, 0, bad.output)
        self.assertTrue(bad.association_rejected, bad.output[-2000:])
        self.assertEqual(srv.instance_rows(str(ds.SOPInstanceUID)), [])
        self.assertFalse(srv.echo(aet="BADSCU"))
        good = srv.store([f], aet="GOODSCU")
        self.assertEqual(good.returncode, 0, good.output[-2000:])
        self.assertEqual(good.code(f), 0)
        self.assertEqual(len(srv.instance_rows(str(ds.SOPInstanceUID))), 1)
        self.assertTrue(srv.echo(aet="OTHER"))

    def test_wrong_called_aet_rejected(self):
        srv = self.server()
        self.assertFalse(srv.echo(aec="NOTOSSA"), "association to a wrong called AE accepted")

    def test_configured_aet(self):
        srv = self.server(aet="MYPACS")
        self.assertTrue(srv.echo(aec="MYPACS"))
        self.assertFalse(srv.echo(aec="OSSA"), "server.aet: MYPACS still answers to OSSA")
        f = self.tmp / "a.dcm"
        h.make_instance(f)
        self.assertEqual(srv.store([f]).code(f), 0)

    def test_min_free_mb_refusal(self):
        srv = self.server(min_free_mb=100000000)
        f = self.tmp / "a.dcm"
        ds = h.make_instance(f, patient_id="FULL")
        res = srv.store([f], debug=True)
        self.assertEqual(res.code(f), 0xA700, "status with min_free_mb over the free space: %r"
                         % (res.status.get(str(f)),))
        self.assertEqual(srv.instance_rows(str(ds.SOPInstanceUID)), [])
        self.assertEqual(srv.tmp_files(), [])
        self.assertTrue(srv.echo(), "C-ECHO must still work when storage is refused")
        # C-FIND still answers
        found = srv.find([("PatientID", None)], level="PATIENT", model="P", workdir=self.tmp)
        self.assertEqual(found.final_status, 0, found.output[-2000:])

    # ---------------------------------------------------------------------------------------------
    # server.* settings that shape the network side

    def test_bind_address(self):
        """bind: 127.0.0.1 listens there only: 127.0.0.2 (also loopback) gets no answer."""
        srv = self.server()
        self.assertTrue(srv.echo())
        r = h.run(["echoscu", "-aec", "OSSA", "-to", "3", "-ta", "3", "127.0.0.2", srv.port],
                  timeout=30)
        self.assertNotEqual(r.returncode, 0, "server answered on 127.0.0.2 although bound to "
                            "127.0.0.1:\n" + r.out)

    def test_silent_connection_does_not_block_others(self):
        """A TCP connection that never sends an A-ASSOCIATE-RQ (port scanner, stuck peer) must not
        hold up other callers."""
        import socket
        import time
        srv = self.server(acse_timeout=30)
        silent = socket.create_connection(("127.0.0.1", srv.port))
        try:
            time.sleep(0.3)
            t0 = time.monotonic()
            ok = srv.echo(timeout=30)
            took = time.monotonic() - t0
            self.assertTrue(ok, "C-ECHO failed (after %.1f s) while a silent connection was open"
                            % took)
            self.assertLess(took, 5, "C-ECHO took %.1f s while a silent connection was open" % took)
        finally:
            silent.close()

    def test_acse_timeout_drops_silent_connection(self):
        import socket
        import time
        srv = self.server(acse_timeout=2)
        silent = socket.create_connection(("127.0.0.1", srv.port))
        silent.settimeout(20)
        t0 = time.monotonic()
        try:
            data = silent.recv(64)
        except (ConnectionResetError, socket.timeout) as e:
            data = e
        took = time.monotonic() - t0
        silent.close()
        self.assertNotIsInstance(data, socket.timeout, "silent connection still open after 20 s")
        self.assertLess(took, 10, "silent connection dropped only after %.1f s" % took)
        self.assertTrue(srv.echo())

    def test_dimse_timeout_aborts_idle_association(self):
        import socket
        import time
        srv = self.server(dimse_timeout=2)
        assoc = h.RawAssociation(srv.port, h.CT_IMAGE_STORAGE)
        assoc.sock.settimeout(20)
        t0 = time.monotonic()
        try:
            pdu_type, _ = assoc._recv_pdu()
        except ConnectionError:
            pdu_type = None
        except socket.timeout:
            self.fail("idle association still open after 20 s with dimse_timeout 2")
        took = time.monotonic() - t0
        assoc.sock.close()
        self.assertIn(pdu_type, (0x07, None), "expected A-ABORT or close, got PDU 0x%02x"
                      % (pdu_type or 0))
        self.assertLess(took, 10)
        self.assertTrue(srv.echo())

    def test_max_pdu_announced(self):
        srv = self.server(max_pdu=16384)
        assoc = h.RawAssociation(srv.port, h.CT_IMAGE_STORAGE)
        try:
            self.assertEqual(assoc.max_pdu, 16384, "maximum length in the A-ASSOCIATE-AC")
            # a dataset much larger than the PDU still arrives intact
            ds = h.make_dataset(patient_id="PDU", rows=300, cols=300, bits=16)
            data = h.encode_dataset(ds)
            self.assertEqual(assoc.store(h.CT_IMAGE_STORAGE, str(ds.SOPInstanceUID), data), 0)
        finally:
            assoc.release()
        self.assertEqual(h.dataset_bytes(srv.stored_file(str(ds.SOPInstanceUID))), data)

    def test_max_associations(self):
        import time
        srv = self.server(max_associations=2)
        a1 = h.RawAssociation(srv.port, h.CT_IMAGE_STORAGE, aet="HOLD1")
        a2 = h.RawAssociation(srv.port, h.CT_IMAGE_STORAGE, aet="HOLD2")
        try:
            r = h.run(["echoscu", "-v", "-aec", "OSSA", "-to", "5", "-ta", "5", "127.0.0.1",
                       srv.port], timeout=30)
            self.assertNotEqual(r.returncode, 0, "a third association was accepted:\n" + r.out)
            self.assertIn("Association Rejected", r.out)
        finally:
            a1.release()
            a2.release()
        deadline = time.monotonic() + 5
        while not srv.echo() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertTrue(srv.echo(), "associations are accepted again after the others ended")

    def test_shutdown_timeout_bounds_sigterm(self):
        import time
        srv = self.server(shutdown_timeout=2, dimse_timeout=120)
        assoc = h.RawAssociation(srv.port, h.CT_IMAGE_STORAGE, aet="STUCK")
        try:
            t0 = time.monotonic()
            srv.proc.send_signal(h.signal.SIGTERM)
            try:
                srv.proc.wait(30)
            except h.subprocess.TimeoutExpired:
                self.fail("server still running 30 s after SIGTERM with an idle association "
                          "(shutdown_timeout 2)")
            took = time.monotonic() - t0
            self.assertLess(took, 10, "SIGTERM took %.1f s with shutdown_timeout 2" % took)
        finally:
            assoc.abort()
            srv._close_log()

    def test_log_level_error_is_quiet(self):
        srv = self.server(log_level="error")
        f = self.tmp / "q.dcm"
        h.make_instance(f)
        self.assertEqual(srv.store([f]).code(f), 0)
        self.assertEqual(srv.stop(), 0)
        noisy = [l for l in srv.log_text().splitlines()
                 if re.search(r"\.\d{3} +(INFO|DEBUG|WARN)", l)]
        self.assertEqual(noisy, [], "lines below error level with log.level: error")

    def test_large_instance_bit_for_bit(self):
        srv = self.server()
        f = self.tmp / "big.dcm"
        h.make_instance(f, patient_id="BIG", rows=1024, cols=1024, bits=16)
        res = srv.store([f])
        self.assertEqual(res.code(f), 0, res.output[-2000:])
        self.assert_stored_as_sent(srv, f, ExplicitVRLittleEndian)

    def test_instance_beyond_the_in_memory_limit(self):
        # Datasets over 256 kB continue into their file as they arrive (dicom/received_instance.h,
        # store_service.cpp): still bit for bit, and indexed from the file.
        srv = self.server()
        f = self.tmp / "bigger.dcm"
        h.make_instance(f, patient_id="BIGGER", rows=2048, cols=1536, bits=16)
        self.assertGreater(f.stat().st_size, 5 << 20)
        res = srv.store([f])
        self.assertEqual(res.code(f), 0, res.output[-2000:])
        self.assert_stored_as_sent(srv, f, ExplicitVRLittleEndian)
        r = srv.find([("PatientID", "BIGGER")], level="STUDY", workdir=self.tmp)
        self.assertEqual(len(r.datasets), 1, r.output[-1500:])
        self.assertEqual(srv.tmp_files(), [])


if __name__ == "__main__":
    h.main()
