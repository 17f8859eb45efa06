"""Durability: SIGKILL during parallel ingest loses no acknowledged instance and leaves no debris;
SIGTERM lets a running association finish and exits 0."""

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402


class StoreProcess:
    """One storescu run whose output is read live, so acknowledgements can be counted while it
    runs. Maps each "Received Store Response (Success)" to the file of the preceding
    "Sending file:" line."""

    def __init__(self, port, files, aet="STORESCU", options=()):
        self.files = [str(f) for f in files]
        self.lines = []
        self.acked = []          # files with a Success response
        self.responses = {}      # file -> status text
        self._current = None
        self.proc = subprocess.Popen(h.storescu_args(port, files, aet=aet, options=options),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=h.dcmtk_env())
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = re.search(r"Sending file: (.*)$", line)
            if m:
                self._current = m.group(1).strip()
                continue
            m = re.search(r"Received Store Response \((.*)\)", line)
            if m and self._current:
                self.responses[self._current] = m.group(1)
                if m.group(1) == "Success":
                    self.acked.append(self._current)

    def wait(self, timeout=120):
        rc = self.proc.wait(timeout)
        self.thread.join(timeout)
        self.proc.stdout.close()
        return rc

    @property
    def output(self):
        return "\n".join(self.lines)


def make_files(folder, count, patient, study, series, rows=128, cols=128, seed=0):
    """Small CT images with distinct pixel data; returns [(path, sop uid)] in sending order."""
    out = []
    for i in range(count):
        ds = h.make_dataset(patient_id=patient, study_uid=study, series_uid=series,
                            rows=rows, cols=cols, bits=16, InstanceNumber=i + 1, seed=seed + i)
        p = h.write_part10(ds, Path(folder) / ("%04d.dcm" % i))
        out.append((str(p), str(ds.SOPInstanceUID)))
    return out


class DurabilityTest(h.TempDirTestCase):

    def check_consistent(self, srv):
        """Every index row's file exists and is the instance it claims to be, every file is an
        index row's, and tmp is empty."""
        rows = srv.query("SELECT sop_instance_uid, file_path, file_size FROM instances")
        problems = []
        for sop, rel, size in rows:
            f = srv.storage_path / rel
            if not f.is_file():
                problems.append("%s: file %s missing" % (sop, rel))
                continue
            if size is not None and f.stat().st_size != size:
                problems.append("%s: size %d, index says %s" % (sop, f.stat().st_size, size))
            try:
                ds = h.pydicom.dcmread(str(f), stop_before_pixels=True)
                if str(ds.SOPInstanceUID) != sop:
                    problems.append("%s: file holds %s" % (sop, ds.SOPInstanceUID))
            except Exception as e:  # noqa: BLE001 - any parse error is a finding
                problems.append("%s: unreadable file %s: %s" % (sop, rel, e))
        self.assertEqual(problems, [], "index/file inconsistencies after restart")
        # ... and every file in the store is an indexed instance's (no orphan from a transfer the
        # crash cut short, whether it was written under tmp/ or into a prepared file in place).
        indexed_files = {srv.storage_path / rel for _sop, rel, _size in rows}
        orphans = [p for p in srv.stored_files() if p not in indexed_files]
        self.assertEqual(orphans, [], "files without index rows after restart")
        self.assertEqual(srv.tmp_files(), [], "storage/tmp not empty after restart")
        return {r[0] for r in rows}

    def test_sigkill_during_parallel_ingest(self):
        srv = self.server()
        n_clients, per_client = 4, 150
        total = n_clients * per_client
        all_acked = set()
        all_batches = []
        # two rounds on the same storage: kill after ~20 % and after ~60 % were acknowledged
        for rnd, fraction in enumerate((0.2, 0.6)):
            batches = []
            for c in range(n_clients):
                study, series = h.new_uid(), h.new_uid()
                files = make_files(self.tmp / ("r%d-c%d" % (rnd, c)), per_client,
                                   "DUR%d" % c, study, series, seed=rnd * 10000 + c * 1000)
                batches.append((study, series, files))
            all_batches += batches
            clients = [StoreProcess(srv.port, [f for f, _ in b[2]], aet="DUR%d" % i)
                       for i, b in enumerate(batches)]
            start = time.monotonic()
            while time.monotonic() - start < 5.0:
                if sum(len(c.acked) for c in clients) >= total * fraction:
                    break
                if all(c.proc.poll() is not None for c in clients):
                    break
                time.sleep(0.002)
            acked_at_kill = sum(len(c.acked) for c in clients)
            self.assertEqual(srv.kill(), -9)
            for c in clients:
                try:
                    c.wait(60)
                except subprocess.TimeoutExpired:
                    c.proc.kill()
                    c.wait(10)
            sop_of = {f: sop for b in batches for f, sop in b[2]}
            acked = {sop_of[f] for c in clients for f in c.acked}
            all_acked |= acked
            print("\nround %d: %d of %d acknowledged at SIGKILL, %d in total"
                  % (rnd, acked_at_kill, total, len(acked)), file=sys.stderr)
            self.assertGreater(len(acked), 0, "no store was acknowledged before the kill:\n"
                               + clients[0].output[-2000:])
            if len(acked) == total:
                print("note: every store finished before SIGKILL; the kill hit no ingest",
                      file=sys.stderr)

            srv.start()
            indexed = self.check_consistent(srv)
            missing = all_acked - indexed
            self.assertEqual(missing, set(), "%d acknowledged instances lost after SIGKILL"
                             % len(missing))
            for study, series, files in all_batches:
                want = {sop for f, sop in files if sop in all_acked}
                r = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", series),
                              ("SOPInstanceUID", None)], level="IMAGE", workdir=self.tmp)
                self.assertEqual(r.final_status, 0, r.output[-1500:])
                got = set(r.strs("SOPInstanceUID"))
                self.assertEqual(want - got, set(), "acknowledged instances not findable")
                self.assertTrue(got <= {sop for _f, sop in files})
        # the unacknowledged ones can be sent again and are stored
        rest = [f for b in all_batches for f, sop in b[2] if sop not in all_acked][:60]
        if rest:
            res = srv.store(rest)
            self.assertEqual(len(res.succeeded()), len(rest), res.output[-2000:])
        self.assertEqual(srv.stop(), 0)
        srv.start()
        self.check_consistent(srv)

    def test_sigterm_lets_association_finish(self):
        srv = self.server(shutdown_timeout=60)
        study, series = h.new_uid(), h.new_uid()
        files = make_files(self.tmp / "t", 300, "TERM", study, series)
        client = StoreProcess(srv.port, [f for f, _ in files], aet="TERMSCU")
        start = time.monotonic()
        while len(client.acked) < 20 and client.proc.poll() is None \
                and time.monotonic() - start < 30:
            time.sleep(0.002)
        finished_early = client.proc.poll() is not None
        srv.proc.send_signal(h.signal.SIGTERM)
        rc_client = client.wait(120)
        try:
            rc_server = srv.proc.wait(90)
        except subprocess.TimeoutExpired:
            srv.kill()
            self.fail("server did not exit within 90 s of SIGTERM")
        srv._close_log()
        if finished_early:
            print("note: the association finished before SIGTERM", file=sys.stderr)
        self.assertEqual(rc_client, 0, "storescu during SIGTERM:\n" + client.output[-3000:])
        self.assertEqual(len(client.acked), len(files), "stores acknowledged during shutdown")
        self.assertEqual(rc_server, 0, "exit code after SIGTERM")
        # a new association is refused once the server is gone
        self.assertFalse(srv.echo(timeout=10))
        srv.start()
        indexed = self.check_consistent(srv)
        self.assertTrue({sop for _f, sop in files} <= indexed)

    def test_sigterm_idle_exits_zero_and_restart_keeps_data(self):
        srv = self.server()
        f = self.tmp / "one.dcm"
        ds = h.make_instance(f, patient_id="IDLE")
        self.assertEqual(srv.store([f]).code(f), 0)
        t0 = time.monotonic()
        self.assertEqual(srv.stop(timeout=30), 0)
        self.assertLess(time.monotonic() - t0, 15, "idle shutdown took too long")
        srv.start()
        self.assertEqual(len(srv.instance_rows(str(ds.SOPInstanceUID))), 1)
        r = srv.find([("PatientID", "IDLE")], level="STUDY", workdir=self.tmp)
        self.assertEqual(len(r.datasets), 1)

    def test_stale_temp_files_removed_on_start(self):
        srv = self.server(start=False)
        srv.tmp_path.mkdir(parents=True, exist_ok=True)
        junk = srv.tmp_path / "leftover-from-a-crash.part"
        junk.write_bytes(b"\0" * 1000)
        srv.start()
        self.assertEqual(srv.tmp_files(), [], "temp files from before the start must be removed")

    def test_index_is_wal(self):
        srv = self.server()
        f = self.tmp / "w.dcm"
        h.make_instance(f)
        self.assertEqual(srv.store([f]).code(f), 0)
        mode = srv.query("PRAGMA journal_mode")[0][0]
        self.assertEqual(str(mode).lower(), "wal")

    def test_restart_after_crash_between_commit_and_move(self):
        """Simulates a SIGKILL after the index commit but before the file left tmp/ (the
        pipeline's step 3): the file of an indexed instance lies in tmp/ under its final base
        name. After a restart it must be in place again, not deleted as debris."""
        srv = self.server()
        f = self.tmp / "c.dcm"
        ds = h.make_instance(f, patient_id="MOVE")
        sop = str(ds.SOPInstanceUID)
        self.assertEqual(srv.store([f]).code(f), 0)
        final = srv.stored_file(sop)
        self.assertEqual(srv.kill(), -9)
        moved = srv.tmp_path / final.name
        final.rename(moved)
        srv.start()
        self.check_consistent(srv)
        self.assertTrue(srv.stored_file(sop).is_file())
        self.assertEqual(h.dataset_bytes(srv.stored_file(sop)), h.dataset_bytes(f))
        r = srv.find([("PatientID", "MOVE")], level="STUDY", workdir=self.tmp)
        self.assertEqual(len(r.datasets), 1)


if __name__ == "__main__":
    h.main()
