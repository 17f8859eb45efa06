"""The routing plugin (plugins/routing) in a running server: rules forward received instances to a
node (DCMTK storescp) through durable send jobs; non-matching instances stay; a destination that is
down gets the instances once it is up; a SIGKILL in the middle of routing loses nothing; a rule on
stable studies sends the study once it is stable.

The plugin is <build>/plugins/routing/routing.so: the build folder is $OSSA_BUILD_DIR, else the one
$OSSA_BIN (<build>/core/ossa) is in.

    OSSA_BIN=/abs/build/core/ossa /usr/bin/python3 tests/integration/test_routing.py
"""
import re
import subprocess
import time

import ossa_harness as h


def routing_plugin():
    return h.in_tree_plugin("routing")


def received(scp):
    return {k for k in h.dicom_files_by_sop(scp.outdir) if isinstance(k, str)}


def jobs(server):
    """(id, node, level, uids, state, error, attempts) of every job in the index."""
    return server.query("SELECT id, node, level, uids, state, error, attempts FROM jobs ORDER BY id")


class RoutingTest(h.TempDirTestCase):
    def start_scp(self, name="DEST", port=None, start=True):
        scp = h.StoreScpProcess(self.tmp / name.lower(), aet=name, options=["+xa"], port=port)
        self.addCleanup(scp.stop)
        return scp.start() if start else scp

    def routing_server(self, rules, nodes, stable_after=None, subdir="srv"):
        srv = self.server(subdir, start=False)
        h.set_nodes(srv, nodes)
        config = {"rules": rules, "state_dir": str(self.tmp / "routing-state")}
        plugin_host = {"stable_after_seconds": stable_after} if stable_after else None
        h.set_plugins(srv, [{"path": str(routing_plugin()), "config": config}], plugin_host)
        srv.start()
        self.assertIn("plugin routing", srv.log_text())
        return srv

    def make_files(self, folder, specs):
        """specs: list of dicts of make_instance arguments; returns [(path, SOP Instance UID)]."""
        out = []
        for i, spec in enumerate(specs):
            path = self.tmp / folder / ("i%04d.dcm" % i)
            ds = h.make_instance(path, **spec)
            out.append((path, str(ds.SOPInstanceUID)))
        return out

    # ---------------------------------------------------------------------------------------------

    def test_rules_forward_by_modality_and_leave_the_rest(self):
        scp = self.start_scp()
        rules = [
            {"name": "CT to DEST", "when": {"Modality": "CT"}, "forward_to": "DEST"},
            {"name": "MR to nowhere", "when": {"Modality": "MR"}, "forward_to": "NOPE"},
        ]
        srv = self.routing_server(rules, [h.node("DEST", scp.port, send=True)])
        study = h.new_uid()
        ct = self.make_files("ct", [dict(modality="CT", study_uid=study, series_uid=None)] * 4)
        mr = self.make_files("mr", [dict(modality="MR", sop_class=h.MR_IMAGE_STORAGE,
                                         study_uid=study)] * 3)
        us = self.make_files("us", [dict(modality="US", sop_class=h.SC_IMAGE_STORAGE)] * 2)
        r = srv.store([p for p, _ in ct + mr + us])
        self.assertEqual(r.returncode, 0, r.output)
        ct_uids = {u for _, u in ct}
        h.wait_for(lambda: received(scp) >= ct_uids, 60)
        self.assertEqual(received(scp) & ct_uids, ct_uids)
        # Everything decided is logged; the MR rule's node does not exist.
        h.wait_for(lambda: len(re.findall(r"-> NOPE: no such node", srv.log_text())) >= 3, 20)
        time.sleep(2)  # give a wrongly queued job the time to arrive
        got = received(scp)
        self.assertEqual(got, ct_uids, "only the CT instances are forwarded")
        rows = jobs(srv)
        self.assertEqual(len(rows), 4, rows)
        self.assertEqual({r[3] for r in rows}, ct_uids)
        self.assertTrue(all(r[1] == "DEST" and r[2] == "IMAGE" for r in rows), rows)
        log = srv.log_text()
        for uid in ct_uids:
            self.assertRegex(log, r"\[routing\] rule 'CT to DEST': instance %s -> DEST: send job \d+"
                             % re.escape(uid))
        self.assertEqual(len(re.findall(r"-> NOPE: no such node", log)), 3)
        self.assertEqual(srv.stop(), 0)

    def test_matching_keys_wildcards_ranges_lists_names_and_ae_titles(self):
        scp = self.start_scp()
        rules = [
            {"name": "recent heads", "forward_to": "DEST",
             "when": {"StudyDescription": "*HEAD*", "StudyDate": "20240101-"}},
            {"name": "jane from MOD1", "forward_to": "DEST",
             "when": {"PatientName": "doe^jane", "calling_aet": "MOD1", "called_aet": "OSSA"}},
            {"name": "joints", "forward_to": "DEST", "when": {"(0018,0015)": ["KNEE", "ANKLE"]}},
        ]
        srv = self.routing_server(rules, [h.node("DEST", scp.port, send=True)])
        specs = [
            ("yes", dict(StudyDescription="CT HEAD ROUTINE", StudyDate="20240301"), "X"),
            ("no", dict(StudyDescription="CT HEAD ROUTINE", StudyDate="20231231"), "X"),
            ("no", dict(StudyDescription="CT CHEST", StudyDate="20240301"), "X"),
            ("yes", dict(patient_name="Doe^Jane"), "MOD1"),
            ("no", dict(patient_name="Doe^Jane"), "MOD2"),
            ("no", dict(patient_name="Doe^John"), "MOD1"),
            ("yes", dict(BodyPartExamined="ANKLE"), "X"),
            ("no", dict(BodyPartExamined="CHEST"), "X"),
        ]
        expected = set()
        for i, (verdict, extra, aet) in enumerate(specs):
            extra = dict(extra)
            extra.setdefault("StudyDescription", "OTHER")
            (path, uid), = self.make_files("m%d" % i, [extra])
            r = srv.store([path], aet=aet)
            self.assertEqual(r.returncode, 0, r.output)
            if verdict == "yes":
                expected.add(uid)
        h.wait_for(lambda: received(scp) >= expected, 60)
        time.sleep(2)
        self.assertEqual(received(scp), expected)
        self.assertEqual(len(jobs(srv)), 3)

    def test_destination_down_is_retried_until_it_is_up(self):
        port = h.free_port()
        scp = self.start_scp(port=port, start=False)
        rules = [{"name": "all", "forward_to": "DEST"}]
        srv = self.routing_server(rules, [h.node("DEST", port, send=True)])
        files = self.make_files("in", [dict(modality="CT")] * 3)
        r = srv.store([p for p, _ in files])
        self.assertEqual(r.returncode, 0, r.output)
        # The jobs exist and failed their first attempt: pending, with the error.
        failed_once = h.wait_for(
            lambda: [j for j in jobs(srv) if j[4] == "pending" and j[5] and j[6] >= 1], 30)
        self.assertTrue(failed_once, jobs(srv))
        self.assertEqual(len(jobs(srv)), 3)
        self.assertFalse(received(scp))
        scp.start()
        uids = {u for _, u in files}
        h.wait_for(lambda: received(scp) >= uids, 90, interval=0.5)
        self.assertEqual(received(scp), uids)
        done = h.wait_for(lambda: all(j[4] == "done" for j in jobs(srv)), 20)
        self.assertTrue(done, jobs(srv))
        self.assertEqual(len(jobs(srv)), 3)

    def test_sigkill_in_the_middle_of_routing_loses_nothing(self):
        scp = self.start_scp()
        rules = [{"name": "CT", "when": {"Modality": "CT", "StudyDescription": "*"},
                  "forward_to": "DEST"}]
        srv = self.routing_server(rules, [h.node("DEST", scp.port, send=True)])
        study = h.new_uid()
        series = h.new_uid()
        files = self.make_files("in", [dict(modality="CT", study_uid=study, series_uid=series)]
                                * 200)
        sender = subprocess.Popen(
            [h._arg(a) for a in h.storescu_args(srv.port, [p for p, _ in files])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=h.dcmtk_env())
        # Kill while the instances are still coming in and being forwarded.
        h.wait_for(lambda: len(received(scp)) >= 10 or sender.poll() is not None, 120, 0.05)
        forwarded_before = len(received(scp))
        self.assertEqual(srv.kill(), -9)
        sender.wait(timeout=120)
        stored = srv.indexed_sop_uids()
        self.assertGreater(len(stored), 0)
        srv.start()
        # Finish sending what the client could not (new association, the same files).
        r = srv.store([p for p, _ in files])
        self.assertEqual(r.returncode, 0, r.output)
        everything = {u for _, u in files}
        h.wait_for(lambda: received(scp) >= everything, 180, interval=0.5)
        missing = everything - received(scp)
        self.assertFalse(missing, "%d routed instances never arrived (%d had arrived before the "
                         "kill, %d were stored before it)" % (len(missing), forwarded_before,
                                                              len(stored)))
        # Idempotent: one job per instance, give or take the one queued as the process died.
        rows = jobs(srv)
        per_uid = {}
        for row in rows:
            per_uid[row[3]] = per_uid.get(row[3], 0) + 1
        self.assertEqual(set(per_uid), everything)
        self.assertLessEqual(len(rows), len(everything) + 1, sorted(
            (u, n) for u, n in per_uid.items() if n > 1))
        self.assertEqual(srv.stop(), 0)

    def test_stable_rule_forwards_the_study_once_it_is_stable(self):
        scp = self.start_scp()
        rules = [{"name": "MR studies", "on": "stable", "when": {"Modality": "MR"},
                  "forward_to": "DEST"}]
        srv = self.routing_server(rules, [h.node("DEST", scp.port, send=True)], stable_after=2)
        mr_study, ct_study = h.new_uid(), h.new_uid()
        mr_series = h.new_uid()
        mr = self.make_files("mr", [dict(modality="MR", sop_class=h.MR_IMAGE_STORAGE,
                                         study_uid=mr_study, series_uid=mr_series)] * 3)
        ct = self.make_files("ct", [dict(modality="CT", study_uid=ct_study)] * 2)
        t0 = time.monotonic()
        r = srv.store([p for p, _ in mr + ct])
        self.assertEqual(r.returncode, 0, r.output)
        mr_uids = {u for _, u in mr}
        h.wait_for(lambda: received(scp) >= mr_uids, 60)
        elapsed = time.monotonic() - t0
        self.assertEqual(received(scp), mr_uids)
        # stable_after_seconds counts whole seconds: at least 1 s after the last instance
        self.assertGreaterEqual(elapsed, 1.0, "sent before the study was stable")
        time.sleep(4)  # the CT study becomes stable too, and nothing is sent again
        self.assertEqual(received(scp), mr_uids)
        rows = jobs(srv)
        self.assertEqual([(r[1], r[2], r[3]) for r in rows], [("DEST", "STUDY", mr_study)])
        self.assertRegex(srv.log_text(), r"rule 'MR studies': stable study %s \(3 instances\) -> "
                         r"DEST: send job \d+" % re.escape(mr_study))


if __name__ == "__main__":
    h.main()
