"""The plugin host: ABI checks (refusals with their messages), the frozen 1.0 plugin loaded and
running (on_received coercion and rejection seen through findscu and storescu, on_stored and
on_stable events, a method), and misbehaving hooks that leave ingest working.

The test plugins are built by tests/abi/ into $OSSA_BUILD_DIR/tests/abi/.
"""
import re
import tempfile
import time
import unittest
from pathlib import Path

import pydicom

import ossa_harness as h


def build_dir():
    return h.build_dir()



def test_plugin(name):
    path = build_dir() / "tests" / "abi" / (name + ".so")
    if not path.is_file():
        raise unittest.SkipTest("test plugin %s not built" % path)
    return path


def with_plugins(server, plugins, plugin_host=None):
    """Writes `plugins:` (and `plugin_host:`) into the server's configuration."""
    server.config["plugins"] = [dict(p) for p in plugins]
    if plugin_host:
        server.config["plugin_host"] = dict(plugin_host)
    text = h.config_yaml({k: v for k, v in server.config.items() if k != "plugins"})
    lines = ["plugins:"]
    for p in plugins:
        config = p.get("config", {})
        body = ", ".join('%s: "%s"' % (k, v) for k, v in config.items())
        lines.append('  - {path: "%s", config: {%s}}' % (p["path"], body))
    server.config_path.write_text(text + "\n".join(lines) + "\n")
    return server


class PluginInfoTest(unittest.TestCase):
    def info(self, name):
        return h.run([h.require_ossa_bin(), "plugin-info", str(test_plugin(name))])

    def test_frozen_plugin_is_loadable(self):
        r = self.info("frozen_v1_0")
        self.assertEqual(r.returncode, 0, r.out)
        self.assertIn("name: frozen", r.out)
        self.assertIn("loadable by this host: yes", r.out)

    def test_refusals_name_the_file_and_both_versions(self):
        r = self.info("refused_1")
        self.assertEqual(r.returncode, 1, r.out)
        self.assertRegex(r.out, r"refused_1\.so refused: built for plugin ABI 2\.0, this host has ABI 1\.\d+")
        r = self.info("refused_2")
        self.assertEqual(r.returncode, 1, r.out)
        self.assertRegex(r.out, r"refused_2\.so refused: needs plugin ABI 1\.99, this host has ABI 1\.\d+")
        r = self.info("refused_3")
        self.assertEqual(r.returncode, 1, r.out)
        self.assertIn("does not export ossa_plugin_shutdown", r.out)
        r = h.run([h.require_ossa_bin(), "plugin-info", "/etc/hostname"])
        self.assertEqual(r.returncode, 1, r.out)
        self.assertIn("cannot be loaded", r.out)


class PluginHostTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ossa-plugins-")
        self.addCleanup(self.tmp.cleanup)
        self.work = Path(self.tmp.name)

    def test_frozen_plugin_coerces_rejects_and_sees_events(self):
        events = self.work / "events.txt"
        server = h.OssaServer(self.work / "ossa")
        with_plugins(server, [{"path": str(test_plugin("frozen_v1_0")),
                               "config": {"reject_patient_id": "BLOCKED",
                                          "institution": "FROZEN HOSPITAL",
                                          "events": str(events)}}],
                     plugin_host={"stable_after_seconds": 1})
        with server:
            self.assertRegex(server.log_text(), r"plugin frozen 1\.0\.0 loaded from .*frozen_v1_0\.so")
            study = h.new_uid()
            kept = self.work / "kept.dcm"
            kept_sop = str(h.make_instance(kept, patient_id="OK1", study_uid=study).SOPInstanceUID)
            blocked = self.work / "blocked.dcm"
            h.make_instance(blocked, patient_id="BLOCKED")
            r = server.store([kept, blocked])
            # Stored with the plugin's changes: Warning 0xB000, Coercion of Data Elements.
            self.assertEqual(r.code(kept), 0xB000, r.output)
            self.assertEqual(r.code(blocked), 0xA900, r.output)
            # Coerced before storage: the index answers with the plugin's value.
            found = server.find(["StudyInstanceUID=" + study, "SeriesInstanceUID",
                                 "InstitutionName"], level="SERIES")
            self.assertEqual([str(d.InstitutionName) for d in found.datasets], ["FROZEN HOSPITAL"])
            # The host recorded what the plugin changed (PS3.3 C.12.1.1.9): InstitutionName was
            # absent, so it is listed with zero length in the plugin's own item.
            stored = pydicom.dcmread(str(server.stored_file(kept_sop)))
            self.assertEqual(str(stored.InstitutionName), "FROZEN HOSPITAL")
            self.assertEqual(len(stored.OriginalAttributesSequence), 1)
            item = stored.OriginalAttributesSequence[0]
            self.assertEqual(item.ModifyingSystem, "frozen")
            self.assertEqual(item.ReasonForTheAttributeModification, "COERCE")
            self.assertEqual(item.SourceOfPreviousValues, "STORESCU")
            self.assertRegex(str(item.AttributeModificationDateTime), r"^\d{14}")
            prior = item.ModifiedAttributesSequence[0]
            self.assertEqual([e.keyword for e in prior], ["InstitutionName"])
            self.assertFalse(prior.InstitutionName)
            self.assertIn("InstanceCoercionDateTime", stored)
            # on_stored (after commit) and on_stable (a second later) reach the plugin.
            deadline = time.monotonic() + 15
            text = ""
            while time.monotonic() < deadline:
                text = events.read_text() if events.exists() else ""
                if "stable " + study in text:
                    break
                time.sleep(0.2)
            self.assertRegex(text, r"stored %s \d+" % re.escape(kept_sop))
            self.assertIn("stable " + study, text)
            self.assertEqual(text.count("stored "), 1)  # the refused one never was

    def test_on_stored_is_delivered_after_a_crash(self):
        events = self.work / "events.txt"
        server = h.OssaServer(self.work / "ossa")
        with_plugins(server, [{"path": str(test_plugin("frozen_v1_0")),
                               "config": {"events": str(events)}}])
        server.start()
        files = []
        for i in range(40):
            f = self.work / "in" / ("f%02d.dcm" % i)
            h.make_instance(f, patient_id="CRASH")
            files.append(f)
        self.assertEqual(server.store(files).returncode, 0)
        server.kill()  # whatever was not yet delivered must come after the restart
        server.start()
        try:
            deadline = time.monotonic() + 20
            delivered = set()
            while time.monotonic() < deadline:
                text = events.read_text() if events.exists() else ""
                delivered = set(re.findall(r"stored (\S+)", text))
                if len(delivered) >= 40:
                    break
                time.sleep(0.2)
            self.assertEqual(len(delivered), 40)
        finally:
            server.stop()

    def test_misbehaving_hooks_leave_ingest_working(self):
        server = h.OssaServer(self.work / "ossa")
        with_plugins(server, [{"path": str(test_plugin("misbehaving"))}],
                     plugin_host={"received_budget_ms": 100})
        with server:
            files = []
            for i in range(9):
                f = self.work / "in" / ("m%d.dcm" % i)
                h.make_instance(f, patient_id="MIS")
                files.append(f)
            r = server.store(files)
            self.assertEqual(r.returncode, 0, r.output)
            self.assertEqual(len(r.succeeded()), 9, r.output)
            self.assertEqual(server.query("SELECT count(*) FROM instances")[0][0], 9)
            log = server.log_text()
            self.assertIn("[misbehaving] on_received failed", log)
            self.assertIn("budget", log)
            self.assertTrue(server.echo())

    def test_over_budget_reject_refuses_with_a700(self):
        server = h.OssaServer(self.work / "ossa")
        with_plugins(server, [{"path": str(test_plugin("misbehaving"))}],
                     plugin_host={"received_budget_ms": 100, "over_budget": "reject"})
        with server:
            f = self.work / "slow.dcm"
            h.make_instance(f, patient_id="SLOW")  # the first call sleeps 300 ms
            r = server.store([f])
            self.assertEqual(r.code(f), 0xA700, r.output)

    def test_refused_plugin_is_logged_and_the_server_runs(self):
        server = h.OssaServer(self.work / "ossa")
        with_plugins(server, [{"path": str(test_plugin("refused_1"))}])
        with server:
            self.assertRegex(server.log_text(), r"refused_1\.so refused: built for plugin ABI 2\.0")
            self.assertTrue(server.echo())


if __name__ == "__main__":
    unittest.main(verbosity=2)
