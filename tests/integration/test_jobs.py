"""Durable jobs run by the server, queued from the command line: send to a node, retrieve from a
node (C-MOVE into Ossa, or C-GET), resumption after SIGKILL, retry and cancel; deletion.

The remote "PACS" of the retrieve tests is a second Ossa; the send destination is DCMTK's storescp.
"""
import re
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import ossa_harness as h


def ossa_cli(server, *args, timeout=120):
    return h.run([h.require_ossa_bin(), args[0], "--config", str(server.config_path)] +
                 [str(a) for a in args[1:]], timeout=timeout)


def make_study(folder, count, patient_id="JOB1", rows=8):
    study = h.new_uid()
    series = h.new_uid()
    files = []
    for i in range(count):
        f = Path(folder) / ("i%04d.dcm" % i)
        h.make_instance(f, patient_id=patient_id, study_uid=study, series_uid=series, rows=rows,
                        cols=rows, InstanceNumber=i + 1)
        files.append(f)
    return study, files


def received_store_requests(scp):
    return len(re.findall(r"Received Store Request", scp.log_text()))


class JobsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ossa-jobs-")
        self.addCleanup(self.tmp.cleanup)
        self.work = Path(self.tmp.name)

    def start_scp(self, name="DEST"):
        scp = h.StoreScpProcess(self.work / name.lower(), aet=name, options=["+xa"]).start()
        self.addCleanup(scp.stop)
        return scp

    def test_send_job_delivers_a_study(self):
        scp = self.start_scp()
        server = h.OssaServer(self.work / "ossa")
        h.set_nodes(server, [h.node("DEST", scp.port, send=True)])
        with server:
            study, files = make_study(self.work / "in", 12)
            self.assertEqual(server.store(files).returncode, 0)
            r = ossa_cli(server, "send", "DEST", "--level", "STUDY", "--wait", study)
            self.assertEqual(r.returncode, 0, r.out)
            self.assertIn("done", r.out)
            received = h.dicom_files_by_sop(scp.outdir)
            self.assertEqual(len(received), 12)
            listed = ossa_cli(server, "jobs")
            self.assertRegex(listed.out, r"job \d+: send STUDY .* to DEST: done, 12/12 done, 0 failed")

    def test_send_to_a_node_without_send_permission_is_refused(self):
        server = h.OssaServer(self.work / "ossa")
        h.set_nodes(server, [h.node("VIEWER", 9, send=False)])
        with server:
            r = ossa_cli(server, "send", "VIEWER", "--level", "STUDY", "1.2.3")
            self.assertEqual(r.returncode, 2, r.out)
            self.assertIn("does not allow send", r.out)
            r = ossa_cli(server, "send", "NOBODY", "--level", "STUDY", "1.2.3")
            self.assertEqual(r.returncode, 2, r.out)

    def test_interrupted_send_resumes_after_sigkill(self):
        scp = self.start_scp()
        server = h.OssaServer(self.work / "ossa")
        h.set_nodes(server, [h.node("DEST", scp.port, send=True)])
        with server:
            study, files = make_study(self.work / "in", 300, rows=64)
            self.assertEqual(server.store(files).returncode, 0)
            r = ossa_cli(server, "send", "DEST", "--level", "STUDY", study)
            self.assertEqual(r.returncode, 0, r.out)
            job_id = re.search(r"queued job (\d+)", r.out).group(1)
            deadline = time.monotonic() + 60
            while received_store_requests(scp) < 30 and time.monotonic() < deadline:
                time.sleep(0.02)
            server.kill()
            before = received_store_requests(scp)
            self.assertLess(before, 300, "the job finished before the kill; make it longer")
            server.start()
            w = ossa_cli(server, "jobs", job_id, "--wait", timeout=180)
            self.assertEqual(w.returncode, 0, w.out)
            received = h.dicom_files_by_sop(scp.outdir)
            self.assertEqual(len(received), 300)
            # Only what was in flight at the kill may arrive twice (same SOP Instance UID).
            self.assertLessEqual(received_store_requests(scp), 300 + 2)

    def test_unreachable_node_is_retried_then_cancelled(self):
        server = h.OssaServer(self.work / "ossa")
        h.set_nodes(server, [h.node("GONE", h.free_port(), send=True)])
        with server:
            study, files = make_study(self.work / "in", 2)
            server.store(files)
            r = ossa_cli(server, "send", "GONE", "--level", "STUDY", study)
            job_id = re.search(r"queued job (\d+)", r.out).group(1)
            deadline = time.monotonic() + 30
            state = ""
            while time.monotonic() < deadline:
                state = ossa_cli(server, "jobs", job_id).out
                if "pending" in state and "attempt" not in state and re.search(r"; .+", state):
                    break
                time.sleep(0.2)
            self.assertIn("pending", state)  # waiting for its next attempt, with the reason
            c = ossa_cli(server, "jobs", "--cancel", job_id)
            self.assertEqual(c.returncode, 0, c.out)
            self.assertIn("cancelled", ossa_cli(server, "jobs", job_id).out)

    def remote_pacs(self, name, nodes=()):
        remote = h.OssaServer(self.work / name, aet=name)
        h.set_nodes(remote, list(nodes))
        remote.start()
        self.addCleanup(remote.stop)
        return remote

    def test_retrieve_by_get_and_by_move_from_another_pacs(self):
        local = h.OssaServer(self.work / "local")
        local_port = local.port
        remote = self.remote_pacs("REMOTE", [h.node("OSSA", local_port, move_destination=True)])
        study_get, files_get = make_study(self.work / "g", 5, patient_id="R1")
        study_move, files_move = make_study(self.work / "m", 4, patient_id="R2")
        self.assertEqual(remote.store(files_get + files_move).returncode, 0)
        h.set_nodes(local, [h.node("REMOTE", remote.port, retrieve=True, move_destination=False)])
        with local:
            r = ossa_cli(local, "retrieve", "REMOTE", "--get", "--level", "STUDY", "--wait",
                         study_get)
            self.assertEqual(r.returncode, 0, r.out)
            r = ossa_cli(local, "retrieve", "REMOTE", "--level", "STUDY", "--wait", study_move)
            self.assertEqual(r.returncode, 0, r.out)
            for study, files in ((study_get, files_get), (study_move, files_move)):
                rows = local.query(
                    "SELECT count(*) FROM instances i JOIN series se ON i.series_fk = se.id "
                    "JOIN studies st ON se.study_fk = st.id WHERE st.study_instance_uid = ?",
                    (study,))
                self.assertEqual(rows[0][0], len(files))

    def test_nodes_added_at_run_time_are_used_at_once_and_kept(self):
        scp = self.start_scp("LATE")
        server = h.OssaServer(self.work / "ossa")
        with server:
            study, files = make_study(self.work / "in", 3)
            server.store(files)
            keys = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=" + study]
            self.assertEqual(h.movescu(server.port, keys, dest="LATE").final_status, 0xA801)
            r = ossa_cli(server, "nodes", "add", "LATE", "LATE", "127.0.0.1", scp.port,
                         "--move-destination")
            self.assertEqual(r.returncode, 0, r.out)
            self.assertEqual(h.movescu(server.port, keys, dest="LATE").final_status, 0)
            self.assertEqual(len(h.dicom_files_by_sop(scp.outdir)), 3)
            server.stop()
            server.start()
            self.assertIn("LATE", ossa_cli(server, "nodes").out)  # kept in the index
            r = ossa_cli(server, "nodes", "add", "OTHER", "LATE", "127.0.0.1", 9)
            self.assertEqual(r.returncode, 1, r.out)  # the AE title belongs to LATE
            self.assertEqual(ossa_cli(server, "nodes", "remove", "LATE").returncode, 0)
            self.assertEqual(h.movescu(server.port, keys, dest="LATE").final_status, 0xA801)

    def test_delete_then_receive_again(self):
        server = h.OssaServer(self.work / "ossa")
        with server:
            study, files = make_study(self.work / "in", 3)
            server.store(files)
            r = ossa_cli(server, "delete", "STUDY", study)
            self.assertEqual(r.returncode, 0, r.out)
            self.assertIn("3 instance(s) deleted", r.out)
            self.assertEqual(server.query("SELECT count(*) FROM instances")[0][0], 0)
            files_left = server.stored_files()
            self.assertEqual(files_left, [])
            self.assertEqual(server.query("SELECT count(*) FROM pending_files")[0][0], 0)
            r = ossa_cli(server, "delete", "STUDY", study)
            self.assertEqual(r.returncode, 1, r.out)  # nothing left to delete
            self.assertEqual(server.store(files).returncode, 0)
            self.assertEqual(server.query("SELECT count(*) FROM instances")[0][0], 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
