"""The XML-RPC control interface (xmlrpc/, docs/xmlrpc.md), driven by python3's xmlrpc.client and
the `xmlrpc` command-line tool (Debian libxmlrpc-core-c3-dev) against a running server holding
real instances stored with storescu.

One server with data serves most tests; a second one acts as a remote PACS for Retrieve, CMove,
ossa.find on a node and ossa.send.
"""

import http.client
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xmlrpc.client
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ossa_harness as h  # noqa: E402

TOKEN = "s3cret-token-for-tests-0123456789"


def build_dir():
    if os.environ.get("OSSA_BUILD_DIR"):
        return Path(os.environ["OSSA_BUILD_DIR"])
    return Path(h.require_ossa_bin()).resolve().parent.parent


# Three patients, three studies: P1 has CT (2 images) and SR (1), P2 MR (1), P3 CT (1).
STUDIES = {
    "P1": dict(name="Müller^Hans", study="1.2.826.0.1.3680043.10.1.1", acc="A1",
               date="20240115", desc="Thorax",
               series=[("1.2.826.0.1.3680043.10.1.1.1", "CT", 2),
                       ("1.2.826.0.1.3680043.10.1.1.2", "OT", 1)]),
    "P2": dict(name="Doe^Jane", study="1.2.826.0.1.3680043.10.1.2", acc="A2",
               date="20230610", desc="Head",
               series=[("1.2.826.0.1.3680043.10.1.2.1", "MR", 1)]),
    "P3": dict(name="Smith^John", study="1.2.826.0.1.3680043.10.1.3", acc="B3",
               date="20221231", desc="Abdomen",
               series=[("1.2.826.0.1.3680043.10.1.3.1", "CT", 1)]),
}


def write_studies(folder, studies):
    files = []
    for pid, s in studies.items():
        for series_uid, modality, count in s["series"]:
            for n in range(count):
                path = Path(folder) / ("%s-%s-%d.dcm" % (pid, series_uid[-3:], n))
                h.make_instance(path, patient_id=pid, patient_name=s["name"],
                                study_uid=s["study"], series_uid=series_uid,
                                sop_uid="%s.%d" % (series_uid, n + 1), modality=modality,
                                charset="ISO_IR 192", AccessionNumber=s["acc"],
                                StudyDate=s["date"], StudyDescription=s["desc"],
                                InstanceNumber=str(n + 1))
                files.append(path)
    return files


def wait_job(proxy, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        job = proxy.ossa.jobs.get(job_id)
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError("job %d still %s: %r" % (job_id, job["state"], job))
        time.sleep(0.2)


def raw_post(port, body, headers=None, path="/RPC2", method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {"Content-Type": "text/xml"})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


class XmlRpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.require_ossa_bin()
        cls.tmp = tempfile.TemporaryDirectory(prefix="ossa-xmlrpc-")
        root = Path(cls.tmp.name)
        # The remote PACS first: the main server declares it as a node.
        cls.remote = h.OssaServer(root / "remote", aet="REMOTE")
        cls.srv = h.OssaServer(root / "main", aet="OSSA")
        h.set_nodes(cls.remote, [h.node("OSSA", cls.srv.port, move_destination=True),
                                 h.node("SELFREMOTE", cls.remote.port)])
        h.set_nodes(cls.srv, [h.node("REMOTE", cls.remote.port, query=True, retrieve=True,
                                     send=True, move_destination=True),
                              h.node("OSSA", cls.srv.port, name="SELF", query=True)])
        cls.remote.start()
        cls.srv.start()
        data = root / "data"
        data.mkdir()
        files = write_studies(data, STUDIES)
        r = cls.srv.store(files)
        assert r.returncode == 0, r.out
        # Only the remote holds patient P9 (two studies, one with an accession number).
        remote_files = write_studies(root / "data", {
            "P9": dict(name="Remote^Only", study="1.2.826.0.1.3680043.10.9.1", acc="R9",
                       date="20200101", desc="Remote", series=[("1.2.826.0.1.3680043.10.9.1.1",
                                                                "CT", 2)]),
            "P8": dict(name="Remote^Other", study="1.2.826.0.1.3680043.10.8.1", acc="R8",
                       date="20200102", desc="Remote", series=[("1.2.826.0.1.3680043.10.8.1.1",
                                                                "CT", 1)]),
        })
        r = cls.remote.store(remote_files)
        assert r.returncode == 0, r.out
        cls.rpc = cls.srv.rpc()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.srv, cls.remote):
            if s.running():
                s.kill()
        cls.tmp.cleanup()

    def find(self, predicate, table="Study", execute="Select", method="DBWindowFind"):
        return getattr(self.rpc, method)({"request": predicate, "table": table,
                                          "execute": execute})

    def assertFault(self, call, code=None, contains=None):
        with self.assertRaises(xmlrpc.client.Fault) as ctx:
            call()
        if code is not None:
            self.assertEqual(ctx.exception.faultCode, code, ctx.exception.faultString)
        if contains is not None:
            self.assertIn(contains, ctx.exception.faultString)
        return ctx.exception

    # --- DBWindowFind ----------------------------------------------------------------------------

    def test_predicate_table(self):
        P1, P2, P3 = (STUDIES[p]["study"] for p in ("P1", "P2", "P3"))
        s1a, s1b = (s[0] for s in STUDIES["P1"]["series"])
        s2 = STUDIES["P2"]["series"][0][0]
        s3 = STUDIES["P3"]["series"][0][0]
        cases = [
            ("Study", "patientID == 'P1'", {P1}),
            ("Study", "patientID = \"P2\"", {P2}),
            ("Study", "patientID != 'P1'", {P2, P3}),
            ("Study", "accessionNumber IN {'A1', 'B3'}", {P1, P3}),
            ("Study", "name LIKE 'Doe*'", {P2}),
            ("Study", "name LIKE 'D?e^Jane'", {P2}),
            ("Study", "name LIKE 'doe*'", set()),
            ("Study", "name LIKE[c] 'doe*'", {P2}),
            ("Study", "name BEGINSWITH 'Muller'", set()),
            ("Study", "name BEGINSWITH[d] 'Muller'", {P1}),
            ("Study", "name CONTAINS[cd] 'MULL'", {P1}),
            ("Study", "name ENDSWITH 'John'", {P3}),
            ("Study", "(studyName == 'Head') || (studyName == 'Abdomen')", {P2, P3}),
            ("Study", "numberOfImages >= 3", {P1}),
            ("Study", "numberOfImages < 3 AND NOT patientID == 'P3'", {P2}),
            ("Study", "!(patientID == 'P1') && modality == 'CT'", {P3}),
            ("Study", "date >= CAST(\"2023-01-01\", \"NSDate\")", {P1, P2}),
            ("Study", "date < '2023-01-01 00:00:00 +0000'", {P3}),
            ("Study", "date BETWEEN {'2023-06-01', '2023-06-30'}", {P2}),
            ("Study", "modality CONTAINS 'OT'", {P1}),
            ("Study", "ANY series.modality == 'MR'", {P2}),
            ("Study", "TRUEPREDICATE", {P1, P2, P3}),
            ("Study", "patientID == \"x' OR '1'='1\"", set()),
            ("Series", "study.patientID == 'P1'", {s1a, s1b}),
            ("Series", "modality == 'CT' AND study.date > '2023-01-01'", {s1a}),
            ("Series", "seriesDICOMUID == '%s'" % s2, {s2}),
            ("Series", "numberOfImages == 2", {s1a}),
            ("Image", "instanceNumber == 2", {s1a + ".2"}),
            ("Image", "series.study.accessionNumber BEGINSWITH 'B'", {s3 + ".1"}),
            ("Image", "study.patientID == 'P2'", {s2 + ".1"}),
        ]
        uid_key = {"Study": "studyInstanceUID", "Series": "seriesDICOMUID",
                   "Image": "sopInstanceUID"}
        for table, predicate, expected in cases:
            with self.subTest(table=table, predicate=predicate):
                r = self.find(predicate, table)
                if not expected:
                    self.assertEqual(r, {"error": "-1"})
                    continue
                self.assertEqual(r["error"], "0")
                got = {e[uid_key[table]] for e in r["elements"]}
                self.assertEqual(got, expected)

    def test_elements_use_osirix_names_and_string_values(self):
        r = self.find("patientID == 'P1'")
        (e,) = r["elements"]
        self.assertEqual(e["patientID"], "P1")
        self.assertEqual(e["name"], "Müller^Hans")
        self.assertEqual(e["accessionNumber"], "A1")
        self.assertEqual(e["studyName"], "Thorax")
        self.assertEqual(e["modality"], "CT\\OT")
        self.assertEqual(e["numberOfImages"], "3")
        self.assertEqual(e["date"], "2024-01-15 12:00:00 +0000")
        self.assertRegex(e["dateAdded"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$")
        for value in e.values():
            self.assertIsInstance(value, str)
        (img,) = self.find("instanceNumber == 2", "Image")["elements"]
        self.assertTrue(Path(img["pathString"]).is_file(), img)
        self.assertEqual(img["storedModality"], "CT")

    def test_alias_case_insensitive_names_and_execute_modes(self):
        for method in ("FindObject", "dbwindowfind", "DBWINDOWFIND"):
            for execute in ("Select", "Open", "Nothing", "whatever"):
                r = self.find("patientID == 'P2'", method=method, execute=execute)
                self.assertEqual(r["error"], "0", (method, execute))
        # Without `execute` at all.
        r = self.rpc.DBWindowFind({"request": "patientID == 'P3'", "table": "study"})
        self.assertEqual(len(r["elements"]), 1)

    def test_display_study_and_series(self):
        r = self.rpc.DisplayStudy({"PatientID": "P2"})
        self.assertEqual(r["error"], "0")
        self.assertEqual(r["elements"][0]["studyInstanceUID"], STUDIES["P2"]["study"])
        r = self.rpc.DisplayStudy({"accessionNumber": "A1", "patientID": "P1"})
        self.assertEqual(len(r["elements"]), 1)
        self.assertEqual(self.rpc.DisplayStudy({"StudyInstanceUID": "9.9"}), {"error": "-1"})
        r = self.rpc.DisplaySeries({"PatientID": "P1"})
        self.assertEqual(len(r["elements"]), 2)
        r = self.rpc.DisplaySeries({"SeriesInstanceUID": STUDIES["P3"]["series"][0][0]})
        self.assertEqual(r["elements"][0]["modality"], "CT")
        self.assertFault(lambda: self.rpc.DisplayStudy({}), 400)

    # --- Bad calls -------------------------------------------------------------------------------

    def test_bad_calls_get_clear_faults(self):
        f = self.assertFault(lambda: self.rpc.NoSuchMethod({}), -32601, "NoSuchMethod")
        self.assertFault(lambda: self.rpc.system.shutdown(), -32601)
        self.assertFault(lambda: self.rpc.system.multicall([]), -32601)
        self.assertFault(lambda: self.rpc.DBWindowFind({"table": "Study"}), 400, "request")
        self.assertFault(lambda: self.rpc.DBWindowFind({"request": 5, "table": "Study"}), 400,
                         "must be a string")
        self.assertFault(lambda: self.rpc.DBWindowFind({"request": "a == 1", "table": "Patient"}),
                         400, "Study, Series or Image")
        self.assertFault(lambda: self.rpc.DBWindowFind({"request": "x", "table": "Study"}, 2), 400,
                         "one struct")
        self.assertFault(lambda: self.rpc.DBWindowFind("patientID == 'P1'"), 400, "one struct")
        f = self.assertFault(lambda: self.find("patientID == "), 400, "position 14")
        self.assertIn("syntax error", f.faultString)
        self.assertFault(lambda: self.find("(patientID == 'P1'"), 400, "position 19")
        self.assertFault(lambda: self.find("bogus == 1"), 400, "unknown key 'bogus'")
        self.assertFault(lambda: self.find("numberOfImages > 'many'"), 400, "number")
        self.assertFault(lambda: self.rpc.Retrieve({"serverName": "REMOTE"}), 400, "filterKey")
        self.assertFault(lambda: self.rpc.Retrieve({"serverName": "REMOTE", "filterKey": "PatientID",
                                                    "filterValue": "P9", "retrieveMode": "x"}), 400)
        self.assertFault(lambda: self.rpc.ossa.jobs.get("abc"), -32602, "whole number")
        self.assertFault(lambda: self.rpc.ossa.jobs.get(), -32602, "missing parameter 'id'")
        self.assertFault(lambda: self.rpc.ossa.jobs.get(999999), 404)
        self.assertFault(lambda: self.rpc.ossa.find({"level": "STUDY", "bogus": 1}), -32602,
                         "unknown parameter 'bogus'")
        self.assertFault(lambda: self.rpc.ossa.find({"level": "WARD"}), -32602)
        self.assertFault(lambda: self.rpc.ossa.find({"level": "STUDY", "keys": {"NoSuchKey": ""}}),
                         -32602, "unknown DICOM key")
        self.assertFault(lambda: self.rpc.ossa.status(1), -32602)
        self.assertFault(lambda: self.rpc.ossa.echo("NOWHERE"), 404)
        # Not XML-RPC at all, and not POST.
        status, body = raw_post(self.srv.xmlrpc_port, "<methodCall><oops")
        self.assertEqual(status, 200)
        self.assertIn("<fault>", body)
        self.assertIn("-32700", body)
        status, _ = raw_post(self.srv.xmlrpc_port, None, method="GET")
        self.assertEqual(status, 405)
        # The server is still fine.
        self.assertEqual(self.rpc.ossa.status()["studies"], 3)

    def test_oversize_body_is_refused_with_413(self):
        big = "<?xml version='1.0'?><methodCall><methodName>ossa.status</methodName><params>" \
              "<param><value><string>" + "x" * (1 << 20) + "</string></value></param></params>" \
              "</methodCall>"
        status, _ = raw_post(self.srv.xmlrpc_port, big)
        self.assertEqual(status, 413)
        # Just under the limit still parses (and is refused for its parameter, not its size).
        fits = big.replace("x" * (1 << 20), "x" * ((1 << 20) - 400))
        status, body = raw_post(self.srv.xmlrpc_port, fits)
        self.assertEqual(status, 200)
        self.assertIn("-32602", body)

    # --- The xmlrpc command-line tool ------------------------------------------------------------

    def test_xmlrpc_command_line_tool(self):
        # Debian 12's `xmlrpc` tool sends only scalar parameters (i/ s/ b/ d/ n/ I/), no struct:
        # OsiriX methods are called without parameters, ossa.* ones positionally.
        if not h.have_tool("xmlrpc"):
            self.skipTest("the xmlrpc tool (Debian libxmlrpc-core-c3-dev) is not installed")
        url = "http://127.0.0.1:%d/RPC2" % self.srv.xmlrpc_port

        def tool(*args):
            return h.run(["xmlrpc", url] + list(args), timeout=30)

        r = tool("ossa.status")
        self.assertEqual(r.returncode, 0, r.out)
        self.assertRegex(r.out, r"'studies'\s+Value: 64-bit integer: 3\n")
        r = tool("GetDisplayed2DViewerStudies")
        self.assertEqual(r.returncode, 0, r.out)
        self.assertRegex(r.out, r"'error'\s+Value: String: '0'")
        self.assertIn("Array of 0 items", r.out)
        r = tool("ossa.echo", "s/REMOTE")
        self.assertEqual(r.returncode, 0, r.out)
        self.assertIn("TRUE", r.out)
        r = tool("ossa.jobs.list", "i/5")
        self.assertEqual(r.returncode, 0, r.out)
        r = tool("ossa.delete", "s/PATIENT", "s/NOBODY")
        self.assertEqual(r.returncode, 0, r.out)
        self.assertIn("64-bit integer: 0", r.out)
        r = tool("DBWindowFind", "s/patientID == 'P2'")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("one struct parameter", r.out)
        self.assertIn("fault code 400", r.out)
        r = tool("ossa.nope")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("-32601", r.out)

    # --- OsiriX methods with remote nodes ------------------------------------------------------

    def test_retrieve_cmove_and_cget(self):
        self.assertEqual(self.rpc.Retrieve({"serverName": "NOPE", "filterKey": "PatientID",
                                            "filterValue": "P9"})["error"], "-2")
        self.assertEqual(self.rpc.Retrieve({"serverName": "REMOTE", "filterKey": "PatientID",
                                            "filterValue": "NOBODY"})["error"], "-3")
        r = self.rpc.Retrieve({"serverName": "REMOTE", "filterKey": "PatientID",
                               "filterValue": "P9", "filterKey2": "StudyDescription",
                               "filterValue2": "Remote", "retrieveMode": 0})
        self.assertEqual(r["error"], "0", r)
        job = wait_job(self.rpc, int(r["jobID"]))
        self.assertEqual(job["state"], "done", job)
        self.assertEqual(job["method"], "move")
        self.assertEqual(self.find("patientID == 'P9'")["elements"][0]["numberOfImages"], "2")
        # CMove by accession number.
        self.assertEqual(self.rpc.CMove({"accessionNumber": "R8", "server": "NOPE"})["error"], "-1")
        r = self.rpc.CMove({"accessionNumber": "R8", "server": "REMOTE"})
        self.assertEqual(r["error"], "0", r)
        self.assertEqual(wait_job(self.rpc, int(r["jobID"]))["state"], "done")
        self.assertEqual(len(self.find("patientID == 'P8'")["elements"]), 1)
        # C-GET of the same study again (retrieveMode 1).
        r = self.rpc.Retrieve({"serverName": "REMOTE", "filterKey": "AccessionNumber",
                               "filterValue": "R8", "retrieveMode": 1})
        job = wait_job(self.rpc, int(r["jobID"]))
        self.assertEqual((job["state"], job["method"]), ("done", "get"), job)
        # Clean up for the other tests' counts.
        self.assertEqual(self.rpc.ossa.delete({"level": "PATIENT", "uid": "P9"}), 2)
        self.assertEqual(self.rpc.ossa.delete("PATIENT", "P8"), 1)

    def test_download_url(self):
        folder = Path(self.tmp.name) / "web"
        folder.mkdir(exist_ok=True)
        ds = h.make_instance(folder / "one.dcm", patient_id="PWEB", patient_name="Web^Download")
        (folder / "junk.txt").write_text("not dicom")

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(folder), **kw)

            def log_message(self, *a):
                pass

        web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        thread = threading.Thread(target=web.serve_forever, daemon=True)
        thread.start()
        try:
            base = "http://127.0.0.1:%d/" % web.server_address[1]
            r = self.rpc.DownloadURL({"URL": base + "one.dcm", "Display": "YES"})
            self.assertEqual(r["error"], "0", r)
            (e,) = self.find("study.patientID == 'PWEB'", "Image")["elements"]
            self.assertEqual(e["sopInstanceUID"], ds.SOPInstanceUID)
            r = self.rpc.DownloadURL({"URL": base + "missing.dcm"})
            self.assertEqual(r["error"], "-1")
            self.assertIn("404", r["message"])
            r = self.rpc.DownloadURL({"URL": base + "junk.txt"})
            self.assertEqual(r["error"], "-1")
            self.assertIn("not stored", r["message"])
            r = self.rpc.DownloadURL({"URL": "ftp://example.invalid/x"})
            self.assertEqual(r["error"], "-1")
            self.assertFault(lambda: self.rpc.DownloadURL({}), 400, "URL")
        finally:
            web.shutdown()
            web.server_close()
        self.assertEqual(self.rpc.ossa.delete({"level": "PATIENT", "uid": "PWEB"}), 1)
        self.assertEqual(self.srv.tmp_files(), [])

    def test_headless_methods_answer_as_a_headless_osirix(self):
        ok = {"error": "0"}
        self.assertEqual(self.rpc.SwitchToDefaultDBIfNeeded({}), ok)
        self.assertEqual(self.rpc.SelectDefaultDatabase(), ok)
        self.assertEqual(self.rpc.OpenDB({"path": "/tmp"}), ok)
        self.assertEqual(self.rpc.OpenDatabase({"path": "/tmp"}), ok)
        self.assertEqual(self.rpc.SelectAlbum({"name": "Today"}), ok)
        self.assertEqual(self.rpc.CloseAllWindows({}), ok)
        self.assertEqual(self.rpc.GetDisplayed2DViewerSeries({}), {"error": "0", "elements": []})
        self.assertEqual(self.rpc.GetDisplayed2DViewerStudies({}), {"error": "0", "elements": []})
        self.assertEqual(self.rpc.Close2DViewerWithSeriesUID({"uid": "1.2"}), ok)
        self.assertEqual(self.rpc.Close2DViewerWithStudyUID({"uid": "1.2"}), ok)
        self.assertEqual(self.rpc.DisplayStudyListByPatientName({"PatientName": "Doe"}), ok)
        self.assertEqual(self.rpc.DisplayStudyListByPatientId({"PatientID": "P1"}), ok)
        self.assertEqual(self.rpc.PathToFrontDCM({"onlyfilename": "yes"}),
                         {"error": "0", "currentDCMPath": ""})
        self.assertFault(lambda: self.rpc.OpenDB({}), 400, "path")
        self.assertFault(lambda: self.rpc.Close2DViewerWithStudyUID({"uid": 7}), 400)

    # --- ossa.* ----------------------------------------------------------------------------------

    def test_status_echo_and_nodes(self):
        s = self.rpc.ossa.status()
        self.assertEqual((s["patients"], s["studies"], s["series"], s["instances"]), (3, 3, 4, 5))
        self.assertGreater(s["disk_free_bytes"], 0)
        self.assertGreaterEqual(s["uptime_seconds"], 0)
        self.assertEqual(s["aet"], "OSSA")
        self.assertEqual(s["associations"], 0)
        self.assertTrue(s["index_ok"])
        self.assertRegex(s["version"], r"^\d+\.\d+")
        self.assertIs(self.rpc.ossa.echo("REMOTE"), True)
        self.assertIs(self.rpc.ossa.echo({"node": "SELF"}), True)
        names = {n["name"] for n in self.rpc.ossa.nodes.list()}
        self.assertEqual(names, {"REMOTE", "SELF"})
        dead = h.free_port()
        n = self.rpc.ossa.nodes.add({"name": "TEMP", "aet": "TEMPAE", "host": "127.0.0.1",
                                     "port": dead, "send": True})
        self.assertEqual((n["aet"], n["port"], n["send"], n["query"]), ("TEMPAE", dead, True, False))
        self.assertIn("TEMP", {n["name"] for n in self.rpc.ossa.nodes.list()})
        self.assertFault(lambda: self.rpc.ossa.echo("TEMP"), 500, "C-ECHO")
        self.assertFault(lambda: self.rpc.ossa.nodes.add({"name": "REMOTE", "aet": "X",
                                                          "host": "h", "port": 1}), -32602,
                         "configuration")
        self.assertFault(lambda: self.rpc.ossa.nodes.add({"aet": "X", "host": "h",
                                                          "port": 70000}), -32602)
        self.assertIs(self.rpc.ossa.nodes.remove("TEMP"), True)
        self.assertIs(self.rpc.ossa.nodes.remove("TEMP"), False)

    def test_find_local_and_on_a_node(self):
        r = self.rpc.ossa.find({"level": "STUDY", "keys": {"PatientID": "P*",
                                                           "StudyDescription": "",
                                                           "ModalitiesInStudy": "CT"}})
        self.assertEqual({a["StudyInstanceUID"] for a in r},
                         {STUDIES["P1"]["study"], STUDIES["P3"]["study"]})
        self.assertEqual({a["StudyDescription"] for a in r}, {"Thorax", "Abdomen"})
        r = self.rpc.ossa.find({"level": "IMAGE", "keys": {
            "StudyInstanceUID": STUDIES["P1"]["study"],
            "SeriesInstanceUID": STUDIES["P1"]["series"][0][0], "SOPInstanceUID": ""}})
        self.assertEqual(len(r), 2)
        r = self.rpc.ossa.find({"level": "PATIENT", "keys": {"PatientName": "Müller*"}})
        self.assertEqual([a["PatientID"] for a in r], ["P1"])
        self.assertEqual(len(self.rpc.ossa.find({"level": "STUDY", "limit": 2})), 2)
        r = self.rpc.ossa.find({"level": "STUDY", "node": "REMOTE",
                                "keys": {"PatientID": "P9", "AccessionNumber": ""}})
        self.assertEqual([a["AccessionNumber"] for a in r], ["R9"])
        self.assertFault(lambda: self.rpc.ossa.find({"level": "STUDY", "node": "NOPE"}), 404)

    def test_send_jobs_import_delete_and_find_delete(self):
        # ossa.send: one study to the remote, followed as a durable job.
        job_id = self.rpc.ossa.send({"node": "REMOTE", "level": "STUDY",
                                     "uids": [STUDIES["P3"]["study"]]})
        job = wait_job(self.rpc, job_id)
        self.assertEqual((job["state"], job["kind"], job["completed"]), ("done", "send", 1), job)
        self.assertIn(job_id, [j["id"] for j in self.rpc.ossa.jobs.list()])
        self.assertEqual(self.remote.rpc().DBWindowFind(
            {"request": "patientID == 'P3'", "table": "Study"})["error"], "0")
        self.assertFault(lambda: self.rpc.ossa.send({"node": "SELF", "level": "STUDY",
                                                     "uids": ["1"]}), 500, "send")
        # A retrieve from a node that does not answer is pending/retried; cancel it.
        dead = self.rpc.ossa.nodes.add({"name": "GONE", "aet": "GONE", "host": "127.0.0.1",
                                        "port": h.free_port(), "retrieve": True})
        job_id = self.rpc.ossa.retrieve({"node": "GONE", "level": "STUDY", "uids": "1.2.3",
                                         "method": "get"})
        self.assertIs(self.rpc.ossa.jobs.cancel(job_id), True)
        self.assertEqual(wait_job(self.rpc, job_id)["state"], "cancelled")
        self.rpc.ossa.nodes.remove(dead["name"])
        # ossa.import of a folder, then ossa.delete and DBWindowFind's Delete.
        folder = Path(self.tmp.name) / "import"
        write_studies(folder.mkdir() or folder, {
            "PIMP": dict(name="Imp^Orted", study="1.2.826.0.1.3680043.10.7.1", acc="I1",
                         date="20210101", desc="Imported",
                         series=[("1.2.826.0.1.3680043.10.7.1.1", "CT", 2)])})
        (folder / "readme.txt").write_text("not dicom")
        r = getattr(self.rpc, "ossa.import")(str(folder))  # "import" is a Python keyword
        self.assertEqual((r["stored"], len(r["rejected"])), (2, 1), r)
        self.assertFault(lambda: getattr(self.rpc, "ossa.import")("relative/path"), -32602)
        self.assertFault(lambda: getattr(self.rpc, "ossa.import")("/no/such/folder"), 404)
        self.assertEqual(self.rpc.ossa.delete({"level": "SERIES",
                                               "uid": "1.2.826.0.1.3680043.10.7.1.1"}), 2)
        getattr(self.rpc, "ossa.import")(str(folder))
        r = self.find("study.patientID == 'PIMP'", "Image", execute="Delete")
        self.assertEqual(len(r["elements"]), 2)  # what matched, collected before the delete
        self.assertEqual(self.find("patientID == 'PIMP'"), {"error": "-1"})
        self.assertEqual(self.rpc.ossa.status()["instances"], 5)

    def test_plugins_list_and_system_methods(self):
        self.assertEqual(self.rpc.ossa.plugins.list(), [])
        names = self.rpc.system.listMethods()
        for expected in ("DBWindowFind", "FindObject", "KillOsiriX", "ossa.status", "ossa.find",
                         "ossa.jobs.cancel", "system.methodHelp"):
            self.assertIn(expected, names)
        self.assertNotIn("system.shutdown", names)
        self.assertIn("NSPredicate", self.rpc.system.methodHelp("dbwindowfind"))
        self.assertFault(lambda: self.rpc.system.methodHelp("nope"), -32601)


class PluginMethodsTest(unittest.TestCase):
    def test_plugin_methods_under_both_names(self):
        plugin = build_dir() / "tests" / "abi" / "frozen_v1_0.so"
        if not plugin.is_file():
            self.skipTest("test plugin %s not built" % plugin)
        with tempfile.TemporaryDirectory(prefix="ossa-xmlrpc-plugin-") as tmp:
            srv = h.set_plugins(h.OssaServer(tmp), [{"path": str(plugin)}])
            with srv:
                rpc = srv.rpc()
                (p,) = rpc.ossa.plugins.list()
                self.assertEqual((p["name"], p["methods"]), ("frozen", ["frozen.count"]))
                self.assertIn("frozen.count", rpc.system.listMethods())
                self.assertIn("ossa.frozen.count", rpc.system.listMethods())
                self.assertEqual(getattr(rpc, "frozen.count")(), {"stored": 0})
                h.make_instance(Path(tmp) / "a.dcm")
                self.assertEqual(srv.store([Path(tmp) / "a.dcm"]).returncode, 0)
                deadline = time.monotonic() + 10
                while getattr(rpc, "ossa.frozen.count")({"any": ["json", 1]})["stored"] != 1:
                    self.assertLess(time.monotonic(), deadline, "on_stored never counted")
                    time.sleep(0.1)
                self.assertEqual(getattr(rpc, "FROZEN.COUNT")(1, "two"), {"stored": 1})


class SecurityAndLifecycleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ossa-xmlrpc-sec-")

    def tearDown(self):
        self.tmp.cleanup()

    def test_token_required_and_checked(self):
        srv = h.OssaServer(self.tmp.name, xmlrpc={"token": TOKEN})
        with srv:
            body = xmlrpc.client.dumps((), "ossa.status")
            status, _ = raw_post(srv.xmlrpc_port, body)
            self.assertEqual(status, 401)
            status, _ = raw_post(srv.xmlrpc_port, body, {"Authorization": "Bearer wrong-token"})
            self.assertEqual(status, 401)
            status, _ = raw_post(srv.xmlrpc_port, body, {"Authorization": "Bearer " + TOKEN})
            self.assertEqual(status, 200)
            self.assertEqual(srv.rpc().ossa.status()["instances"], 0)  # Basic, password = token
            bad = xmlrpc.client.ServerProxy("http://ossa:nope@127.0.0.1:%d/" % srv.xmlrpc_port)
            with self.assertRaises(xmlrpc.client.ProtocolError) as ctx:
                bad.ossa.status()
            self.assertEqual(ctx.exception.errcode, 401)
            log = srv.log_text()
            self.assertRegex(log, r"xml-rpc: 401 for 127\.0\.0\.1:\d+ \(no credentials\)")
            self.assertRegex(log, r"xml-rpc: 401 for 127\.0\.0\.1:\d+ \(wrong credentials\)")

    def test_non_loopback_bind_without_token_refuses_to_start(self):
        srv = h.OssaServer(self.tmp.name, xmlrpc={"bind": "0.0.0.0"})
        r = h.ossa("serve", "--config", str(srv.config_path), timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("xmlrpc.token", r.out)
        self.assertIn("not a loopback address", r.out)

    def test_port_in_use_stops_start_up(self):
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(1)
            port = blocker.getsockname()[1]
            srv = h.OssaServer(self.tmp.name, xmlrpc={"port": port})
            r = h.ossa("serve", "--config", str(srv.config_path), timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot listen for XML-RPC on 127.0.0.1:%d" % port, r.out)

    def test_kill_osirix_stops_gracefully(self):
        srv = h.OssaServer(self.tmp.name)
        srv.start()
        try:
            self.assertIsNone(srv.rpc().KillOsiriX({}))
            srv.proc.wait(timeout=30)
            self.assertEqual(srv.proc.returncode, 0)
            self.assertIn("received SIGTERM", srv.log_text())
            self.assertIn("stopped", srv.log_text())
        finally:
            if srv.running():
                srv.kill()


if __name__ == "__main__":
    unittest.main(verbosity=2)
