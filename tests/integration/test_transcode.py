"""Outgoing transfer syntax of C-MOVE and C-GET sub-operations.

Ossa proposes, per SOP class, the stored transfer syntax and explicit/implicit VR little endian. A
peer that accepts the stored syntax gets the file as stored (data set identical to what was
received); a peer that accepts only uncompressed syntaxes gets JPEG baseline / JPEG lossless /
JPEG-LS / RLE originals decompressed by DCMTK's codecs (and big endian or deflated ones converted)
in little endian. What cannot be decompressed (JPEG 2000, MPEG-2: Debian's DCMTK has no decoder)
fails as a sub-operation, and the others still go.

Destinations: storescp +xi (implicit VR little endian only), storescp with its default (the three
uncompressed syntaxes) and storescp +xa (everything), all with +B (bit-preserving).
"""

import shutil
import struct
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402
from pydicom.uid import (  # noqa: E402
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

UNCOMPRESSED_LE = {ImplicitVRLittleEndian, ExplicitVRLittleEndian}
MPEG2_STREAM = (b"\x00\x00\x01\xb3\x01\x00\x10\x13\xff\xff\xe0\x18"
                b"\x00\x00\x01\xb8\x00\x08\x00\x00\x00\x00\x01\xb7")


SYNTAX_NAMES = {"LittleEndianImplicit": ImplicitVRLittleEndian,
                "LittleEndianExplicit": ExplicitVRLittleEndian,
                "BigEndianExplicit": ExplicitVRBigEndian}


def proposed_syntaxes(output, abstract_syntax):
    """Transfer syntaxes a DCMTK tool run with -d proposed for one abstract syntax (its name as
    DCMTK prints it, e.g. CTImageStorage), as UIDs (names unknown here are kept as printed)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.strip().endswith("Abstract Syntax: =" + abstract_syntax):
            out = []
            in_list = False
            for follow in lines[i + 1:]:
                text = follow[2:].strip() if follow.startswith("D:") else follow.strip()
                if text.startswith("Proposed Transfer Syntax"):
                    in_list = True
                elif in_list and text.startswith("="):
                    out.append(SYNTAX_NAMES.get(text[1:], text[1:]))
                elif in_list or text.startswith("Context ID"):
                    break
            return out
    return []


def write_pgm(path, rows, cols, seed=0):
    data = bytes(((i * 5 + seed + (i // cols) * 9) & 0xFF) for i in range(rows * cols))
    Path(path).write_bytes(b"P5\n%d %d\n255\n" % (cols, rows) + data)


class Case:
    """One instance of the transcoding study.

    sent: the file given to storescu (stored in `ts`); source: the uncompressed explicit-LE file it
    was made from (None when there is none); expected_pixels: little-endian pixel bytes a peer
    must get after decompression (None: Ossa cannot decompress it, the sub-operation fails)."""

    def __init__(self, name, sent, options, ts, source=None, expected_pixels=None,
                 decodable=True):
        self.name = name
        self.sent = Path(sent)
        self.options = list(options)
        self.ts = ts
        self.source = source
        self.expected_pixels = expected_pixels
        self.decodable = decodable
        ds = h.pydicom.dcmread(str(self.sent), stop_before_pixels=True)
        self.sop_uid = str(ds.SOPInstanceUID)
        self.sop_class = str(ds.SOPClassUID)


def build_cases(folder, study_uid, patient_id, missing_tools):
    """The study: one series per case."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    seed = [0]

    def source(name, bits, rows=32, cols=32, frames=1, ts=ExplicitVRLittleEndian, **kw):
        seed[0] += 1
        p = folder / ("%s-src.dcm" % name)
        ds = h.make_dataset(patient_id=patient_id, patient_name="Transcode^Test",
                            study_uid=study_uid, rows=rows, cols=cols, bits=bits, seed=seed[0],
                            SeriesDescription=name, SeriesNumber=len(cases) + 1,
                            big_endian=(ts == ExplicitVRBigEndian), **kw)
        if frames > 1:
            ds.NumberOfFrames = frames
            ds.PixelData = h.pixel_bytes(rows, cols, bits, frames=frames, seed=seed[0],
                                         big_endian=(ts == ExplicitVRBigEndian))
        h.write_part10(ds, p, ts)
        return p

    def le_pixels(path):
        ds = h.pydicom.dcmread(str(path))
        data = bytes(ds.PixelData)
        if ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian and ds.BitsAllocated == 16:
            n = len(data) // 2
            data = struct.pack("<%dH" % n, *struct.unpack(">%dH" % n, data))
        return data

    # lossy JPEG baseline: the expected pixels are DCMTK's own decompression of the file sent
    src = source("jpeg-baseline", 8)
    sent = h.compress(src, folder / "jpeg-baseline.dcm", "jpeg-baseline")
    ref = folder / "jpeg-baseline-dcmdjpeg.dcm"
    h.run(["dcmdjpeg", sent, ref], check=True)
    cases.append(Case("jpeg-baseline", sent, ["-xy"], h.JPEG_BASELINE, None, le_pixels(ref)))
    for name, bits, kind, opt, ts, frames in (
            ("jpeg-lossless", 12, "jpeg-lossless", "-xs", h.JPEG_LOSSLESS_SV1, 1),
            ("jpeg-lossless-16", 16, "jpeg-lossless", "-xs", h.JPEG_LOSSLESS_SV1, 1),
            ("jpeg-ls", 12, "jpeg-ls", "-xt", h.JPEG_LS_LOSSLESS, 1),
            ("jpeg-ls-multiframe", 12, "jpeg-ls", "-xt", h.JPEG_LS_LOSSLESS, 3),
            ("rle", 16, "rle", "-xr", h.RLE_LOSSLESS, 1),
            ("rle-8bit", 8, "rle", "-xr", h.RLE_LOSSLESS, 1),
            ("deflated", 16, "deflated", "-xd", DeflatedExplicitVRLittleEndian, 1)):
        src = source(name, bits, frames=frames)
        sent = h.compress(src, folder / ("%s.dcm" % name), kind)
        cases.append(Case(name, sent, [opt], ts, src, le_pixels(src)))
    src = source("explicit-le", 16)
    cases.append(Case("explicit-le", src, ["-xe"], ExplicitVRLittleEndian, src, le_pixels(src)))
    src = source("explicit-be", 16, ts=ExplicitVRBigEndian)
    cases.append(Case("explicit-be", src, ["-xb"], ExplicitVRBigEndian, src, le_pixels(src)))
    # not decodable with Debian's DCMTK
    j2k_p = folder / "jpeg2000.dcm"
    if h.have_tool("opj_compress"):
        pgm, j2k = folder / "j2k.pgm", folder / "j2k.j2k"
        write_pgm(pgm, 32, 32)
        h.run(["opj_compress", "-i", pgm, "-o", j2k, "-n", "3"], check=True, timeout=60)
        stream = j2k.read_bytes()
    else:
        missing_tools.append("opj_compress: a stand-in JPEG 2000 codestream is used")
        stream = b"\xff\x4f\xff\x51 stand-in codestream"
    h.encapsulated_instance(j2k_p, [stream], h.JPEG_2000_LOSSLESS, patient_id=patient_id,
                            patient_name="Transcode^Test", study_uid=study_uid, rows=32, cols=32,
                            bits=8, SeriesDescription="jpeg2000", SeriesNumber=len(cases) + 1)
    cases.append(Case("jpeg2000", j2k_p, ["-xv"], h.JPEG_2000_LOSSLESS, decodable=False))
    mpeg_p = folder / "mpeg2.dcm"
    h.encapsulated_instance(mpeg_p, [MPEG2_STREAM], h.MPEG2_MPML, patient_id=patient_id,
                            patient_name="Transcode^Test", study_uid=study_uid,
                            sop_class=h.VIDEO_PHOTOGRAPHIC_STORAGE, modality="XC", rows=16,
                            cols=16, bits=8, samples=3,
                            PhotometricInterpretation="YBR_PARTIAL_420", NumberOfFrames=1,
                            FrameTime=40, SeriesDescription="mpeg2", SeriesNumber=len(cases) + 1)
    cases.append(Case("mpeg2", mpeg_p, ["-R", "-xm"], h.MPEG2_MPML, decodable=False))
    return cases


class TranscodeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.require_ossa_bin()
        cls.tmp = Path(tempfile.mkdtemp(prefix="ossa-it-transcode-"))
        cls.scps = {}
        cls.missing_tools = []
        try:
            cls._set_up()
        except BaseException:
            cls._tear_down()
            raise

    @classmethod
    def _set_up(cls):
        cls.scps["IMPLICIT"] = h.StoreScpProcess(cls.tmp / "implicit", aet="IMPLICIT",
                                                 options=["+xi", "+B"]).start()
        cls.scps["UNCOMPR"] = h.StoreScpProcess(cls.tmp / "uncompr", aet="UNCOMPR",
                                                options=["+B"]).start()
        cls.scps["ANYTS"] = h.StoreScpProcess(cls.tmp / "anyts", aet="ANYTS",
                                              options=["+xa", "+B"]).start()
        cls.srv = h.OssaServer(cls.tmp / "srv")
        h.set_nodes(cls.srv, [h.node(aet, scp.port) for aet, scp in cls.scps.items()])
        cls.srv.start()
        cls.study_uid = h.new_uid()
        cls.cases = build_cases(cls.tmp / "data", cls.study_uid, "TC001", cls.missing_tools)
        cls.by_uid = {c.sop_uid: c for c in cls.cases}
        for c in cls.cases:
            res = cls.srv.store([c.sent], options=c.options)
            if res.code(str(c.sent)) != 0:
                raise AssertionError("could not store %s with %s:\n%s\nlog:\n%s" % (
                    c.name, c.options, res.output[-3000:], cls.srv.log_text()[-3000:]))

    @classmethod
    def tearDownClass(cls):
        for m in cls.missing_tools:
            print("note: %s" % m, file=sys.stderr)
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
    def describe(self, r):
        return "%s\n--- output (tail) ---\n%s" % (r.summary(), r.output[-2500:])

    def study_keys(self):
        return [("StudyInstanceUID", self.study_uid)]

    def image_keys(self, case):
        ds = h.pydicom.dcmread(str(case.sent), stop_before_pixels=True)
        return [("StudyInstanceUID", self.study_uid),
                ("SeriesInstanceUID", str(ds.SeriesInstanceUID)),
                ("SOPInstanceUID", case.sop_uid)]

    def move(self, dest, keys, level="STUDY"):
        return h.movescu(self.srv.port, keys, dest, level=level)

    def get(self, options, keys, level="STUDY"):
        outdir = Path(tempfile.mkdtemp(prefix="get-", dir=self.tmp))
        return h.getscu(self.srv.port, keys, outdir, level=level, options=options)

    def assert_decompressed(self, files, allowed_ts, msg, as_stored_ok=()):
        """Every decodable case arrived in an allowed syntax (or, for syntaxes in as_stored_ok
        that the peer accepts, in its stored syntax) with the expected pixels and the original's
        other attributes; nothing else arrived."""
        want = {c.sop_uid for c in self.cases if c.decodable}
        got = set(k for k in files if isinstance(k, str))
        names = lambda uids: sorted(self.by_uid[u].name if u in self.by_uid else u for u in uids)
        self.assertEqual(names(got), names(want), "%s: instances received" % msg)
        for uid, path in files.items():
            c = self.by_uid[uid]
            with self.subTest(case=c.name, via=msg):
                received = h.pydicom.dcmread(str(path))
                ts = str(received.file_meta.TransferSyntaxUID)
                ok = set(allowed_ts) | ({c.ts} if c.ts in as_stored_ok else set())
                self.assertIn(ts, ok, "%s arrived in %s" % (c.name, ts))
                if ts == c.ts:
                    # sent as stored: data set identical to what Ossa received
                    self.assertEqual(h.dataset_bytes(path),
                                     h.dataset_bytes(self.srv.stored_file(uid)),
                                     "%s sent as stored but its data set differs" % c.name)
                original = h.pydicom.dcmread(str(c.sent))
                self.assertEqual(h.dataset_differences(original, received, ignore=["PixelData"]),
                                 [], "%s: attributes changed by the conversion" % c.name)
                pixels = bytes(received.PixelData)
                if ts == ExplicitVRBigEndian and received.BitsAllocated == 16:
                    n = len(pixels) // 2
                    pixels = struct.pack("<%dH" % n, *struct.unpack(">%dH" % n, pixels))
                if len(pixels) == len(c.expected_pixels) + 1:  # odd length padded
                    pixels = pixels[:-1]
                self.assertEqual(len(pixels), len(c.expected_pixels),
                                 "%s: decompressed pixel data length" % c.name)
                self.assertTrue(pixels == c.expected_pixels,
                                "%s: decompressed pixels differ from %s" % (
                                    c.name, "the uncompressed source" if c.source else
                                    "DCMTK's dcmdjpeg output"))

    # tests ---------------------------------------------------------------------------------------
    def test_stored_in_their_transfer_syntax(self):
        for c in self.cases:
            with self.subTest(case=c.name):
                rows = self.srv.instance_rows(c.sop_uid)
                self.assertEqual(len(rows), 1)
                self.assertEqual(rows[0][2], c.ts, "index transfer_syntax_uid of %s" % c.name)
                self.assertEqual(h.meta_transfer_syntax(self.srv.stored_file(c.sop_uid)), c.ts)

    def test_move_to_implicit_only_destination(self):
        r = self.move("IMPLICIT", self.study_keys())
        failed = {c.sop_uid for c in self.cases if not c.decodable}
        ok = len(self.cases) - len(failed)
        self.assertEqual(r.final_status, h.STATUS_SUBOPS_WARNING, self.describe(r))
        self.assertEqual((r.completed, r.failed, r.warning), (ok, len(failed), 0),
                         self.describe(r))
        self.assertEqual(sorted(self.by_uid[u].name if u in self.by_uid else u
                                for u in r.failed_uids),
                         sorted(self.by_uid[u].name for u in failed),
                         "Failed SOP Instance UID List\n" + self.describe(r))
        self.assert_decompressed(self.scps["IMPLICIT"].files(), {ImplicitVRLittleEndian},
                                 "C-MOVE to storescp +xi")
        self.assertTrue(self.srv.echo())

    def test_move_to_uncompressed_destination(self):
        r = self.move("UNCOMPR", self.study_keys())
        failed = {c.sop_uid for c in self.cases if not c.decodable}
        self.assertEqual(r.final_status, h.STATUS_SUBOPS_WARNING, self.describe(r))
        self.assertEqual((r.completed, r.failed), (len(self.cases) - len(failed), len(failed)),
                         self.describe(r))
        self.assertEqual({u for u in r.failed_uids}, failed, self.describe(r))
        # "sent in little endian": explicit or implicit; the explicit-LE original as stored
        self.assert_decompressed(self.scps["UNCOMPR"].files(), UNCOMPRESSED_LE,
                                 "C-MOVE to storescp (uncompressed)",
                                 as_stored_ok={ExplicitVRBigEndian})

    def test_move_to_destination_accepting_everything(self):
        """The peer accepts the stored syntax: every file goes as stored, byte for byte."""
        r = self.move("ANYTS", self.study_keys())
        self.assertEqual(r.final_status, h.STATUS_SUCCESS, self.describe(r))
        self.assertEqual((r.completed, r.failed, r.warning), (len(self.cases), 0, 0),
                         self.describe(r))
        files = self.scps["ANYTS"].files()
        self.assertEqual(sorted(self.by_uid[u].name for u in files if u in self.by_uid),
                         sorted(c.name for c in self.cases))
        for c in self.cases:
            if c.ts == ExplicitVRBigEndian:
                continue  # test_big_endian_as_stored
            with self.subTest(case=c.name):
                self.assert_as_stored(files[c.sop_uid], c)

    def assert_as_stored(self, path, c):
        self.assertEqual(h.meta_transfer_syntax(path), c.ts,
                         "%s not sent in its stored syntax" % c.name)
        self.assertEqual(h.dataset_bytes(path), h.dataset_bytes(self.srv.stored_file(c.sop_uid)),
                         "%s: data set not identical to the stored one" % c.name)

    def test_big_endian_as_stored(self):
        """Explicit VR big endian is a stored syntax like any other: proposed to the peer, and
        sent as stored when accepted (storescp +xa accepts it)."""
        for c in self.cases:
            if c.ts != ExplicitVRBigEndian:
                continue
            r = self.move("ANYTS", self.image_keys(c), level="IMAGE")
            self.assertEqual(r.final_status, h.STATUS_SUCCESS, self.describe(r))
            files = self.scps["ANYTS"].files()
            self.assertEqual(list(files), [c.sop_uid])
            self.assert_as_stored(files[c.sop_uid], c)

    def test_move_single_undecodable_instance(self):
        for c in self.cases:
            if c.decodable:
                continue
            with self.subTest(case=c.name):
                self.scps["IMPLICIT"].clear()
                r = self.move("IMPLICIT", self.image_keys(c), level="IMAGE")
                self.assertEqual(r.final_status, h.STATUS_SUBOPS_ALL_FAILED, self.describe(r))
                self.assertEqual((r.completed, r.failed), (0, 1), self.describe(r))
                self.assertEqual(r.failed_uids, [c.sop_uid], self.describe(r))
                self.assertEqual(self.scps["IMPLICIT"].files(), {})
                # C-GET with one uncompressed syntax: the same
                g, _ = self.single_syntax_get(self.image_keys(c), level="IMAGE")
                self.assertEqual(g.final_status, h.STATUS_SUBOPS_ALL_FAILED, self.describe(g))
                self.assertEqual((g.completed, g.failed), (0, 1), self.describe(g))
                self.assertEqual(g.files, {})
                # and it goes as stored where the syntax is accepted
                self.scps["ANYTS"].clear()
                r = self.move("ANYTS", self.image_keys(c), level="IMAGE")
                self.assertEqual(r.final_status, h.STATUS_SUCCESS, self.describe(r))
                self.assertEqual(list(self.scps["ANYTS"].files()), [c.sop_uid])
        self.assertTrue(self.srv.echo())

    def single_syntax_get(self, keys, level="STUDY"):
        """getscu +xi: meant to propose implicit VR little endian only for the storage contexts,
        but DCMTK 3.6.7's getscu proposes explicit VR little endian only with it. Either way one
        uncompressed syntax: returns (result, that syntax as getscu proposed it for CT)."""
        r = self.get(["+xi", "+B"], keys, level=level)
        proposed = proposed_syntaxes(r.output, "CTImageStorage")
        self.assertEqual(len(proposed), 1, "getscu +xi proposed %r for CT" % proposed)
        self.assertIn(proposed[0], UNCOMPRESSED_LE)
        return r, proposed[0]

    def test_get_single_uncompressed_syntax(self):
        r, ts = self.single_syntax_get(self.study_keys())
        failed = {c.sop_uid for c in self.cases if not c.decodable}
        self.assertEqual(r.final_status, h.STATUS_SUBOPS_WARNING, self.describe(r))
        self.assertEqual((r.completed, r.failed, r.warning),
                         (len(self.cases) - len(failed), len(failed), 0), self.describe(r))
        # getscu 3.6.7 does not read the final response's data set: no failed-UID check here
        self.assert_decompressed(r.files, {ts}, "C-GET with getscu +xi (proposes %s)" % ts)
        self.assertTrue(self.srv.echo())

    def test_get_uncompressed(self):
        r = self.get(["+B"], self.study_keys())
        failed = {c.sop_uid for c in self.cases if not c.decodable}
        self.assertEqual(r.final_status, h.STATUS_SUBOPS_WARNING, self.describe(r))
        self.assertEqual((r.completed, r.failed),
                         (len(self.cases) - len(failed), len(failed)), self.describe(r))
        self.assert_decompressed(r.files, UNCOMPRESSED_LE, "C-GET with getscu (uncompressed)",
                                 as_stored_ok={ExplicitVRBigEndian})

    def test_get_each_decodable_instance_single_syntax(self):
        for c in self.cases:
            if not c.decodable:
                continue
            with self.subTest(case=c.name):
                r, ts = self.single_syntax_get(self.image_keys(c), level="IMAGE")
                self.assertEqual(r.final_status, h.STATUS_SUCCESS, self.describe(r))
                self.assertEqual((r.completed, r.failed), (1, 0), self.describe(r))
                self.assertEqual(list(r.files), [c.sop_uid])
                path = r.files[c.sop_uid]
                self.assertEqual(h.meta_transfer_syntax(path), ts)
                self.assertTrue(bytes(h.pydicom.dcmread(str(path)).PixelData)[
                    :len(c.expected_pixels)] == c.expected_pixels, "%s pixels" % c.name)


if __name__ == "__main__":
    h.main()
