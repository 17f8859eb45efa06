// Message handling end to end without sockets: ACK codes, journal and duplicates, charsets, ADT
// update and merge outcomes, orders to the worklist methods. The host side is a small in-memory
// archive and worklist (FakeArchive) that behaves as plugin.h specifies.

#include "processor.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "charset.h"

namespace {

namespace fs = std::filesystem;
using namespace ossa::hl7;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ossa-hl7-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

// Patients map ID -> attributes; merge moves (renames) as core's Index::merge_patient does.
class FakeArchive final : public HostPort {
 public:
  std::map<std::string, nlohmann::json> patients;
  std::map<std::string, int> studies;  // patient ID -> number of studies
  std::map<std::string, nlohmann::json> worklist;
  bool worklist_loaded = true;
  std::vector<std::string> calls;
  std::vector<std::string> logs;

  HostStatus update_patient(const std::string& id, const std::string& json) override {
    calls.push_back("update " + id + " " + json);
    auto it = patients.find(id);
    if (it == patients.end()) return HostStatus::kNotFound;
    const auto given = nlohmann::json::parse(json);
    for (const auto& [k, v] : given.items()) it->second[k] = v;
    return HostStatus::kOk;
  }
  HostStatus merge_patient(const std::string& old_id, const std::string& new_id) override {
    calls.push_back("merge " + old_id + " " + new_id);
    if (old_id == new_id) return HostStatus::kInvalid;
    auto it = patients.find(old_id);
    if (it == patients.end()) return HostStatus::kNotFound;
    if (!patients.count(new_id)) patients[new_id] = it->second;
    studies[new_id] += studies[old_id];
    studies.erase(old_id);
    patients.erase(it);
    return HostStatus::kOk;
  }
  HostStatus call_method(const std::string& name, const std::string& params,
                         std::string& result) override {
    calls.push_back(name + " " + params);
    if (!worklist_loaded) return HostStatus::kNotFound;
    const auto p = nlohmann::json::parse(params);
    if (!p.contains("order_id")) return HostStatus::kInvalid;
    const std::string id = p["order_id"];
    if (name == "worklist.add") {
      if (worklist.count(id)) return HostStatus::kError;
      worklist[id] = p["entry"];
      result = nlohmann::json{{"order_id", id}, {"id", 1}, {"StudyInstanceUID", "1.2.3"}}.dump();
      return HostStatus::kOk;
    }
    if (!worklist.count(id)) return HostStatus::kNotFound;
    if (name == "worklist.update") {
      for (const auto& [k, v] : p["entry"].items()) worklist[id][k] = v;
    } else if (name == "worklist.remove") {
      worklist.erase(id);
    }
    result = "{}";
    return HostStatus::kOk;
  }
  void log(LogLevel, const std::string& message) override { logs.push_back(message); }
};

struct Ack {
  std::string code, control, text;
  std::string msh, err;
};

Ack read_ack(const std::string& bytes) {
  Ack a;
  for (const auto& seg : split(bytes, '\r')) {
    const auto f = split(seg, '|');
    if (f[0] == "MSH") a.msh = seg;
    if (f[0] == "MSA") {
      a.code = f.size() > 1 ? f[1] : "";
      a.control = f.size() > 2 ? f[2] : "";
      a.text = f.size() > 3 ? f[3] : "";
    }
    if (f[0] == "ERR") a.err = seg;
  }
  return a;
}

class ProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(journal.open(dir.path(), error)) << error;
    archive.patients["P1"] = {{"PatientName", "Old^Name"}};
    archive.studies["P1"] = 2;
  }
  Ack send(const std::string& text) { return read_ack(processor.handle(text, "test")); }

  static std::string adt(const std::string& event, const std::string& control,
                         const std::string& pid, const std::string& extra = "",
                         const std::string& version = "2.5.1", const std::string& charset = "") {
    return "MSH|^~\\&|HIS|HOSP|OSSA|PACS|20240101120000||ADT^" + event + "|" + control + "|P|" +
           version + "|||||" + (charset.empty() ? "" : "|" + charset) + "\rEVN|" + event + "\r" +
           pid + "\r" + extra;
  }

  TempDir dir;
  Journal journal;
  FakeArchive archive;
  Processor processor{ProcessorOptions{}, journal, archive};
};

TEST_F(ProcessorTest, A08UpdatesDemographicsAndIsJournalled) {
  const Ack a = send(adt("A08", "M1", "PID|1||P1^^^H||Doe^Jane||19800102|F"));
  EXPECT_EQ(a.code, "AA") << a.text;
  EXPECT_EQ(a.control, "M1");
  EXPECT_EQ(archive.patients["P1"]["PatientName"], "Doe^Jane");
  EXPECT_EQ(archive.patients["P1"]["PatientBirthDate"], "19800102");
  EXPECT_EQ(archive.patients["P1"]["PatientSex"], "F");
  const auto entry = journal.find("HIS|HOSP", "M1");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->ack_code, "AA");
  EXPECT_EQ(read_ack(entry->ack).control, "M1");
}

TEST_F(ProcessorTest, DuplicateIsAcknowledgedWithoutReapplying) {
  const std::string message = adt("A08", "DUP", "PID|1||P1||Doe^Jane");
  const std::string first = processor.handle(message, "test");
  archive.patients["P1"]["PatientName"] = "Changed^Meanwhile";
  archive.calls.clear();
  const std::string second = processor.handle(message, "test");
  EXPECT_EQ(first, second);
  EXPECT_TRUE(archive.calls.empty());
  EXPECT_EQ(archive.patients["P1"]["PatientName"], "Changed^Meanwhile");
  // The same control ID from another sender is another message.
  std::string other = message;
  other.replace(other.find("HIS|HOSP"), 8, "LAB|HOSP");
  EXPECT_EQ(read_ack(processor.handle(other, "test")).code, "AA");
  EXPECT_EQ(archive.patients["P1"]["PatientName"], "Doe^Jane");
}

TEST_F(ProcessorTest, MessageJournalledBeforeACrashIsAppliedOnResend) {
  const std::string message = adt("A08", "CRASH", "PID|1||P1||After^Crash");
  std::string error;
  ASSERT_GT(journal.record("HIS|HOSP", "CRASH", "ADT^A08", "test", message, error), 0);
  EXPECT_EQ(send(message).code, "AA");
  EXPECT_EQ(archive.patients["P1"]["PatientName"], "After^Crash");
}

TEST_F(ProcessorTest, UnknownPatientIsAcceptedWithANote) {
  const Ack a = send(adt("A01", "M2", "PID|1||NOPE||Who^Is"));
  EXPECT_EQ(a.code, "AA");
  EXPECT_NE(a.text.find("not in the archive"), std::string::npos) << a.text;
}

TEST_F(ProcessorTest, MissingPatientIdIsAnError) {
  const Ack a = send(adt("A08", "M3", "PID|1||||Doe^Jane"));
  EXPECT_EQ(a.code, "AE");
  EXPECT_NE(a.err.find("PID^1^3"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("101"), std::string::npos);
}

TEST_F(ProcessorTest, RejectionsForVersionTypeEventAndHeader) {
  EXPECT_EQ(send(adt("A08", "V", "PID|1||P1", "", "2.2")).code, "AR");
  EXPECT_EQ(send(adt("A08", "V2", "PID|1||P1", "", "2.7")).code, "AR");
  EXPECT_EQ(send(adt("A02", "E", "PID|1||P1")).code, "AR");
  Ack a = send("MSH|^~\\&|HIS|HOSP|OSSA|PACS|20240101||SIU^S12|T|P|2.5\r");
  EXPECT_EQ(a.code, "AR");
  EXPECT_NE(a.err.find("200"), std::string::npos);
  a = send("MSH|^~\\&|HIS|HOSP|OSSA|PACS|20240101||ADT^A08||P|2.5\r");
  EXPECT_EQ(a.code, "AR");
  EXPECT_NE(a.text.find("MSH-10"), std::string::npos);
  a = send("PID|1||P1\r");
  EXPECT_EQ(a.code, "AR");
  EXPECT_NE(a.text.find("malformed MSH"), std::string::npos);
}

TEST_F(ProcessorTest, CharsetsAreConvertedAndUnknownOnesRefused) {
  // Latin-1 bytes, declared.
  Ack a = send(adt("A08", "C1", "PID|1||P1||M\xFCller^J\xF6rg", "", "2.5.1", "8859/1"));
  EXPECT_EQ(a.code, "AA") << a.text;
  EXPECT_EQ(archive.patients["P1"]["PatientName"], "M\xC3\xBCller^J\xC3\xB6rg");
  // UTF-8, declared; the \X..\ escape is in the message's character set.
  a = send(adt("A08", "C2", "PID|1||P1||\xE5\xB1\xB1\xE7\x94\xB0^\\XE5A4AA\\\xE9\x83\x8E", "",
               "2.5.1", "UNICODE UTF-8"));
  EXPECT_EQ(a.code, "AA") << a.text;
  EXPECT_EQ(archive.patients["P1"]["PatientName"],
            "\xE5\xB1\xB1\xE7\x94\xB0^\xE5\xA4\xAA\xE9\x83\x8E");
  // Unknown character set: AE naming it, at MSH-18.
  a = send(adt("A08", "C3", "PID|1||P1||X", "", "2.5.1", "KLINGON"));
  EXPECT_EQ(a.code, "AE");
  EXPECT_NE(a.text.find("KLINGON"), std::string::npos);
  EXPECT_NE(a.err.find("MSH^1^18"), std::string::npos) << a.err;
  // Declared Latin-1 but not valid for ASCII: undeclared 8-bit bytes are refused.
  a = send(adt("A08", "C4", "PID|1||P1||M\xFCller"));
  EXPECT_EQ(a.code, "AE");
  // The ACK comes back in the message's character set, with its MSH-18.
  const std::string raw =
      processor.handle(adt("A08", "C5", "PID|1||NOPE\xE9||X", "", "2.5.1", "8859/1"), "test");
  EXPECT_NE(raw.find("|8859/1\r"), std::string::npos) << raw;
  EXPECT_NE(raw.find("NOPE\xE9"), std::string::npos) << "the note names the patient in Latin-1";
}

TEST_F(ProcessorTest, MergeAndItsRepeatedReversedCircularAndSelfForms) {
  archive.patients["P2"] = {{"PatientName", "Two"}};
  archive.studies["P2"] = 1;
  // P1 -> P2
  Ack a = send(adt("A40", "G1", "PID|1||P2^^^H||New^Name", "MRG|P1^^^H\r"));
  EXPECT_EQ(a.code, "AA") << a.text;
  EXPECT_FALSE(archive.patients.count("P1"));
  EXPECT_EQ(archive.studies["P2"], 3);
  EXPECT_EQ(archive.patients["P2"]["PatientName"], "New^Name");
  // Repeated: nothing left under P1.
  a = send(adt("A40", "G2", "PID|1||P2", "MRG|P1\r"));
  EXPECT_EQ(a.code, "AA");
  EXPECT_NE(a.text.find("repeated merge"), std::string::npos) << a.text;
  // Self.
  a = send(adt("A40", "G3", "PID|1||P2", "MRG|P2\r"));
  EXPECT_EQ(a.code, "AA");
  EXPECT_NE(a.text.find("self merge"), std::string::npos) << a.text;
  EXPECT_EQ(archive.studies["P2"], 3);
  // Reversed: P2 -> P1.
  a = send(adt("A40", "G4", "PID|1||P1", "MRG|P2\r"));
  EXPECT_EQ(a.code, "AA");
  EXPECT_NE(a.text.find("reverses"), std::string::npos) << a.text;
  EXPECT_EQ(archive.studies["P1"], 3);
  // Circular: P1 -> P3, P3 -> P4, then P4 -> P1.
  EXPECT_EQ(send(adt("A40", "G5", "PID|1||P3", "MRG|P1\r")).code, "AA");
  EXPECT_EQ(send(adt("A40", "G6", "PID|1||P4", "MRG|P3\r")).code, "AA");
  a = send(adt("A40", "G7", "PID|1||P1", "MRG|P4\r"));
  EXPECT_EQ(a.code, "AA");
  EXPECT_NE(a.text.find("cycle P1 -> P3 -> P4"), std::string::npos) << a.text;
  EXPECT_EQ(archive.studies["P1"], 3);
  EXPECT_EQ(archive.patients.size(), 1u);
  // Conflicting: P9 merged into P1 earlier, now into P5 -> AE, nothing changed.
  archive.patients["P9"] = {};
  EXPECT_EQ(send(adt("A40", "G8", "PID|1||P1", "MRG|P9\r")).code, "AA");
  a = send(adt("A40", "G9", "PID|1||P5", "MRG|P9\r"));
  EXPECT_EQ(a.code, "AE");
  EXPECT_NE(a.text.find("conflicting merge"), std::string::npos) << a.text;
  // Unknown prior patient, never merged.
  a = send(adt("A40", "G10", "PID|1||P1", "MRG|NEVER\r"));
  EXPECT_EQ(a.code, "AA");
  EXPECT_NE(a.text.find("not in the archive"), std::string::npos);
  // MRG missing.
  EXPECT_EQ(send(adt("A40", "G11", "PID|1||P1")).code, "AE");
}

TEST_F(ProcessorTest, SeveralMergePairsInOneA40) {
  archive.patients["A"] = {};
  archive.patients["B"] = {};
  const Ack a = send(adt("A40", "GG", "PID|1||T", "MRG|A\rPID|2||T\rMRG|B\r"));
  EXPECT_EQ(a.code, "AA") << a.text;
  EXPECT_FALSE(archive.patients.count("A"));
  EXPECT_FALSE(archive.patients.count("B"));
  EXPECT_TRUE(archive.patients.count("T"));
}

std::string orm(const std::string& control, const std::string& orc, const std::string& obr = "") {
  return "MSH|^~\\&|RIS|HOSP|OSSA|PACS|20240101||ORM^O01|" + control +
         "|P|2.3.1\rPID|1||P1||Doe^Jane||19800102|F\r" + orc + "\r" +
         (obr.empty() ? "" : obr + "\r");
}

TEST_F(ProcessorTest, OrdersDriveTheWorklist) {
  Ack a = send(orm("O1", "ORC|NW|ORD1|F1||SC", "OBR|1|ORD1|F1|X^CT Head||||||||||||||||||||CT"));
  EXPECT_EQ(a.code, "AA") << a.text;
  ASSERT_TRUE(archive.worklist.count("ORD1"));
  EXPECT_EQ(archive.worklist["ORD1"]["PatientID"], "P1");
  EXPECT_EQ(archive.worklist["ORD1"]["Modality"], "CT");
  EXPECT_EQ(archive.worklist["ORD1"]["AccessionNumber"], "F1");
  // NW again (another control ID) for the same order: AE duplicate key.
  a = send(orm("O2", "ORC|NW|ORD1|F1||SC"));
  EXPECT_EQ(a.code, "AE");
  EXPECT_NE(a.err.find("205"), std::string::npos) << a.err;
  // XO changes the order, not the patient.
  a = send(orm("O3", "ORC|XO|ORD1|F1||SC", "OBR|1|ORD1|F1|X^MR Knee||||||||||||||||||||MR"));
  EXPECT_EQ(a.code, "AA") << a.text;
  EXPECT_EQ(archive.worklist["ORD1"]["Modality"], "MR");
  EXPECT_EQ(archive.calls.back().find("PatientName"), std::string::npos) << archive.calls.back();
  // XO for an unknown order: AE unknown key.
  a = send(orm("O4", "ORC|XO|NOPE"));
  EXPECT_EQ(a.code, "AE");
  EXPECT_NE(a.err.find("204"), std::string::npos);
  // CA removes; CA again is a no-op.
  EXPECT_EQ(send(orm("O5", "ORC|CA|ORD1")).code, "AA");
  EXPECT_FALSE(archive.worklist.count("ORD1"));
  a = send(orm("O6", "ORC|CA|ORD1"));
  EXPECT_EQ(a.code, "AA");
  EXPECT_NE(a.text.find("nothing to cancel"), std::string::npos);
  // Unsupported order control.
  a = send(orm("O7", "ORC|RE|ORD2"));
  EXPECT_EQ(a.code, "AE");
  EXPECT_NE(a.err.find("ORC^1^1"), std::string::npos);
  // No order number.
  EXPECT_EQ(send(orm("O8", "ORC|NW|")).code, "AE");
}

TEST_F(ProcessorTest, ResentNewOrderAfterACrashIsAccepted) {
  const std::string message = orm("R1", "ORC|NW|ORD5|F5||SC");
  std::string error;
  ASSERT_GT(journal.record("RIS|HOSP", "R1", "ORM^O01", "test", message, error), 0);
  archive.worklist["ORD5"] = {{"PatientID", "P1"}};  // applied before the crash
  const Ack a = send(message);
  EXPECT_EQ(a.code, "AA") << a.text;
  EXPECT_NE(a.text.find("earlier delivery"), std::string::npos);
}

TEST_F(ProcessorTest, NoWorklistPlugin) {
  archive.worklist_loaded = false;
  for (const char* orc : {"ORC|NW|ORD1", "ORC|XO|ORD1", "ORC|CA|ORD1"}) {
    const Ack a = send(orm(std::string("W") + orc[4], orc));
    EXPECT_EQ(a.code, "AE") << orc;
    EXPECT_NE(a.text.find("no worklist"), std::string::npos) << a.text;
  }
  // An AE'd message is processed again when it is sent again (the worklist is back).
  archive.worklist_loaded = true;
  EXPECT_EQ(send(orm("WN", "ORC|NW|ORD1")).code, "AA");
}

TEST_F(ProcessorTest, OmiO23IsAnOrderToo) {
  const std::string omi =
      "MSH|^~\\&|RIS|HOSP|OSSA|PACS|20240101||OMI^O23^OMI_O23|OMI1|P|2.5.1\r"
      "PID|1||P1||Doe^Jane\rORC|NW|ORD9|||SC\rTQ1|1||||||20240401080000\r"
      "OBR|1|ORD9||MR^Knee\rIPC|ACC9|RP9|1.2.9|SPS9|MR\r";
  EXPECT_EQ(send(omi).code, "AA");
  EXPECT_EQ(archive.worklist["ORD9"]["StudyInstanceUID"], "1.2.9");
  EXPECT_EQ(archive.worklist["ORD9"]["ScheduledProcedureStepStartDate"], "20240401");
}

TEST_F(ProcessorTest, FramingErrorGetsAnArWhenTheMessageCanBeIdentified) {
  Ack a =
      read_ack(processor.framing_error(adt("A08", "FR", "PID|1||P1"), "test", "frame interrupted"));
  EXPECT_EQ(a.code, "AR");
  EXPECT_EQ(a.control, "FR");
  EXPECT_NE(a.text.find("frame interrupted"), std::string::npos);
  EXPECT_TRUE(processor.framing_error("garbage", "test", "junk").empty());
  EXPECT_FALSE(archive.logs.empty());
}

}  // namespace
