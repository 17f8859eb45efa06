"""ossa version / ossa check-config: output and error positions."""

import re
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402

GOOD = """\
server:
  aet: OSSA
  port: 11112
  bind: 127.0.0.1
storage:
  path: storage
  duplicates: keep
  min_free_mb: 0
index:
  path: index.sqlite
log:
  level: debug
"""


class CliTest(h.TempDirTestCase):

    def write(self, name, text):
        p = (self.tmp / name).resolve()
        p.write_text(text)
        return p

    def check_config(self, path):
        return h.ossa("check-config", str(path), timeout=30)

    # ---------------------------------------------------------------------------------------------
    def test_version(self):
        r = h.ossa("version", timeout=30)
        self.assertEqual(r.returncode, 0, r.out)
        out = r.stdout.decode("utf-8", "replace")
        lines = out.splitlines()
        self.assertTrue(lines, "ossa version printed nothing on stdout")
        self.assertRegex(lines[0], r"^ossa \d+\.\d+\.\d+\b", out)
        self.assertTrue(any("DCMTK 3.6.7" in l for l in lines), out)
        # The SQLite the system has (Debian 12: 3.40.1); /usr/bin/python3 links the same library.
        self.assertTrue(any(("SQLite " + sqlite3.sqlite_version) in l for l in lines),
                        "expected 'SQLite %s' in:\n%s" % (sqlite3.sqlite_version, out))
        self.assertTrue(any("SQLite 3.40.1" in l for l in lines), out)

    def test_repo_config_is_valid(self):
        path = h.REPO / "config" / "ossa.yaml"
        self.assertTrue(path.is_file(), path)
        r = self.check_config(path)
        self.assertEqual(r.returncode, 0, r.out)
        self.assertIn("OK", r.stdout.decode("utf-8", "replace"), r.out)

    def test_good_config(self):
        r = self.check_config(self.write("good.yaml", GOOD))
        self.assertEqual(r.returncode, 0, r.out)
        self.assertIn("OK", r.stdout.decode(), r.out)

    def test_missing_file(self):
        r = self.check_config(self.tmp / "does-not-exist.yaml")
        self.assertNotEqual(r.returncode, 0, r.out)
        self.assertIn("does-not-exist.yaml", r.stderr.decode("utf-8", "replace"))

    # ---------------------------------------------------------------------------------------------
    # Each bad config: (name, text, line, column, key or None, words expected in the message)
    BAD = [
        ("unknown_key",
         GOOD.replace("  bind: 127.0.0.1\n", "  bind: 127.0.0.1\n  colour: blue\n"),
         5, 3, "server.colour", []),
        ("unknown_section",
         GOOD + "extras:\n  x: 1\n", 13, 1, "extras", []),
        ("bad_port_type",
         GOOD.replace("  port: 11112\n", "  port: eleven\n"), 3, 9, "server.port", ["eleven"]),
        ("port_out_of_range",
         GOOD.replace("  port: 11112\n", "  port: 70000\n"), 3, 9, "server.port", ["70000"]),
        ("bad_duplicates",
         GOOD.replace("  duplicates: keep\n", "  duplicates: sometimes\n"), 7, 15,
         "storage.duplicates", ["sometimes"]),
        ("bad_log_level",
         GOOD.replace("  level: debug\n", "  level: loud\n"), 12, 10, "log.level", ["loud"]),
        ("bad_min_free",
         GOOD.replace("  min_free_mb: 0\n", "  min_free_mb: lots\n"), 8, 16, "storage.min_free_mb",
         []),
        ("allowed_callers_not_list",
         GOOD.replace("  bind: 127.0.0.1\n", "  bind: 127.0.0.1\n  allowed_callers:\n    a: b\n"),
         6, 5, "server.allowed_callers", []),
        # yaml-cpp reports "illegal map value" at the second colon (line 3, column 14).
        ("yaml_syntax_error",
         GOOD.replace("  port: 11112\n", "  port: 11112: 5\n"), 3, 14, None, []),
    ]

    def test_bad_configs(self):
        for name, text, line, col, key, words in self.BAD:
            with self.subTest(name):
                path = self.write(name + ".yaml", text)
                r = self.check_config(path)
                err = r.stderr.decode("utf-8", "replace")
                self.assertNotEqual(r.returncode, 0, "check-config accepted %s:\n%s" % (name, r.out))
                self.assertNotIn("OK", r.stdout.decode("utf-8", "replace"))
                first = err.strip().splitlines()[0] if err.strip() else ""
                prefix = "%s:%d:%d: " % (path, line, col)
                self.assertTrue(first.startswith(prefix),
                                "%s: expected the first stderr line to start with %r, got:\n%s"
                                % (name, prefix, err))
                if key is not None:
                    self.assertTrue(first[len(prefix):].startswith(key + ": "),
                                    "%s: expected key %r after the position in %r" % (name, key, first))
                for w in words:
                    self.assertIn(w, first)

    def test_missing_storage_path(self):
        path = self.write("nostorage.yaml", GOOD.replace("  path: storage\n", ""))
        r = self.check_config(path)
        self.assertNotEqual(r.returncode, 0, r.out)
        self.assertIn("storage.path", r.stderr.decode("utf-8", "replace"))

    def test_serve_refuses_bad_config(self):
        path = self.write("bad.yaml", GOOD.replace("  bind: 127.0.0.1\n", "  bind: 127.0.0.1\n  colour: blue\n"))
        r = h.ossa("serve", "--config", str(path), timeout=30)
        self.assertNotEqual(r.returncode, 0, r.out)
        self.assertIn("server.colour", r.stderr.decode("utf-8", "replace"))


if __name__ == "__main__":
    h.main()
