"""`ossa echo` and `ossa query`: C-ECHO and C-FIND from the command line on nodes declared in the
configuration, against DCMTK's storescp and dcmqrscp and against another Ossa server. Neither command
needs a running server nor touches the storage.

Run: OSSA_BIN=/abs/path/to/ossa /usr/bin/python3 tests/integration/test_scu_cli.py
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402

ESC = b"\x1b"
LATIN1_NAME = "Müller^Jürgen"
JAPANESE_NAME_RAW = (b"Yamada^Tarou=" + ESC + b"$B;3ED" + ESC + b"(B^" + ESC + b"$BB@O:" + ESC
                     + b"(B=" + ESC + b"$B$d$^$@" + ESC + b"(B^" + ESC + b"$B$?$m$&" + ESC + b"(B")
JAPANESE_NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"


class DcmQrScp:
    """DCMTK's dcmqrscp on a free port with its own configuration and storage area (forking mode:
    its single-process mode -s crashed after the first association in DCMTK 3.6.7)."""

    def __init__(self, folder, aet="QRSCP", hosts=()):
        self.folder = Path(folder)
        self.aet = aet
        self.port = h.free_port()
        self.db = self.folder / "db"
        self.db.mkdir(parents=True, exist_ok=True)
        self.config_path = self.folder / "dcmqrscp.cfg"
        host_lines = "".join("%s = (%s, 127.0.0.1, %d)\n" % (name, aet_, port)
                             for name, aet_, port in hosts)
        self.config_path.write_text(
            "NetworkTCPPort  = %d\n"
            "MaxPDUSize      = 16384\n"
            "MaxAssociations = 16\n"
            "HostTable BEGIN\n%sHostTable END\n"
            "VendorTable BEGIN\nVendorTable END\n"
            "AETable BEGIN\n%s %s RW (200, 1024mb) ANY\nAETable END\n"
            % (self.port, host_lines, aet, self.db))
        self.log_path = self.folder / "dcmqrscp.log"
        self.proc = None
        self._log = None

    def start(self, timeout=20.0):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["dcmqrscp", "-c", str(self.config_path), str(self.port)],
                                     stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL,
                                     env=h.dcmtk_env(), start_new_session=True)
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

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        self.proc = None

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")[-3000:]
        except OSError:
            return ""

    def load(self, files):
        r = h.storescu(self.port, files, aec=self.aet)
        if r.returncode != 0 or len(r.succeeded()) != len(files):
            raise AssertionError("loading dcmqrscp failed: %r\n%s" % (r, r.output[-3000:]))


def parse_json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class ScuCliTest(h.TempDirTestCase):

    def setUp(self):
        super().setUp()
        self.helpers = []
        self.addCleanup(self._stop_helpers)

    def _stop_helpers(self):
        for p in self.helpers:
            p.stop()

    def helper(self, proc):
        self.helpers.append(proc)
        return proc.start()

    def cli_config(self, nodes, subdir="cli", aet="OSSACLI", **overrides):
        """An Ossa configuration for the CLI only (no server started from it)."""
        srv = self.server(subdir, start=False, aet=aet, **overrides)
        h.set_nodes(srv, nodes)
        return srv

    def assert_storage_untouched(self, srv):
        self.assertFalse(srv.storage_path.exists(), "the CLI created %s" % srv.storage_path)
        self.assertFalse(srv.index_path.exists(), "the CLI created %s" % srv.index_path)

    # --------------------------------------------------------------------------------------------
    # echo

    def test_echo_storescp_ok(self):
        scp = self.helper(h.StoreScpProcess(self.tmp / "scp", aet="ECHODEST"))
        cfg = self.cli_config([h.node("ECHODEST", scp.port, name="dest")])
        r = h.ossa("echo", "--config", cfg.config_path, "dest")
        self.assertEqual(r.returncode, 0, r.out)
        self.assertEqual(r.stdout.decode(),
                         "echo dest (ECHODEST@127.0.0.1:%d): ok\n" % scp.port)
        # The node may also be named by its AE title.
        r = h.ossa("echo", "--config", cfg.config_path, "ECHODEST")
        self.assertEqual(r.returncode, 0, r.out)
        self.assertEqual(r.stdout.decode(),
                         "echo dest (ECHODEST@127.0.0.1:%d): ok\n" % scp.port)
        self.assert_storage_untouched(cfg)

    def test_echo_closed_port(self):
        port = h.free_port()
        cfg = self.cli_config([h.node("NOBODY", port, name="gone")])
        t0 = time.monotonic()
        r = h.ossa("echo", "--config", cfg.config_path, "gone", timeout=60)
        self.assertEqual(r.returncode, 1, r.out)
        self.assertEqual(r.stdout, b"")
        err = r.stderr.decode()
        self.assertIn("gone (NOBODY@127.0.0.1:%d)" % port, err)
        self.assertIn("Connection refused", err)
        self.assertLess(time.monotonic() - t0, 20)
        self.assert_storage_untouched(cfg)

    def test_unknown_node(self):
        cfg = self.cli_config([h.node("AAA", 104, name="alpha"), h.node("BBB", 105, name="beta")])
        for command in (["echo"], ["query", "-k", "PatientName"]):
            r = h.ossa(command[0], "--config", cfg.config_path, "nosuch", *command[1:])
            self.assertEqual(r.returncode, 2, r.out)
            err = r.stderr.decode()
            self.assertIn("nosuch", err)
            self.assertIn("alpha", err)
            self.assertIn("beta", err)
        empty = self.cli_config([], subdir="cli-empty")
        r = h.ossa("echo", "--config", empty.config_path, "nosuch")
        self.assertEqual(r.returncode, 2, r.out)
        self.assertIn("nosuch", r.stderr.decode())

    def test_usage_errors(self):
        cfg = self.cli_config([h.node("QR", 104, name="qr", query=True)])
        self.assertEqual(h.ossa("echo", "--config", cfg.config_path).returncode, 2)
        self.assertEqual(h.ossa("query", "--config", cfg.config_path).returncode, 2)
        r = h.ossa("query", "--config", cfg.config_path, "qr", "--level", "FOO")
        self.assertEqual(r.returncode, 2, r.out)
        r = h.ossa("query", "--config", cfg.config_path, "qr", "-k", "NoSuchKeyword=1")
        self.assertEqual(r.returncode, 2, r.out)
        self.assertIn("NoSuchKeyword", r.out)

    def test_query_needs_query_flag(self):
        scp = self.helper(h.StoreScpProcess(self.tmp / "scp", aet="NOQUERY"))
        cfg = self.cli_config([h.node("NOQUERY", scp.port, name="noq")])  # query: false
        r = h.ossa("query", "--config", cfg.config_path, "noq", "-k", "PatientName")
        self.assertEqual(r.returncode, 2, r.out)
        self.assertIn("query: true", r.stderr.decode())
        self.assertEqual(r.stdout, b"")

    # --------------------------------------------------------------------------------------------
    # query against dcmqrscp

    def make_studies(self, folder):
        """Three patients, four studies; returns {study key: (study uid, [series uids])}."""
        folder = Path(folder)
        studies = {}
        specs = [
            ("A", "P1", "Smith^John", "20240101", "CT CHEST", [("CT", 2), ("CT", 1)], None, None),
            ("B", "P1", "Smith^John", "20240202", "MR HEAD", [("MR", 1)], None, None),
            ("C", "P2", LATIN1_NAME, "20230303", "CT ABDOMEN", [("CT", 1)], "ISO_IR 100",
             LATIN1_NAME.encode("latin-1")),
            ("D", "P3", JAPANESE_NAME, "20220404", "CT NECK", [("CT", 1)],
             ["ISO 2022 IR 6", "ISO 2022 IR 87"], JAPANESE_NAME_RAW),
        ]
        files = []
        for key, pid, name, date, desc, series, charset, raw_name in specs:
            study_uid = h.new_uid()
            series_uids = []
            for si, (modality, count) in enumerate(series, start=1):
                series_uid = h.new_uid()
                series_uids.append(series_uid)
                for ii in range(count):
                    p = folder / ("%s-%d-%d.dcm" % (key, si, ii))
                    raw = {0x00100010: ("PN", raw_name)} if raw_name else None
                    ds = h.make_dataset(patient_id=pid, patient_name="X" if raw else name,
                                        study_uid=study_uid, series_uid=series_uid,
                                        modality=modality, charset=charset, raw=raw,
                                        StudyDate=date, StudyDescription=desc, SeriesNumber=si,
                                        InstanceNumber=ii + 1)
                    h.write_part10(ds, p)
                    files.append(p)
            studies[key] = (study_uid, series_uids)
        return studies, files

    def test_query_dcmqrscp(self):
        if not h.have_tool("dcmqrscp"):
            self.skipTest("dcmqrscp not installed")
        studies, files = self.make_studies(self.tmp / "data")
        qr = DcmQrScp(self.tmp / "qr")
        self.helpers.append(qr)
        qr.start()
        qr.load(files)
        cfg = self.cli_config([h.node("QRSCP", qr.port, name="qr", query=True)])

        # Every study, with the requested return keys, one JSON object per line.
        r = h.ossa("query", "--config", cfg.config_path, "qr", "-k", "PatientName",
                   "-k", "PatientID", "-k", "StudyDate", "-k", "StudyDescription")
        self.assertEqual(r.returncode, 0, r.out + qr.log_text())
        answers = parse_json_lines(r.stdout.decode("utf-8"))
        by_uid = {a["StudyInstanceUID"]: a for a in answers}
        self.assertEqual(set(by_uid), {uid for uid, _ in studies.values()})
        a = by_uid[studies["A"][0]]
        self.assertEqual(a["QueryRetrieveLevel"], "STUDY")
        self.assertEqual(a["PatientName"], "Smith^John")
        self.assertEqual(a["PatientID"], "P1")
        self.assertEqual(a["StudyDate"], "20240101")
        self.assertEqual(a["StudyDescription"], "CT CHEST")
        # Converted to UTF-8 from the answer's character set (ISO_IR 100, and ISO 2022 IR 87, which
        # DCMTK's own conversion refuses).
        self.assertEqual(by_uid[studies["C"][0]]["PatientName"], LATIN1_NAME)
        self.assertEqual(by_uid[studies["D"][0]]["PatientName"], JAPANESE_NAME)
        self.assertNotIn("SpecificCharacterSet", by_uid[studies["C"][0]])

        # Matching keys.
        r = h.ossa("query", "--config", cfg.config_path, "qr", "-k", "PatientID=P1",
                   "-k", "StudyDescription")
        self.assertEqual(r.returncode, 0, r.out)
        answers = parse_json_lines(r.stdout.decode("utf-8"))
        self.assertEqual(sorted(a["StudyDescription"] for a in answers), ["CT CHEST", "MR HEAD"])

        # Series level of one study, by tag number.
        r = h.ossa("query", "--config", cfg.config_path, "qr", "--level", "SERIES",
                   "-k", "(0020,000D)=%s" % studies["A"][0], "-k", "Modality")
        self.assertEqual(r.returncode, 0, r.out)
        answers = parse_json_lines(r.stdout.decode("utf-8"))
        self.assertEqual({a["SeriesInstanceUID"] for a in answers}, set(studies["A"][1]))
        self.assertTrue(all(a["Modality"] == "CT" and a["QueryRetrieveLevel"] == "SERIES"
                            for a in answers), answers)

        # Patient Root, patient level.
        r = h.ossa("query", "--config", cfg.config_path, "qr", "--patient-root",
                   "--level", "PATIENT", "-k", "PatientName=Smith*")
        self.assertEqual(r.returncode, 0, r.out)
        answers = parse_json_lines(r.stdout.decode("utf-8"))
        self.assertEqual([(a["PatientID"], a["PatientName"]) for a in answers],
                         [("P1", "Smith^John")])

        # No match: no output, success.
        r = h.ossa("query", "--config", cfg.config_path, "qr", "-k", "PatientID=NOBODY")
        self.assertEqual(r.returncode, 0, r.out)
        self.assertEqual(r.stdout, b"")
        self.assert_storage_untouched(cfg)

    def test_query_closed_port(self):
        cfg = self.cli_config([h.node("QR", h.free_port(), name="qr", query=True)])
        r = h.ossa("query", "--config", cfg.config_path, "qr", "-k", "PatientName")
        self.assertEqual(r.returncode, 1, r.out)
        self.assertEqual(r.stdout, b"")
        self.assertIn("Connection refused", r.stderr.decode())

    # --------------------------------------------------------------------------------------------
    # query against another Ossa

    def test_query_ossa_from_ossa(self):
        srv = self.server("remote", aet="REMOTE")
        studies, files = self.make_studies(self.tmp / "data")
        st = srv.store(files)
        self.assertEqual(len(st.succeeded()), len(files), st.output[-3000:])
        cfg = self.cli_config([h.node("REMOTE", srv.port, name="remote", query=True)],
                              subdir="local", aet="LOCAL")

        r = h.ossa("query", "--config", cfg.config_path, "remote", "-k", "PatientName",
                   "-k", "StudyDescription", "-k", "NumberOfStudyRelatedInstances")
        self.assertEqual(r.returncode, 0, r.out)
        answers = parse_json_lines(r.stdout.decode("utf-8"))
        by_uid = {a["StudyInstanceUID"]: a for a in answers}
        self.assertEqual(set(by_uid), {uid for uid, _ in studies.values()})
        self.assertEqual(by_uid[studies["A"][0]]["NumberOfStudyRelatedInstances"], "3")
        self.assertEqual(by_uid[studies["A"][0]]["RetrieveAETitle"], "REMOTE")
        self.assertEqual(by_uid[studies["C"][0]]["PatientName"], LATIN1_NAME)
        self.assertEqual(by_uid[studies["D"][0]]["PatientName"], JAPANESE_NAME)

        # A query in UTF-8 (the CLI declares ISO_IR 192 for non-ASCII values).
        r = h.ossa("query", "--config", cfg.config_path, "remote", "-k", "PatientName=Müller*")
        self.assertEqual(r.returncode, 0, r.out)
        answers = parse_json_lines(r.stdout.decode("utf-8"))
        self.assertEqual([a["StudyInstanceUID"] for a in answers], [studies["C"][0]])
        self.assertEqual(answers[0]["PatientName"], LATIN1_NAME)

        # Image level, Patient Root, under one series.
        r = h.ossa("query", "--config", cfg.config_path, "remote", "--patient-root",
                   "--level", "IMAGE", "-k", "PatientID=P1",
                   "-k", "StudyInstanceUID=%s" % studies["A"][0],
                   "-k", "SeriesInstanceUID=%s" % studies["A"][1][0], "-k", "InstanceNumber")
        self.assertEqual(r.returncode, 0, r.out)
        answers = parse_json_lines(r.stdout.decode("utf-8"))
        self.assertEqual(sorted(a["InstanceNumber"] for a in answers), ["1", "2"])

        # A refused query (Study Root, image level without the study's UID): the peer's failure
        # status and error comment, exit 1.
        r = h.ossa("query", "--config", cfg.config_path, "remote", "--level", "IMAGE",
                   "-k", "SOPInstanceUID")
        self.assertEqual(r.returncode, 1, r.out)
        self.assertIn("0xA900", r.stderr.decode())

        # The remote server saw the CLI's AE title; the local storage was never created.
        self.assertIn("LOCAL", srv.log_text())
        self.assert_storage_untouched(cfg)


if __name__ == "__main__":
    h.main()
