"""The worklist plugin (plugins/worklist) in a running server: entries added, changed and removed
through its methods over XML-RPC (worklist.add/update/remove/list), answered to `findscu -W`
(Modality Worklist Information Model - FIND) with matching on station AE title, date and time
ranges, modality, patient name wildcards and accession number; C-CANCEL; an entry completes when
its study arrives and becomes stable, and expires after the configured age; a worklist on its own
AE title.

The plugin is <build>/plugins/worklist/worklist.so: the build folder is $OSSA_BUILD_DIR, else the
one $OSSA_BIN (<build>/core/ossa) is in.

    OSSA_BIN=/abs/build/core/ossa /usr/bin/python3 tests/integration/test_worklist.py
"""
import xmlrpc.client

import ossa_harness as h

SPS = "ScheduledProcedureStepSequence"


def worklist_plugin():
    return h.in_tree_plugin("worklist")


ENTRIES = {
    "ORD1": {"PatientName": "Doe^John", "PatientID": "P1", "PatientBirthDate": "19700101",
             "PatientSex": "M", "AccessionNumber": "ACC1", "RequestedProcedureID": "RP1",
             "RequestedProcedureDescription": "CT head", "Modality": "CT",
             "ScheduledStationAETitle": "CT1", "ScheduledStationName": "Room 1",
             "ScheduledProcedureStepStartDate": "20260102",
             "ScheduledProcedureStepStartTime": "0900", "ScheduledProcedureStepID": "SPS1",
             "ScheduledProcedureStepDescription": "Head plain",
             "ReferringPhysicianName": "Who^Doctor", "AdmissionID": "ADM1"},
    "ORD2": {"PatientName": "Müller^Jürgen", "PatientID": "P2", "AccessionNumber": "ACC2",
             "RequestedProcedureID": "RP2", "Modality": "MR", "ScheduledStationAETitle": "MR1",
             "ScheduledProcedureStepStartDate": "20260103",
             "ScheduledProcedureStepStartTime": "1400", "ScheduledProcedureStepID": "SPS2"},
    "ORD3": {"PatientName": "DOERING^MAX", "PatientID": "P3", "AccessionNumber": "ACC3",
             "Modality": "CT", "ScheduledStationAETitle": "CT2",
             "ScheduledProcedureStepStartDate": "20260110",
             "ScheduledProcedureStepStartTime": "1100", "ScheduledProcedureStepID": "SPS3"},
}

# What a modality typically asks (PS3.4 K.6 return keys), plus the matching keys of each test.
RETURN_KEYS = [
    ("PatientName", None), ("PatientID", None), ("PatientBirthDate", None), ("PatientSex", None),
    ("AccessionNumber", None), ("RequestedProcedureID", None),
    ("RequestedProcedureDescription", None), ("StudyInstanceUID", None),
    ("ReferringPhysicianName", None), ("AdmissionID", None), ("PatientWeight", None),
    ("%s[0].Modality" % SPS, None), ("%s[0].ScheduledStationAETitle" % SPS, None),
    ("%s[0].ScheduledProcedureStepStartDate" % SPS, None),
    ("%s[0].ScheduledProcedureStepStartTime" % SPS, None),
    ("%s[0].ScheduledProcedureStepID" % SPS, None),
    ("%s[0].ScheduledProcedureStepStatus" % SPS, None),
]


class WorklistTest(h.TempDirTestCase):
    def worklist_server(self, config=None, plugin_host=None, subdir="srv"):
        srv = self.server(subdir, start=False)
        self.rpc_port = h.free_port()
        srv.config["xmlrpc"] = {"enabled": True, "port": self.rpc_port, "bind": "127.0.0.1"}
        srv.config["http"] = {"port": h.free_port()}
        plugin_config = {"state_dir": str(self.tmp / subdir / "worklist-state")}
        plugin_config.update(config or {})
        h.set_plugins(srv, [{"path": str(worklist_plugin()), "config": plugin_config}],
                      plugin_host)
        srv.start()
        self.assertIn("plugin worklist", srv.log_text())
        self.rpc = xmlrpc.client.ServerProxy("http://127.0.0.1:%d/" % self.rpc_port)
        return srv

    def add_entries(self, names=("ORD1", "ORD2", "ORD3")):
        uids = {}
        for name in names:
            result = self.rpc.__getattr__("worklist.add")({"order_id": name,
                                                           "entry": ENTRIES[name]})
            self.assertEqual(result["order_id"], name)
            uids[name] = result["StudyInstanceUID"]
        return uids

    def mwl(self, srv, keys, aec=None, **kw):
        return h.findscu(srv.port, RETURN_KEYS + list(keys), model="W", aec=aec or srv.aet,
                         workdir=str(self.tmp), **kw)

    def patient_ids(self, result):
        self.assertFalse(result.failed, result.output)
        return sorted(result.strs("PatientID"))

    def call(self, name, params):
        return self.rpc.__getattr__(name)(params)

    # ---------------------------------------------------------------------------------------------

    def test_queries_match_and_answer_the_return_keys(self):
        srv = self.worklist_server()
        uids = self.add_entries()
        self.assertTrue(uids["ORD1"].startswith("2.25."), uids)

        # Every entry (an empty query) and the answer of one of them in full.
        everything = self.mwl(srv, [])
        self.assertEqual(self.patient_ids(everything), ["P1", "P2", "P3"])
        self.assertEqual(everything.final_status, 0x0000)
        (p1,) = [d for d in everything.datasets if d.PatientID == "P1"]
        self.assertEqual(str(p1.PatientName), "Doe^John")
        self.assertEqual(p1.StudyInstanceUID, uids["ORD1"])
        self.assertEqual(p1.AccessionNumber, "ACC1")
        self.assertEqual(p1.AdmissionID, "ADM1")
        self.assertEqual(str(p1.ReferringPhysicianName), "Who^Doctor")
        self.assertIn("PatientWeight", p1)  # asked, not held: returned empty
        self.assertEqual(p1.PatientWeight, None)
        step = p1[SPS][0]
        self.assertEqual(step.Modality, "CT")
        self.assertEqual(step.ScheduledStationAETitle, "CT1")
        self.assertEqual(step.ScheduledProcedureStepStartDate, "20260102")
        self.assertEqual(step.ScheduledProcedureStepID, "SPS1")
        self.assertEqual(step.ScheduledProcedureStepStatus, "SCHEDULED")
        self.assertNotIn("ScheduledStationName", step)  # not asked
        (p2,) = [d for d in everything.datasets if d.PatientID == "P2"]
        self.assertEqual(p2.SpecificCharacterSet, "ISO_IR 192")
        self.assertEqual(str(p2.PatientName), "Müller^Jürgen")

        # Matching keys, each alone.
        self.assertEqual(self.patient_ids(self.mwl(
            srv, [("%s[0].ScheduledStationAETitle" % SPS, "CT1")])), ["P1"])
        self.assertEqual(self.patient_ids(self.mwl(
            srv, [("%s[0].ScheduledProcedureStepStartDate" % SPS, "20260101-20260105")])),
            ["P1", "P2"])
        self.assertEqual(self.patient_ids(self.mwl(
            srv, [("%s[0].ScheduledProcedureStepStartDate" % SPS, "20260104-")])), ["P3"])
        self.assertEqual(self.patient_ids(self.mwl(
            srv, [("%s[0].ScheduledProcedureStepStartTime" % SPS, "1000-1500")])), ["P2", "P3"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [("%s[0].Modality" % SPS, "CT")])),
                         ["P1", "P3"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [("PatientName", "doe*")])),
                         ["P1", "P3"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [("PatientName", "M?LLER*")])), ["P2"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [("AccessionNumber", "ACC3")])), ["P3"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [("PatientID", "P2")])), ["P2"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [("RequestedProcedureID", "RP*")])),
                         ["P1", "P2"])
        # Keys together (AND): CT on CT2 in January.
        self.assertEqual(self.patient_ids(self.mwl(srv, [
            ("%s[0].Modality" % SPS, "CT"), ("%s[0].ScheduledStationAETitle" % SPS, "CT2"),
            ("%s[0].ScheduledProcedureStepStartDate" % SPS, "20260101-20260131")])), ["P3"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [("PatientID", "NOBODY")])), [])

        # The archive's own Q/R is still there on the same AE title.
        study_root = h.findscu(srv.port, [("PatientID", None)], level="STUDY",
                               workdir=str(self.tmp))
        self.assertFalse(study_root.failed, study_root.output)

    def test_methods_update_remove_list(self):
        srv = self.worklist_server()
        self.add_entries()
        with self.assertRaises(xmlrpc.client.Fault):
            self.call("worklist.add", {"order_id": "ORD1", "entry": {"PatientID": "X"}})
        with self.assertRaises(xmlrpc.client.Fault):
            self.call("worklist.add", {"order_id": "ORD9", "entry": {"Patient ID": "X"}})
        self.assertIn("worklist.add", srv.log_text())

        self.assertEqual(self.call("worklist.update", {
            "order_id": "ORD2", "entry": {"ScheduledStationAETitle": "MR7"}}),
            {"order_id": "ORD2", "updated": True})
        with self.assertRaises(xmlrpc.client.Fault):
            self.call("worklist.update", {"order_id": "NOPE", "entry": {"PatientSex": "F"}})
        self.assertEqual(self.patient_ids(self.mwl(
            srv, [("%s[0].ScheduledStationAETitle" % SPS, "MR7")])), ["P2"])

        self.assertEqual(self.call("worklist.remove", {"order_id": "ORD3", "reason": "CA"}),
                         {"removed": 1})
        with self.assertRaises(xmlrpc.client.Fault):
            self.call("worklist.remove", {"order_id": "ORD3"})
        self.assertEqual(self.patient_ids(self.mwl(srv, [])), ["P1", "P2"])

        listed = self.call("worklist.list", {})["entries"]
        self.assertEqual(sorted(e["order_id"] for e in listed), ["ORD1", "ORD2"])
        self.assertTrue(all(e["status"] == "SCHEDULED" for e in listed))
        filtered = self.call("worklist.list", {"filter": {"PatientName": "doe*"}})["entries"]
        self.assertEqual([e["order_id"] for e in filtered], ["ORD1"])
        self.assertEqual(filtered[0]["AccessionNumber"], "ACC1")
        self.assertTrue(filtered[0]["created"].endswith("Z"))

        # Entries are kept across a restart.
        srv.restart()
        self.assertEqual(self.patient_ids(self.mwl(srv, [])), ["P1", "P2"])

    def test_cancel_stops_the_answers(self):
        srv = self.worklist_server()
        for i in range(20):
            self.call("worklist.add", {"order_id": "C%02d" % i,
                                       "entry": {"PatientID": "C%02d" % i, "Modality": "CT"}})
        result = self.mwl(srv, [], cancel=1)
        self.assertEqual(result.final_status, 0xFE00, result.output)
        self.assertLess(len(result.datasets), 20)

    def test_a_stable_study_completes_its_entry(self):
        srv = self.worklist_server(plugin_host={"stable_after_seconds": 1})
        uids = self.add_entries()
        # ORD1's study arrives with the UID the worklist gave it; ORD2's with another UID but its
        # accession number; ORD3's never.
        one = h.make_instance(self.tmp / "in" / "one.dcm", patient_id="P1",
                              study_uid=uids["ORD1"], AccessionNumber="ACC1")
        two = h.make_instance(self.tmp / "in" / "two.dcm", patient_id="P2",
                              study_uid=h.new_uid(), AccessionNumber="ACC2")
        self.assertTrue(srv.store([self.tmp / "in" / "one.dcm",
                                   self.tmp / "in" / "two.dcm"]).succeeded, "store failed")
        del one, two

        def statuses():
            return {e["order_id"]: e["status"] for e in self.call("worklist.list", {})["entries"]}

        done = h.wait_for(lambda: statuses()["ORD2"] == "COMPLETED" and
                        statuses()["ORD1"] == "COMPLETED", timeout=20)
        self.assertTrue(done, statuses())
        self.assertEqual(statuses()["ORD3"], "SCHEDULED")
        self.assertEqual(self.patient_ids(self.mwl(srv, [])), ["P3"])
        self.assertIn("completed by study " + uids["ORD1"], srv.log_text())

    def test_entries_expire(self):
        # 0.0015 h = 5.4 s.
        srv = self.worklist_server({"expire_after_hours": 0.0015, "expiry_check_seconds": 1})
        self.add_entries(["ORD1"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [])), ["P1"])
        expired = h.wait_for(lambda: self.call("worklist.list", {})["entries"][0]["status"] ==
                           "EXPIRED", timeout=20)
        self.assertTrue(expired)
        self.assertEqual(self.patient_ids(self.mwl(srv, [])), [])
        self.add_entries(["ORD2"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [])), ["P2"])

    def test_a_worklist_on_its_own_ae_title(self):
        srv = self.worklist_server({"called_aet": "WORKLIST"})
        self.add_entries(["ORD1"])
        self.assertEqual(self.patient_ids(self.mwl(srv, [], aec="WORKLIST")), ["P1"])
        # The server's own AE title does not offer the worklist model...
        refused = self.mwl(srv, [], aec=srv.aet)
        self.assertTrue(refused.returncode != 0 or refused.failed, refused.output)
        self.assertEqual(refused.datasets, [])
        # ... and the worklist AE title offers neither Q/R nor storage.
        study_root = h.findscu(srv.port, [("PatientID", None)], level="STUDY", aec="WORKLIST",
                               workdir=str(self.tmp))
        self.assertTrue(study_root.returncode != 0 or study_root.failed, study_root.output)
        self.assertTrue(srv.echo(aec="WORKLIST"))

    def test_bad_config_is_refused_with_a_clear_error(self):
        srv = self.server(start=False)
        srv.config["xmlrpc"] = {"enabled": False}
        srv.config["http"] = {"port": h.free_port()}
        h.set_plugins(srv, [{"path": str(worklist_plugin()),
                             "config": {"state_dir": str(self.tmp / "s"),
                                        "expire_after_hours": -1}}])
        srv.start()
        log = srv.log_text()
        self.assertIn("expire_after_hours must be a number of hours above 0", log)
        self.assertIn("plugin worklist", log)
        self.assertIn("not loaded", log)


if __name__ == "__main__":
    h.main()
