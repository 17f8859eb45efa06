"""A disk that really fills up: storage on a small tmpfs.

Each C-STORE that no longer fits is refused with A700 (out of resources), nothing half-written is
left behind, what was acknowledged before stays indexed and findable, and the server keeps
serving (echo, queries, and stores again once space is freed).
"""
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

from ossa_harness import OssaServer, make_instance, new_uid


def mount_tmpfs(path, size):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", str(path)],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ossa-diskfull-")
        self.addCleanup(self.tmp.cleanup)  # cleanups run last-in first-out: unmount first
        self.mount_point = Path(self.tmp.name) / "small"
        self.mount_point.mkdir()
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root (CI runs as root)")
        ok, why = mount_tmpfs(self.mount_point, "3m")
        if not ok:
            self.skipTest("cannot mount a tmpfs here: " + why)
        self.addCleanup(subprocess.run, ["umount", "-l", str(self.mount_point)])

    def test_full_disk_refuses_with_a700_and_keeps_serving(self):
        work = Path(self.tmp.name)
        # Room to give back later: the test frees it to show storing works again.
        filler = self.mount_point / "filler.bin"
        filler.write_bytes(b"\0" * (1 << 20))
        study = new_uid()
        files = []
        for i in range(10):  # 10 x 512 KiB into the ~2 MiB left: the last ones cannot fit
            f = work / "in" / ("ct%02d.dcm" % i)
            make_instance(f, patient_id="FULL", study_uid=study, rows=512, cols=512, bits=16,
                          InstanceNumber=i + 1)
            files.append(f)
        server = OssaServer(work / "srv", storage={"path": str(self.mount_point / "storage"),
                                                   "min_free_mb": 0})
        with server:
            stored, refused = [], []
            # One association per file: a refusal must not stop the next ones.
            for f in files:
                r = server.store([f])
                code = r.code(f)
                self.assertIsNotNone(code, r.output)
                (stored if code == 0 else refused).append((f, code))
            self.assertGreater(len(stored), 0)
            self.assertGreater(len(refused), 0, "the small disk never filled up")
            for f, code in refused:
                self.assertEqual(code, 0xA700, "%s: 0x%04X" % (f, code))
            self.assertEqual(server.tmp_files(), [], "half-written files left in tmp/")
            self.assertTrue(server.echo(), "server stopped answering after a full disk")
            # Exactly the acknowledged instances are indexed, each with its file.
            rows = server.query("SELECT count(*) FROM instances")[0][0]
            self.assertEqual(rows, len(stored))
            for (path,) in server.query("SELECT file_path FROM instances"):
                self.assertTrue((server.storage_path / path).is_file(), path)
            stored_files = server.stored_files()
            self.assertEqual(len(stored_files), len(stored), "files without index rows")
            # Space comes back: storing works again without a restart.
            filler.unlink()
            extra = work / "in" / "small.dcm"
            make_instance(extra, patient_id="FULL", study_uid=study)
            r = server.store([extra])
            self.assertEqual(r.code(extra), 0, r.output)


if __name__ == "__main__":
    unittest.main(verbosity=2)
