#!/usr/bin/env python3
"""The HTTP server (core/http): GET /testdbalive answers OsiriX's success text only after a real
read of the index, and never when the index cannot answer (locked, damaged); a port in use stops
`ossa serve` with a clear message; plugins' routes (tests/abi/http_routes_plugin.cpp) answer, and
the ones that fail become 500s with a log line naming the plugin. Clients: curl and urllib."""

import fcntl
import os
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import ossa_harness as h

SUCCESS = "Test DB Alive succeeded"


def curl(url, *extra, timeout=10):
    """(status, headers text, body) from curl -i."""
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", str(timeout), *extra, url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 5)
    if r.returncode != 0:
        return None, "", r.stderr.decode("utf-8", "replace")
    raw = r.stdout.decode("utf-8", "replace")
    head, _, body = raw.partition("\r\n\r\n")
    status = int(head.split()[1])
    return status, head, body


def build_dir():
    return h.build_dir()



class TestDbAlive(unittest.TestCase):
    def setUp(self):
        if not h.have_tool("curl"):
            self.skipTest("curl is not installed")
        self.tmp = tempfile.TemporaryDirectory(prefix="ossa-http-")
        self.server = h.OssaServer(self.tmp.name).start()
        self.url = "http://127.0.0.1:%d/testdbalive" % self.server.http_port

    def tearDown(self):
        if self.server.running():
            self.server.kill()
        self.tmp.cleanup()

    def test_answers_like_osirix(self):
        status, head, body = curl(self.url)
        self.assertEqual(status, 200, body)
        self.assertRegex(head, r"(?im)^content-type: text/html")
        self.assertEqual(body, SUCCESS)
        # With instances in the index too; a query string is allowed (OsiriX compares the path).
        f = Path(self.tmp.name) / "one.dcm"
        h.make_instance(f)
        self.assertTrue(self.server.store([f]).succeeded())
        status, _, body = curl(self.url + "?probe=1")
        self.assertEqual((status, body), (200, SUCCESS))

    def hold_wal_locks(self):
        """Takes, as another process would, every lock of SQLite's WAL protocol (bytes 120-127 of
        the -shm file: writer, checkpointer, recovery and the read marks), so no connection can
        start a read: the index is locked. Returns the descriptor; closing it releases them."""
        fd = os.open(str(self.server.index_path) + "-shm", os.O_RDWR)
        deadline = time.monotonic() + 10
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120, os.SEEK_SET)
                return fd
            except OSError:  # the server is between two statements: try again
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise
                time.sleep(0.05)

    def test_locked_index_is_not_alive(self):
        fd = self.hold_wal_locks()
        try:
            started = time.monotonic()
            status, _, body = curl(self.url, timeout=15)
            took = time.monotonic() - started
            self.assertIn(status, (500, 503), body)
            self.assertNotIn(SUCCESS, body)
            self.assertRegex(body, r"(?i)lock|busy")
            self.assertLess(took, 10, "the answer must come promptly, not hang")
        finally:
            os.close(fd)
        status, _, body = curl(self.url)
        self.assertEqual((status, body), (200, SUCCESS))
        self.assertRegex(self.server.log_text(),
                         r"/testdbalive from 127\.0\.0\.1: the index does not answer")

    def test_an_exclusive_transaction_elsewhere_does_not_stop_reads(self):
        # WAL: another connection's write transaction (BEGIN EXCLUSIVE) leaves readers working, so
        # the index does answer, and /testdbalive says so.
        holder = sqlite3.connect(str(self.server.index_path), timeout=5, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            status, _, body = curl(self.url)
            self.assertEqual((status, body), (200, SUCCESS))
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    def test_damaged_index_is_not_alive(self):
        # The index replaced by garbage, as by a botched restore (the server's open connections
        # keep the old files; its WAL would still hold the first pages, so it goes too).
        index = self.server.index_path
        junk = index.with_name("junk")
        junk.write_bytes(b"this is not a database any more " * 512)
        os.replace(junk, index)
        for suffix in ("-wal", "-shm"):
            Path(str(index) + suffix).unlink()
        status, _, body = curl(self.url)
        self.assertIn(status, (500, 503), body)
        self.assertNotIn(SUCCESS, body)
        self.assertRegex(body, r"not a database")
        # And gone altogether.
        index.unlink()
        status, _, body = curl(self.url)
        self.assertIn(status, (500, 503), body)
        self.assertRegex(body, r"does not exist")

    def test_unknown_path_is_404(self):
        status, _, _ = curl("http://127.0.0.1:%d/nothing-here" % self.server.http_port)
        self.assertEqual(status, 404)
        status, _, _ = curl("http://127.0.0.1:%d/plugins/nobody/x" % self.server.http_port)
        self.assertEqual(status, 404)


class TestHttpPort(unittest.TestCase):
    def test_port_in_use_stops_serve(self):
        with tempfile.TemporaryDirectory(prefix="ossa-http-") as tmp:
            blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(1)
            port = blocker.getsockname()[1]
            try:
                server = h.OssaServer(tmp, http={"port": port})
                started = time.monotonic()
                r = h.ossa("serve", "--config", str(server.config_path), timeout=60)
                self.assertNotEqual(r.returncode, 0, r.out)
                self.assertLess(time.monotonic() - started, 30)
                self.assertRegex(r.stderr.decode("utf-8", "replace"),
                                 r"cannot listen for HTTP on 127\.0\.0\.1:%d: Address already in use" % port)
            finally:
                blocker.close()

    def test_bad_bind_is_a_config_error(self):
        with tempfile.TemporaryDirectory(prefix="ossa-http-") as tmp:
            server = h.OssaServer(tmp, http={"bind": "localhost"})
            r = h.ossa("check-config", str(server.config_path), timeout=30)
            self.assertNotEqual(r.returncode, 0, r.out)
            self.assertIn("http.bind", r.stderr.decode("utf-8", "replace"))


class TestPluginRoutes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not h.have_tool("curl"):
            raise unittest.SkipTest("curl is not installed")
        so = build_dir() / "tests" / "abi" / "http_routes.so"
        if not so.is_file():
            raise unittest.SkipTest("test plugin %s not built" % so)
        cls.tmp = tempfile.TemporaryDirectory(prefix="ossa-http-routes-")
        cls.server = h.set_plugins(h.OssaServer(cls.tmp.name), [{"path": str(so)}]).start()
        cls.base = "http://127.0.0.1:%d/plugins/webtest" % cls.server.http_port

    @classmethod
    def tearDownClass(cls):
        if cls.server.running():
            cls.server.kill()
        cls.tmp.cleanup()

    def test_bad_registrations_were_refused(self):
        self.assertIn("[webtest] refused 7 of 7 bad routes", self.server.log_text())

    def test_working_route(self):
        status, head, body = curl(self.base + "/hello/sub?a=1&b=%20x", "-H", "X-Probe: yes")
        self.assertEqual(status, 200, body)
        self.assertRegex(head, r"(?im)^x-plugin: webtest")
        self.assertRegex(head, r"(?im)^content-type: text/plain")
        self.assertEqual(body, "hello 127.0.0.1; path=/plugins/webtest/hello/sub; "
                               "query=a=1&b=%20x; x-probe=yes")
        # HEAD is answered by the GET route, without a body.
        status, _, body = curl(self.base + "/hello", "-I")
        self.assertEqual((status, body), (200, ""))
        # Only the prefix and below: /hellox is someone else's path.
        status, _, _ = curl(self.base + "/hellox")
        self.assertEqual(status, 404)

    def test_post_with_binary_body(self):
        payload = bytes(range(256)) * 4
        req = urllib.request.Request(self.base + "/echo/x", data=payload, method="POST",
                                     headers={"Content-Type": "application/x-test"})
        with urllib.request.urlopen(req, timeout=10) as answer:
            self.assertEqual(answer.status, 201)
            self.assertEqual(answer.headers["Content-Type"], "application/x-test")
            self.assertEqual(answer.read(), payload)
        # Another method on a known prefix: 405 naming the allowed one.
        status, head, _ = curl(self.base + "/echo", "-X", "DELETE")
        self.assertEqual(status, 405)
        self.assertRegex(head, r"(?im)^allow: POST")

    def test_failing_routes_are_contained(self):
        for path, says in (("/throws", r"this route always throws"),
                           ("/raw-throws", r"threw: raw route throws"),
                           ("/no-answer", r"without a response"),
                           ("/bad-status", r"http_response_set failed"),
                           ("/bad-header", r"http_response_header X-Split failed")):
            with self.subTest(path=path):
                status, _, body = curl(self.base + path)
                self.assertEqual(status, 500, body)
                self.assertIn("webtest", body)
                self.assertRegex(self.server.log_text(), r"\[webtest\].*" + says)
        # The server, its other routes and /testdbalive are unharmed.
        status, _, _ = curl(self.base + "/hello")
        self.assertEqual(status, 200)
        status, _, body = curl("http://127.0.0.1:%d/testdbalive" % self.server.http_port)
        self.assertEqual((status, body), (200, SUCCESS))
        self.assertTrue(self.server.echo())


if __name__ == "__main__":
    h.main()
