"""The plugin SDK end to end, as a plugin author uses it.

`cmake --install` of the build under test into a temporary prefix; sdk/template built OUT OF TREE
against that prefix (find_package(OssaSDK) through CMAKE_PREFIX_PATH); `ossa plugin-info` on the
result; then a server that loads it from its `plugins:` list, with a `config:` the template reads:
an instance stored without InstitutionName comes back from C-FIND (SERIES level, where the index
keeps InstitutionName) with the value the plugin set, one that had its own keeps it, and the log
shows the template's on_stored, timer and shutdown lines under its name.

The build folder is $OSSA_BUILD_DIR, else the parent of the folder of $OSSA_BIN (build/core/ossa).
"""

import os
import re
import shutil
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ossa_harness as h  # noqa: E402
import pydicom  # noqa: E402

INSTITUTION = "TEMPLATE HOSPITAL"


def build_dir():
    env = os.environ.get("OSSA_BUILD_DIR")
    path = Path(env) if env else Path(h.ossa_bin()).resolve().parent.parent
    if not (path / "CMakeCache.txt").is_file():
        raise AssertionError("no CMake build folder at %s (set OSSA_BUILD_DIR)" % path)
    return path


def cmake(*args, cwd=None, timeout=600):
    exe = shutil.which("cmake")
    if exe is None:
        raise AssertionError("cmake not found in PATH")
    return h.run([exe] + list(args), timeout=timeout, env=dict(os.environ), cwd=cwd)


def wait_for(predicate, timeout=30.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class SdkTemplateTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.require_ossa_bin()
        cls.tmp = Path(tempfile.mkdtemp(prefix="ossa-it-sdk-"))
        cls.prefix = cls.tmp / "prefix"
        r = cmake("--install", str(build_dir()), "--prefix", str(cls.prefix))
        if r.returncode != 0:
            raise AssertionError("cmake --install failed:\n" + r.out[-4000:])

        # The template, copied out of the source tree and built against the installed package only.
        cls.src = cls.tmp / "my_plugin"
        shutil.copytree(h.REPO / "sdk" / "template", cls.src)
        cls.bld = cls.tmp / "my_plugin-build"
        r = cmake("-S", str(cls.src), "-B", str(cls.bld), "-DCMAKE_PREFIX_PATH=%s" % cls.prefix,
                  "-DCMAKE_BUILD_TYPE=RelWithDebInfo")
        if r.returncode != 0:
            raise AssertionError("configuring the template failed:\n" + r.out[-4000:])
        cls.configure_output = r.out
        r = cmake("--build", str(cls.bld), "-j2")
        if r.returncode != 0:
            raise AssertionError("building the template failed:\n" + r.out[-4000:])
        cls.build_output = r.out
        cls.plugin = cls.bld / "my_plugin.so"

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("OSSA_KEEP_TMP"):
            print("kept %s" % cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # the installed SDK -----------------------------------------------------------------------------
    def test_install_layout(self):
        for rel in ("bin/ossa", "include/ossa/plugin.h", "include/ossa/sdk.hpp",
                    "lib/cmake/OssaSDK/OssaSDKConfig.cmake",
                    "lib/cmake/OssaSDK/OssaSDKConfigVersion.cmake",
                    "lib/cmake/OssaSDK/OssaSDKTargets.cmake",
                    "lib/cmake/OssaSDK/OssaPlugin.cmake",
                    "lib/cmake/OssaSDK/ossa_plugin.map"):
            self.assertTrue((self.prefix / rel).is_file(), "not installed: %s" % rel)

    def test_template_was_built_against_the_installed_package(self):
        cache = (self.bld / "CMakeCache.txt").read_text()
        m = re.search(r"^OssaSDK_DIR:PATH=(.*)$", cache, re.M)
        self.assertIsNotNone(m, "OssaSDK_DIR not in the template's CMakeCache")
        self.assertEqual(Path(m.group(1)).resolve(),
                         (self.prefix / "lib" / "cmake" / "OssaSDK").resolve())
        self.assertTrue(self.plugin.is_file(), "no my_plugin.so in %s" % self.bld)
        self.assertNotIn("warning:", self.build_output, self.build_output[-3000:])

    def test_package_version_is_the_abi_version(self):
        proj = self.tmp / "wants-abi-2"
        proj.mkdir(exist_ok=True)
        (proj / "CMakeLists.txt").write_text(
            "cmake_minimum_required(VERSION 3.18)\nproject(x LANGUAGES CXX)\n"
            "find_package(OssaSDK 2.0 REQUIRED)\n")
        r = cmake("-S", str(proj), "-B", str(proj / "build"),
                  "-DCMAKE_PREFIX_PATH=%s" % self.prefix)
        self.assertNotEqual(r.returncode, 0, "an ABI 2 request accepted the 1.x SDK:\n" + r.out)
        self.assertIn("OssaSDK", r.out)

    def test_exports_exactly_the_three_entry_points(self):
        if not h.have_tool("nm"):
            self.fail("nm (binutils) is needed to read the plugin's exports")
        r = h.run(["nm", "-D", "--defined-only", str(self.plugin)], check=True)
        names = sorted(line.split()[-1] for line in r.out.splitlines() if line.strip())
        self.assertEqual(names, ["ossa_plugin_info", "ossa_plugin_init", "ossa_plugin_shutdown"])

    def test_plugin_info(self):
        r = h.run([str(self.prefix / "bin" / "ossa"), "plugin-info", str(self.plugin)])
        self.assertEqual(r.returncode, 0, r.out)
        self.assertRegex(r.out, r"\btemplate\b")
        self.assertIn("1.0.0", r.out)

    # the template in a server ----------------------------------------------------------------------
    def test_template_in_server(self):
        srv = h.OssaServer(self.tmp / "srv")
        plugins_dir = srv.dir / "plugins"
        plugins_dir.mkdir(exist_ok=True)
        shutil.copy2(self.plugin, plugins_dir / "my_plugin.so")
        # The path is relative to the folder of ossa.yaml.
        h.set_plugins(srv, [{"path": "plugins/my_plugin.so",
                             "config": {"institution": INSTITUTION, "report_seconds": 1}}])
        srv.start()
        try:
            self._check_template(srv)
        except BaseException:
            print("server log:\n" + srv.log_text()[-6000:], file=sys.stderr)
            raise
        finally:
            rc = srv.stop()
        self.assertEqual(rc, 0, srv.log_text()[-3000:])
        log = srv.log_text()
        m = re.search(r"\[template\] shutting down: (\{.*\})", log)
        self.assertIsNotNone(m, log[-3000:])
        self.assertIn('"stored":2', m.group(1))
        self.assertIn('"coerced":1', m.group(1))
        self.assertIn('"received":2', m.group(1))

    def _check_template(self, srv):
        log = srv.log_text()
        self.assertRegex(log, r"plugin template 1\.0\.0 loaded from \S*my_plugin\.so")
        self.assertIn('[template] ready: institution "%s"' % INSTITUTION, log)

        data = self.tmp / "data"
        study = h.new_uid()
        series_plain, series_own = h.new_uid(), h.new_uid()
        plain = h.make_instance(data / "plain.dcm", patient_id="SDK1", study_uid=study,
                                series_uid=series_plain, SeriesNumber=1)
        own = h.make_instance(data / "own.dcm", patient_id="SDK1", study_uid=study,
                              series_uid=series_own, SeriesNumber=2,
                              InstitutionName="OTHER CLINIC")
        self.assertNotIn("InstitutionName", plain)
        files = [data / "plain.dcm", data / "own.dcm"]
        res = srv.store(files)
        # The template fills in InstitutionName where it is missing: that instance is stored
        # with Warning 0xB000 (Coercion of Data Elements); the other one as sent.
        self.assertEqual(res.code(files[0]), 0xB000, res.output[-2000:])
        self.assertEqual(res.code(files[1]), 0, res.output[-2000:])

        # on_stored: one line per instance, with its change-log sequence, in order.
        def stored_lines():
            text = srv.log_text()
            found = {}
            for uid in (plain.SOPInstanceUID, own.SOPInstanceUID):
                m = re.search(r"\[template\] stored #(\d+) %s \(patient SDK1\) from STORESCU"
                              % re.escape(str(uid)), text)
                if m:
                    found[str(uid)] = int(m.group(1))
            return found if len(found) == 2 else None
        seqs = wait_for(stored_lines, timeout=30)
        self.assertIsNotNone(seqs, "no on_stored lines for both instances")
        self.assertLess(seqs[str(plain.SOPInstanceUID)], seqs[str(own.SOPInstanceUID)])

        # on_received: InstitutionName filled where it was missing, left alone where it was not.
        r = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", None),
                      ("InstitutionName", None)], level="SERIES", workdir=self.tmp)
        self.assertEqual(r.final_status, 0, r.output[-2000:])
        got = {str(d.SeriesInstanceUID): str(d.get("InstitutionName", "")) for d in r.datasets}
        self.assertEqual(got, {series_plain: INSTITUTION, series_own: "OTHER CLINIC"})
        r = srv.find([("StudyInstanceUID", study), ("SeriesInstanceUID", None),
                      ("InstitutionName", INSTITUTION)], level="SERIES", workdir=self.tmp)
        self.assertEqual(r.final_status, 0, r.output[-2000:])
        self.assertEqual([str(d.SeriesInstanceUID) for d in r.datasets], [series_plain])

        # The stored file carries the value too.
        stored = pydicom.dcmread(str(srv.stored_file(str(plain.SOPInstanceUID))),
                                 stop_before_pixels=True)
        self.assertEqual(str(stored.InstitutionName), INSTITUTION)
        self.assertEqual(str(stored.SOPInstanceUID), str(plain.SOPInstanceUID))

        # timer (report_seconds: 1): a stats line once the counts include both instances.
        self.assertTrue(wait_for(lambda: re.search(r'\[template\] stats: \{[^}]*"stored":2',
                                                   srv.log_text()), timeout=15),
                        "no timer line with the counts")


if __name__ == "__main__":
    unittest.main(verbosity=2)
