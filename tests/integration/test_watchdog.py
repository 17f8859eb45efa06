#!/usr/bin/env python3
"""`ossa watchdog`: it runs `ossa serve`, probes /testdbalive and XML-RPC, and restarts a server
that stops answering (here: frozen with SIGSTOP) or keeps crashing (here: its HTTP port is taken),
with backoff; SIGTERM stops both gracefully."""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import ossa_harness as h

FAST = {"interval_seconds": 1, "timeout_seconds": 1, "failures_before_restart": 2,
        "grace_seconds": 3, "startup_seconds": 20, "max_backoff_seconds": 2}


def wait_until(predicate, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Watchdog:
    def __init__(self, tmpdir, http=None):
        self.server = h.OssaServer(tmpdir, http=http or {})
        self.server.config["watchdog"] = dict(FAST)
        if "xmlrpc" not in self.server.config:  # a free port, whether or not the harness gives one
            self.server.config["xmlrpc"] = {"port": h.free_port(), "bind": "127.0.0.1"}
        self.server.config_path.write_text(h.to_yaml(self.server.config))
        self.log_path = self.server.dir / "watchdog.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [h.require_ossa_bin(), "watchdog", "--config", str(self.server.config_path)],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, env=h.dcmtk_env())

    def text(self):
        return self.log_path.read_text(errors="replace")

    def server_pids(self):
        return [int(p) for p in re.findall(r"started ossa serve \(pid (\d+)\)", self.text())]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        for pid in self.server_pids():  # never leave a server behind
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        return self.proc.returncode


class TestWatchdog(unittest.TestCase):
    def setUp(self):
        h.require_ossa_bin(self)
        self.tmp = tempfile.TemporaryDirectory(prefix="ossa-watchdog-")

    def tearDown(self):
        self.tmp.cleanup()

    def test_frozen_server_is_killed_and_restarted(self):
        wd = Watchdog(self.tmp.name)
        try:
            self.assertTrue(wait_until(lambda: "answers its probes" in wd.text(), 20), wd.text())
            self.assertRegex(wd.text(), r"XML-RPC ossa\.status on 127\.0\.0\.1:\d+")
            self.assertTrue(wd.server.echo())
            first = wd.server_pids()[-1]

            os.kill(first, signal.SIGSTOP)  # hung: sockets accept, nothing answers
            self.assertTrue(wait_until(lambda: len(wd.server_pids()) >= 2, 25), wd.text())
            log = wd.text()
            self.assertRegex(log, r"probe failed \(1 of 2\): /testdbalive")
            self.assertRegex(log, r"probe failed \(2 of 2\)")
            self.assertRegex(log, r"stopping the server \(pid %d\): 2 consecutive probes failed; SIGTERM" % first)
            self.assertTrue(wait_until(lambda: not pid_alive(first), 10),
                            "the frozen server is still there")
            second = wd.server_pids()[-1]
            self.assertNotEqual(first, second)
            self.assertTrue(wait_until(lambda: wd.server.echo(timeout=5), 20),
                            "C-ECHO fails after the restart\n" + wd.text())
            self.assertTrue(wait_until(lambda: wd.text().count("answers its probes") >= 2, 20))
        finally:
            rc = wd.stop()
        self.assertEqual(rc, 0, wd.text())
        log = wd.text()
        self.assertIn("received SIGTERM; stopping the server, then exiting", log)
        self.assertRegex(log, r"watchdog: stopped")
        self.assertFalse(pid_alive(wd.server_pids()[-1]))

    def test_crash_loop_backs_off_then_recovers(self):
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        wd = Watchdog(self.tmp.name, http={"port": port})
        try:
            # The server cannot take its HTTP port: it exits at once, again and again.
            self.assertTrue(wait_until(lambda: len(wd.server_pids()) >= 4, 20), wd.text())
            waits = [int(s) for s in re.findall(r"starting it again in (\d+) s", wd.text())]
            self.assertGreaterEqual(len(waits), 3, wd.text())
            self.assertEqual(waits[:3], [1, 2, 2])  # doubling, capped at max_backoff_seconds
            self.assertIn("Address already in use", wd.text())
            blocker.close()
            self.assertTrue(wait_until(lambda: "answers its probes" in wd.text(), 20), wd.text())
            self.assertTrue(wd.server.echo())
        finally:
            blocker.close()
            rc = wd.stop()
        self.assertEqual(rc, 0, wd.text())


if __name__ == "__main__":
    h.main()
