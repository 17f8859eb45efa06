"""200 simultaneous associations with the default server.max_associations: 140 held open at once
(raw A-ASSOCIATE-RQ, released at the end), 48 storescu/findscu/getscu processes working meanwhile
and 12 stalled peers. None refused, none failing, the stalled ones closed after their ACSE/DIMSE
timeouts, and the server's threads and sockets back to their baseline afterwards.
(bench/concurrency.py does the same with 500 DCMTK clients and the default timeouts.)"""

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "bench"))
import ossa_harness as h  # noqa: E402
import dul  # noqa: E402  (raw A-ASSOCIATE-RQ and /proc readings, shared with bench/concurrency.py)

ACSE, DIMSE = 2, 8  # short, so the stalled peers are freed within the test's time
SLACK = 6


def stalled_peer(port, kind, i):
    if kind == "idle":  # association established, then nothing
        return dul.open_association(port, calling="STALL%d" % i, timeout=10)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if kind == "half":  # half an A-ASSOCIATE-RQ
        rq = dul.associate_rq(calling="STALL%d" % i)
        sock.sendall(rq[:len(rq) // 2])
    return sock


class ManyClientsTest(h.TempDirTestCase):

    def test_two_hundred_clients_and_stalled_peers(self):
        srv = self.server(acse_timeout=ACSE, dimse_timeout=DIMSE)
        self.assertNotIn("max_associations", srv.config["server"])  # the default is under test
        self.assertIn("(max 1000 associations)", srv.log_text())
        pid = srv.proc.pid
        env = h.dcmtk_env()

        seed_study, seed_series = h.new_uid(), h.new_uid()
        seed = [h.write_part10(h.make_dataset(patient_id="SEED", study_uid=seed_study,
                                              series_uid=seed_series, InstanceNumber=i + 1),
                               self.tmp / "seed" / ("%d.dcm" % i)) for i in range(5)]
        self.assertTrue(h.storescu(srv.port, seed).succeeded())
        n_held, n_store, n_find, n_get, per_store = 140, 24, 14, 10, 3
        for c in range(n_store):
            study, series = h.new_uid(), h.new_uid()
            for i in range(per_store):
                ds = h.make_dataset(patient_id="MANY%03d" % c, study_uid=study, series_uid=series,
                                    InstanceNumber=i + 1)
                h.write_part10(ds, self.tmp / ("s%03d" % c) / ("%d.dcm" % i))
        query = ["-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=" + seed_study,
                 "-k", "PatientName", "-k", "NumberOfStudyRelatedInstances"]

        time.sleep(0.5)
        base_threads, _, _, _ = dul.process_counts(pid)
        base_sockets = dul.socket_fds(pid)

        stalled = []
        for i, kind in enumerate(["silent", "half", "idle"] * 4):
            stalled.append((kind, stalled_peer(srv.port, kind, i), time.monotonic()))

        # Watched from another thread while the clients run: when does the server close each?
        closed = {}
        watching = threading.Event()

        def watch():
            while not watching.is_set() and len(closed) < len(stalled):
                for i, (kind, sock, opened) in enumerate(stalled):
                    if i not in closed and dul.peer_closed(sock):
                        closed[i] = time.monotonic() - opened
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

        # The held associations stay busy (a C-ECHO each per second, from their opening on) so that
        # the DIMSE timeout does not end them while the other clients work.
        held = []
        echoes = {"ok": 0, "failed": 0}
        keepalive_stop = threading.Event()

        def keepalive():
            n = 1
            while not keepalive_stop.wait(1.0):
                n += 1
                for sock in list(held):
                    try:
                        echoes["ok" if dul.echo(sock, n) else "failed"] += 1
                    except (OSError, ConnectionError):
                        echoes["failed"] += 1

        pinger = threading.Thread(target=keepalive, daemon=True)
        pinger.start()
        for i in range(n_held):
            held.append(dul.open_association(srv.port, calling="HELD%d" % i, timeout=30))
        threads_held = dul.process_counts(pid)[0]

        kinds = ["store"] * n_store + ["find"] * n_find + ["get"] * n_get
        random.Random(3).shuffle(kinds)
        procs, stores = [], 0
        peak_threads = 0
        for i, kind in enumerate(kinds):
            common = ["-aec", "OSSA", "-aet", "%s%d" % (kind.upper(), i), "-to", "60"]
            if kind == "store":
                cmd = ["storescu"] + common + ["+sd", "127.0.0.1", str(srv.port),
                                               str(self.tmp / ("s%03d" % stores))]
                stores += 1
            elif kind == "find":
                cmd = ["findscu", "-S"] + common + ["--repeat", "5", "127.0.0.1", str(srv.port)] + query
            else:
                cmd = ["getscu", "-v", "-S"] + common + ["--ignore", "-k", "QueryRetrieveLevel=STUDY",
                                                         "-k", "StudyInstanceUID=" + seed_study,
                                                         "127.0.0.1", str(srv.port)]
            procs.append((kind, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT, env=env)))
            if i % 8 == 7:
                peak_threads = max(peak_threads, dul.process_counts(pid)[0])
        for kind, p in procs:
            out = p.communicate(timeout=120)[0].decode("utf-8", "replace")
            self.assertEqual(p.returncode, 0, "%s client failed:\n%s" % (kind, out[-1500:]))
            if kind == "get":
                self.assertEqual(out.count("Received C-STORE Request"), len(seed), out[-1500:])

        keepalive_stop.set()
        pinger.join()
        self.assertEqual(echoes["failed"], 0)
        for sock in held:
            self.assertTrue(dul.echo(sock, 9999))
            self.assertTrue(dul.release(sock))

        # every stalled peer is closed by the server: before association after the ACSE timeout,
        # an idle association after the DIMSE timeout (A-ABORT) plus at most ARTIM for the close
        watcher.join(timeout=max(0.0, stalled[-1][2] + DIMSE + ACSE + SLACK - time.monotonic()))
        watching.set()
        watcher.join()
        for i, (kind, sock, _) in enumerate(stalled):
            sock.close()
            self.assertIn(i, closed, "stalled %s peer #%d still open" % (kind, i))
            limit = (DIMSE + ACSE if kind == "idle" else ACSE) + SLACK
            self.assertLessEqual(closed[i], limit, "stalled %s peer #%d" % (kind, i))

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            threads, sockets = dul.process_counts(pid)[0], dul.socket_fds(pid)
            if threads <= base_threads and sockets <= base_sockets:
                break
            time.sleep(0.2)
        self.assertLessEqual(threads, base_threads, "threads %d -> %d" % (base_threads, threads))
        self.assertLessEqual(sockets, base_sockets, "sockets %d -> %d" % (base_sockets, sockets))
        # one thread per connection while they were open
        self.assertGreaterEqual(threads_held, base_threads + n_held + len(stalled))
        self.assertGreaterEqual(peak_threads, threads_held)

        log = srv.log_text()
        refused = [ln for ln in log.splitlines()
                   if "rejected" in ln or "closed:" in ln or "cannot start a thread" in ln]
        self.assertEqual(refused, [])
        self.assertEqual(len(srv.indexed_sop_uids()), len(seed) + n_store * per_store)
        self.assertEqual(len(held), n_held)
        self.assertTrue(srv.echo())


if __name__ == "__main__":
    h.main()
