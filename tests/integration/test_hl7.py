"""The HL7 plugin (plugins/hl7) in a running server: ADT and ORM/OMI messages as a hospital's
interface engine sends them, over a real TCP connection with MLLP framing. Every ACK is checked
(MSA-1 AA/AE/AR, MSA-2 = MSH-10, swapped applications, same version), and the effect is seen
through findscu: demographics updated (also non-ASCII names in ISO 8859-1 and UTF-8), merged
patients' studies answering under the surviving ID, worklist entries through findscu -W (only when
the worklist plugin is built). A SIGKILL after an ACK keeps the journal; the resent message is
acknowledged again without being applied twice.

The plugins are <build>/plugins/hl7/hl7.so and <build>/plugins/worklist/worklist.so: the build
folder is $OSSA_BUILD_DIR, else the one $OSSA_BIN (<build>/core/ossa) is in.

    OSSA_BIN=/abs/build/core/ossa /usr/bin/python3 tests/integration/test_hl7.py
"""
import re
import socket
import sqlite3
import time

import ossa_harness as h

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"


def build_dir():
    return h.build_dir()


def hl7_plugin():
    return h.in_tree_plugin("hl7")


def worklist_plugin():
    return build_dir() / "plugins" / "worklist" / "worklist.so"


class Ack:
    """An ACK as received: its segments split with its own delimiters."""

    def __init__(self, raw, encoding="ascii"):
        self.raw = raw
        text = raw.decode(encoding, errors="replace")
        self.segments = [s for s in text.split("\r") if s]
        self.sep = self.segments[0][3] if self.segments else "|"

    def seg(self, name):
        for s in self.segments:
            if s.startswith(name + self.sep):
                return s.split(self.sep)
        return None

    def msh(self, n):
        f = self.seg("MSH")
        return f[n - 1] if f and len(f) >= n else ""  # MSH-1 is the separator itself

    @property
    def code(self):
        return self.seg("MSA")[1]

    @property
    def control_id(self):
        return self.seg("MSA")[2]

    @property
    def text(self):
        f = self.seg("MSA")
        return f[3] if len(f) > 3 else ""

    def __repr__(self):
        return "Ack(%r)" % "\\r".join(self.segments)


class MllpClient:
    def __init__(self, port, timeout=15):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        while True:
            start = self.buffer.find(VT)
            end = self.buffer.find(FS + CR, start + 1) if start >= 0 else -1
            if start >= 0 and end >= 0:
                frame = self.buffer[start + 1:end]
                self.buffer = self.buffer[end + 2:]
                return frame
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed; got %r" % self.buffer)
            self.buffer += chunk

    def send(self, message, encoding="ascii"):
        """Sends one message (str, segments joined by CR) framed; returns its Ack."""
        data = message.encode(encoding) if isinstance(message, str) else message
        self.send_raw(VT + data + FS + CR)
        return Ack(self.read_frame(), encoding)


def msh(msg_type, control_id, version="2.5.1", charset="", sender="HIS", facility="HOSP"):
    fields = ["MSH", "^~\\&", sender, facility, "OSSA", "PACS", "20240301101500", "", msg_type,
              control_id, "P", version]
    if charset:
        fields += ["", "", "", "", "", charset]
    return "|".join(fields)


def message(*segments):
    return "\r".join(segments) + "\r"


class Hl7Test(h.TempDirTestCase):
    def hl7_server(self, extra_plugins=(), subdir="srv", **config):
        srv = self.server(subdir, start=False)
        self.hl7_port = h.free_port()
        cfg = {"port": self.hl7_port, "state_dir": str(self.tmp / "hl7-state"),
               "idle_timeout_seconds": 30}
        cfg.update(config)
        plugins = [{"path": str(hl7_plugin()), "config": cfg}] + list(extra_plugins)
        h.set_plugins(srv, plugins)
        srv.start()
        self.assertIn("MLLP listener on 127.0.0.1:%d" % self.hl7_port, srv.log_text())
        return srv

    def client(self):
        c = MllpClient(self.hl7_port)
        self.addCleanup(c.close)
        return c

    def store_studies(self, srv, patient_id, name, count):
        paths = []
        for i in range(count):
            path = self.tmp / "in" / ("%s-%d.dcm" % (patient_id, i))
            h.make_instance(path, patient_id=patient_id, patient_name=name)
            paths.append(path)
        r = srv.store(paths)
        self.assertEqual(r.returncode, 0, r.output)

    def studies(self, srv, patient_id, keys=("PatientName", "PatientBirthDate", "PatientSex")):
        r = srv.find(["PatientID=%s" % patient_id, "StudyInstanceUID"] + list(keys),
                     level="STUDY")
        self.assertFalse(r.failed, r.output)
        return r.datasets

    def assertAck(self, ack, code, control_id, text=None):
        self.assertEqual(ack.code, code, ack)
        self.assertEqual(ack.control_id, control_id, ack)
        if text is not None:
            self.assertIn(text, ack.text, ack)

    # ---------------------------------------------------------------------------------------------

    def test_adt_updates_demographics_seen_through_cfind(self):
        srv = self.hl7_server()
        self.store_studies(srv, "PAT1", "Old^Name", 2)
        self.store_studies(srv, "PAT2", "Other^Name", 1)
        c = self.client()

        # v2.5.1 A08 in ISO 8859-1 with two identifiers, an escaped '&' and a legal name.
        a08 = message(
            msh("ADT^A08^ADT_A01", "MSG0001", charset="8859/1"),
            "EVN|A08|20240301101500",
            "PID|1||PAT1^^^HOSP^MR~99887766^^^SSA^SS||M\u00fcller\\T\\Lang^J\u00f6rg^K^^Dr~Nick^N^^^^^N"
            "||19600229|M",
            "PV1|1|O")
        ack = c.send(a08, "latin-1")
        self.assertAck(ack, "AA", "MSG0001")
        self.assertEqual(ack.msh(3), "OSSA")  # applications swapped
        self.assertEqual(ack.msh(4), "PACS")
        self.assertEqual(ack.msh(5), "HIS")
        self.assertEqual(ack.msh(6), "HOSP")
        self.assertEqual(ack.msh(9), "ACK^A08^ACK")
        self.assertEqual(ack.msh(12), "2.5.1")
        self.assertEqual(ack.msh(18), "8859/1")
        found = self.studies(srv, "PAT1", ("PatientName", "PatientBirthDate", "PatientSex",
                                           "(0010,1000)"))  # OtherPatientIDs, retired in DCMTK
        self.assertEqual(len(found), 2)
        for ds in found:
            self.assertEqual(str(ds.PatientName), "M\u00fcller&Lang^J\u00f6rg^K^Dr")
            self.assertEqual(ds.PatientBirthDate, "19600229")
            self.assertEqual(ds.PatientSex, "M")
            self.assertEqual(str(ds.get("OtherPatientIDs", "")), "99887766")

        # v2.3.1 A31 in UTF-8 (Greek and Japanese), with \X..\ hex and a \F\ escape.
        a31 = message(
            msh("ADT^A31", "MSG0002", version="2.3.1", charset="UNICODE UTF-8"),
            "EVN|A31",
            "PID|1||PAT2||\u03a0\u03b1\u03c0\u03b1\u03b4\u03cc\u03c0\u03bf\u03c5\u03bb\u03bf\u03c2"
            "^\\XE5B1B1\\\u7530^A\\F\\B||19991231|F")
        ack = c.send(a31, "utf-8")
        self.assertAck(ack, "AA", "MSG0002")
        self.assertEqual(ack.msh(9), "ACK^A31")  # no message structure before v2.5
        found = self.studies(srv, "PAT2")
        self.assertEqual(len(found), 1)
        self.assertEqual(str(found[0].PatientName),
                         "\u03a0\u03b1\u03c0\u03b1\u03b4\u03cc\u03c0\u03bf\u03c5\u03bb\u03bf\u03c2"
                         "^\u5c71\u7530^A|B")
        self.assertEqual(found[0].PatientSex, "F")

        # A01 for a patient the archive does not hold: accepted, said in MSA-3.
        ack = c.send(message(msh("ADT^A01^ADT_A01", "MSG0003"), "EVN|A01",
                             "PID|1||NOBODY||New^Patient||20000101|F"))
        self.assertAck(ack, "AA", "MSG0003", "not in the archive")
        # A04 with HL7 explicit nulls clears birth date and sex.
        ack = c.send(message(msh("ADT^A04^ADT_A01", "MSG0004"), "EVN|A04",
                             'PID|1||PAT2||||""|""'))
        self.assertAck(ack, "AA", "MSG0004")
        found = self.studies(srv, "PAT2")
        self.assertEqual(found[0].get("PatientBirthDate", ""), "")
        self.assertEqual(found[0].get("PatientSex", ""), "")
        self.assertEqual(srv.stop(), 0)
        self.assertRegex(srv.log_text(), r"\[hl7\] 127\.0\.0\.1: ADT\^A08\^ADT_A01 'MSG0001': AA")

    def test_rejections_errors_and_duplicates(self):
        srv = self.hl7_server()
        self.store_studies(srv, "PAT1", "Old^Name", 1)
        c = self.client()
        cases = [
            (message(msh("ADT^A08", "V22", version="2.2"), "PID|1||PAT1||X"), "AR", "V22",
             "unsupported HL7 version"),
            (message(msh("ADT^A02", "EV1"), "PID|1||PAT1||X"), "AR", "EV1", "A02"),
            (message(msh("SIU^S12", "TY1"), "SCH|1"), "AR", "TY1", "SIU"),
            (message(msh("ADT^A08", "CS1", charset="KLINGON"), "PID|1||PAT1||X"), "AE", "CS1",
             "KLINGON"),
            (message(msh("ADT^A08", "NOID"), "PID|1||||X"), "AE", "NOID", "PID-3"),
            (message(msh("ADT^A08", "")), "AR", "", "MSH-10"),
            ("EVN|A08\rPID|1||PAT1\r", "AR", "", "malformed MSH"),
        ]
        for text, code, control, why in cases:
            self.assertAck(c.send(text), code, control, why)
        # Undeclared 8-bit bytes (no MSH-18, not UTF-8): AE.
        ack = c.send(message(msh("ADT^A08", "LAT"), "PID|1||PAT1||M\u00fcller").encode("latin-1"))
        self.assertAck(ack, "AE", "LAT", "not valid ASCII")
        # Other delimiters, read from MSH-1/MSH-2, are used in the ACK too.
        ack = c.send("MSH#*@!$#HIS#HOSP#OSSA#PACS#20240301##ADT*A08#D1#P#2.4\rPID#1##PAT1##"
                     "Stra!S!sse*Hans\r")
        self.assertEqual(ack.sep, "#")
        self.assertEqual(ack.seg("MSA")[1:3], ["AA", "D1"])
        self.assertEqual(str(self.studies(srv, "PAT1")[0].PatientName), "Stra*sse^Hans")

        # A duplicate control ID from the same sender: the same ACK, nothing applied again.
        first = message(msh("ADT^A08", "DUP1"), "PID|1||PAT1||First^Version")
        ack1 = c.send(first)
        self.assertAck(ack1, "AA", "DUP1")
        c.send(message(msh("ADT^A08", "DUP2"), "PID|1||PAT1||Second^Version"))
        ack2 = c.send(first)
        self.assertEqual(ack2.raw, ack1.raw)
        self.assertEqual(str(self.studies(srv, "PAT1")[0].PatientName), "Second^Version")
        self.assertIn("already applied", srv.log_text())

    def test_framing_errors_are_answered_or_logged(self):
        srv = self.hl7_server(max_message_bytes=4096)
        c = self.client()
        # A message without MLLP framing: AR once the sender pauses.
        c.send_raw(message(msh("ADT^A08", "RAW1"), "PID|1||X").encode())
        ack = Ack(c.read_frame())
        self.assertAck(ack, "AR", "RAW1", "outside an MLLP frame")
        # A frame interrupted by a new start block: AR for the first, AA-or-other for the second.
        c.send_raw(VT + message(msh("ADT^A08", "CUT1"), "PID|1||X").encode()[:80])
        ack = c.send(message(msh("ADT^A08", "NEXT1"), "PID|1||NOBODY||A^B"))
        self.assertAck(ack, "AR", "CUT1", "frame interrupted")
        self.assertAck(Ack(c.read_frame()), "AA", "NEXT1")
        # Too long: AR naming the limit; the connection stays usable.
        big = message(msh("ADT^A08", "BIG1"), "PID|1||X||" + "A" * 10000)
        ack = c.send(big)
        self.assertAck(ack, "AR", "BIG1", "too long")
        self.assertAck(c.send(message(msh("ADT^A08", "AFTER"), "PID|1||NOBODY||A^B")), "AA",
                       "AFTER")
        # Garbage without any MSH: no ACK possible, but a log line.
        c.send_raw(b"hello\r\n")
        self.assertTrue(h.wait_for(lambda: re.search(r"7 bytes outside an MLLP frame .*no MSH to answer",
                                                srv.log_text()), 5))
        # Closing in the middle of a frame is logged with what was cut.
        c.send_raw(VT + message(msh("ADT^A08", "HALF"), "PID").encode())
        time.sleep(0.2)
        c.close()
        self.assertTrue(h.wait_for(lambda: re.search(r"in the middle of a message .*'HALF'",
                                                srv.log_text()), 5), srv.log_text()[-2000:])

    def test_connections_idle_timeout_and_allowed_peers(self):
        srv = self.hl7_server(idle_timeout_seconds=1)
        c = self.client()
        self.assertAck(c.send(message(msh("ADT^A08", "I1"), "PID|1||N||A")), "AA", "I1")
        time.sleep(2.0)
        with self.assertRaises((ConnectionError, OSError)):
            c.send(message(msh("ADT^A08", "I2"), "PID|1||N||A"))
        self.assertTrue(h.wait_for(lambda: "closed: idle for 1 s" in srv.log_text(), 5))
        self.assertEqual(srv.stop(), 0)

        srv2 = self.hl7_server(subdir="srv2", allowed_peers=["10.1.2.3"])
        c2 = MllpClient(self.hl7_port)
        self.addCleanup(c2.close)
        with self.assertRaises((ConnectionError, OSError)):
            c2.send(message(msh("ADT^A08", "P1"), "PID|1||N||A"))
        self.assertIn("connection from 127.0.0.1 refused: not in allowed_peers", srv2.log_text())

    def test_merges_move_studies_and_odd_merges_are_said(self):
        srv = self.hl7_server()
        self.store_studies(srv, "OLD1", "Same^Person", 2)
        self.store_studies(srv, "NEW1", "Same^Person", 1)
        c = self.client()

        def a40(control, new, old, version="2.3.1"):
            return message(msh("ADT^A40^ADT_A39" if version >= "2.5" else "ADT^A40", control,
                               version=version),
                           "EVN|A40", "PID|1||%s^^^HOSP^MR||Same^Person^Q" % new,
                           "MRG|%s^^^HOSP^MR" % old)

        self.assertAck(c.send(a40("MRG1", "NEW1", "OLD1")), "AA", "MRG1", "merged OLD1 into NEW1")
        self.assertEqual(len(self.studies(srv, "NEW1")), 3)
        self.assertEqual(len(self.studies(srv, "OLD1")), 0)
        self.assertEqual({str(d.PatientName) for d in self.studies(srv, "NEW1")},
                         {"Same^Person^Q"})
        # Patient Root, patient level: one patient.
        r = srv.find(["PatientID=NEW1", "NumberOfPatientRelatedStudies"], level="PATIENT",
                     model="P")
        self.assertEqual(len(r.datasets), 1, r.output)
        self.assertEqual(int(r.datasets[0].NumberOfPatientRelatedStudies), 3)

        self.assertAck(c.send(a40("MRG2", "NEW1", "OLD1", "2.5.1")), "AA", "MRG2",
                       "repeated merge")
        self.assertAck(c.send(a40("MRG3", "NEW1", "NEW1")), "AA", "MRG3", "self merge")
        self.assertEqual(len(self.studies(srv, "NEW1")), 3)
        self.assertAck(c.send(a40("MRG4", "OLD1", "NEW1")), "AA", "MRG4", "reverses")
        self.assertEqual(len(self.studies(srv, "OLD1")), 3)
        self.assertEqual(len(self.studies(srv, "NEW1")), 0)
        # A cycle: OLD1 -> X1, X1 -> X2, X2 -> OLD1.
        self.assertAck(c.send(a40("MRG5", "X1", "OLD1")), "AA", "MRG5")
        self.assertAck(c.send(a40("MRG6", "X2", "X1")), "AA", "MRG6")
        self.assertAck(c.send(a40("MRG7", "OLD1", "X2")), "AA", "MRG7", "cycle")
        self.assertEqual(len(self.studies(srv, "OLD1")), 3)
        for gone in ("X1", "X2", "NEW1"):
            self.assertEqual(len(self.studies(srv, gone)), 0, gone)
        self.assertAck(c.send(a40("MRG8", "OLD1", "NEVER")), "AA", "MRG8", "not in the archive")
        self.assertAck(c.send(message(msh("ADT^A40", "MRG9", version="2.3.1"), "EVN|A40",
                                      "PID|1||OLD1")), "AE", "MRG9", "MRG")

    def test_kill_after_ack_keeps_the_journal(self):
        srv = self.hl7_server()
        self.store_studies(srv, "PAT1", "Old^Name", 1)
        c = self.client()
        msg = message(msh("ADT^A08", "KEEP1"), "PID|1||PAT1||Kept^Name")
        ack = c.send(msg)
        self.assertAck(ack, "AA", "KEEP1")
        srv.kill()
        c.close()
        journal = self.tmp / "hl7-state" / "hl7-journal.db"
        con = sqlite3.connect(str(journal))
        rows = con.execute("SELECT control_id, ack_code, raw FROM messages").fetchall()
        con.close()
        self.assertEqual([(r[0], r[1]) for r in rows], [("KEEP1", "AA")])
        self.assertEqual(bytes(rows[0][2]), msg.encode())
        srv.start()
        self.assertEqual(str(self.studies(srv, "PAT1")[0].PatientName), "Kept^Name")
        c2 = self.client()
        again = c2.send(msg)
        self.assertEqual(again.raw, ack.raw)
        self.assertIn("already applied", srv.log_text())

    def test_orders_feed_the_worklist(self):
        wl = worklist_plugin()
        if not wl.is_file():
            self.skipTest("worklist plugin not built (%s): ORM/OMI effects need it" % wl)
        srv = self.hl7_server(extra_plugins=[{"path": str(wl), "config": {
            "state_dir": str(self.tmp / "wl-state")}}], scheduled_station_aet="CT01")
        c = self.client()
        obr = ["OBR", "1", "ORD100", "ACC100", "CTH^CT Head^L^^CT head plain"] + [""] * 30
        obr[18] = "ACC100"
        obr[19] = "RP100"
        obr[20] = "SPS100"
        obr[24] = "CT"
        nw = message(msh("ORM^O01", "ORM1", version="2.3.1", charset="8859/1"),
                     "PID|1||PAT9^^^HOSP^MR||Gr\u00fcn^Anna||19750505|F",
                     "PV1|1|O||||||^Ref^Rita|||||||||||VIS9",
                     "ORC|NW|ORD100|ACC100||SC||^^^20240320093000",
                     "|".join(obr).rstrip("|"),
                     "ZDS|1.2.826.0.1.3680043.8.498.77^RIS^Application^DICOM")
        self.assertAck(c.send(nw, "latin-1"), "AA", "ORM1")
        r = srv.find(["AccessionNumber=ACC100", "PatientName", "PatientID", "StudyInstanceUID",
                      "RequestedProcedureID",
                      "(0040,0100)[0].Modality", "(0040,0100)[0].ScheduledStationAETitle",
                      "(0040,0100)[0].ScheduledProcedureStepStartDate"], model="W")
        self.assertEqual(len(r.datasets), 1, r.output)
        ds = r.datasets[0]
        self.assertEqual(str(ds.PatientName), "Gr\u00fcn^Anna")
        self.assertEqual(ds.PatientID, "PAT9")
        self.assertEqual(ds.StudyInstanceUID, "1.2.826.0.1.3680043.8.498.77")
        self.assertEqual(ds.RequestedProcedureID, "RP100")
        sps = ds.ScheduledProcedureStepSequence[0]
        self.assertEqual(sps.Modality, "CT")
        self.assertEqual(sps.ScheduledStationAETitle, "CT01")
        self.assertEqual(sps.ScheduledProcedureStepStartDate, "20240320")
        # NW again for the same order: AE duplicate.
        self.assertAck(c.send(nw.replace("|ORM1|", "|ORM1B|"), "latin-1"), "AE", "ORM1B",
                       "already exists")
        # XO changes the modality.
        obr[24] = "MR"
        xo = message(msh("ORM^O01", "ORM2", version="2.3.1"), "PID|1||PAT9",
                     "ORC|XO|ORD100|ACC100||SC", "|".join(obr).rstrip("|"))
        self.assertAck(c.send(xo), "AA", "ORM2")
        r = srv.find(["AccessionNumber=ACC100", "(0040,0100)[0].Modality"], model="W")
        self.assertEqual(r.datasets[0].ScheduledProcedureStepSequence[0].Modality, "MR")
        # CA removes it.
        ca = message(msh("ORM^O01", "ORM3", version="2.3.1"), "PID|1||PAT9", "ORC|CA|ORD100")
        self.assertAck(c.send(ca), "AA", "ORM3")
        r = srv.find(["AccessionNumber=ACC100", "PatientID"], model="W")
        self.assertEqual(len(r.datasets), 0, r.output)
        self.assertAck(c.send(message(msh("ORM^O01", "ORM4", version="2.3.1"), "PID|1||PAT9",
                                      "ORC|XO|NOSUCH")), "AE", "ORM4", "not on the worklist")
        self.assertAck(c.send(message(msh("ORM^O01", "ORM5", version="2.3.1"), "PID|1||PAT9",
                                      "ORC|ZZ|ORD7")), "AE", "ORM5", "order control")

    def test_orders_without_worklist_plugin_get_ae(self):
        self.hl7_server()
        c = self.client()
        ack = c.send(message(msh("OMI^O23^OMI_O23", "OMI1"), "PID|1||PAT9||A^B",
                             "ORC|NW|ORD1|||SC", "TQ1|1||||||20240401080000",
                             "OBR|1|ORD1||MR^Knee", "IPC|ACC1|RP1|1.2.3|SPS1|MR"))
        self.assertAck(ack, "AE", "OMI1", "no worklist")


if __name__ == "__main__":
    h.main()
