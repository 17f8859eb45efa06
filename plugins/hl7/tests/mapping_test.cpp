// HL7 -> DICOM mapping: names, dates, sex, identifiers, and order groups for the worklist.

#include "mapping.h"

#include <gtest/gtest.h>

namespace {

using namespace ossa::hl7;

Message parse(const std::string& text) {
  std::string error;
  auto m = Message::parse(text, error);
  EXPECT_TRUE(m) << error;
  return *m;
}

const char* kMsh = "MSH|^~\\&|HIS|H|OSSA|P|20240101||ADT^A08|1|P|2.5.1\r";

TEST(Mapping, PersonNamesSwapPrefixAndSuffix) {
  const Message m = parse(std::string(kMsh) +
                          "PID|1||P1||O\\S\\Brien&&x^Mary^Ann^Jr^Dr^MD~Alias^A^^^^^A||19800230\r");
  const Segment* pid = m.first("PID");
  EXPECT_EQ(xpn_to_pn(m, m.repetitions(pid->field(5))[0]), "O Brien^Mary^Ann^Dr^Jr");
  EXPECT_EQ(xpn_to_pn(m, "DOE^JOHN"), "DOE^JOHN");
  EXPECT_EQ(xcn_to_pn(m, "1234^Smith^Jane^^^Prof"), "Smith^Jane^^Prof");
}

TEST(Mapping, DemographicsFromPid) {
  const Message m = parse(std::string(kMsh) +
                          "PID|1|EXT9|P1^^^HOSP^MR~SSN5^^^SSA^SS||Doe^John^Q~Johnny^^^^^^N|"
                          "|19700102|m|||||||||||ACC|||\r");
  std::vector<std::string> notes;
  const auto a = demographics(m, *m.first("PID"), "P1", MappingOptions{}, notes);
  EXPECT_EQ(a["PatientName"], "Doe^John^Q");
  EXPECT_EQ(a["PatientBirthDate"], "19700102");
  EXPECT_EQ(a["PatientSex"], "M");
  EXPECT_EQ(a["(0010,1000)"], "SSN5\\EXT9");
  EXPECT_TRUE(notes.empty());
}

TEST(Mapping, LegalNameIsPreferredAndNullsClear) {
  const Message m = parse(std::string(kMsh) + "PID|1||P1||Nick^N^^^^^N~Legal^L^^^^^L||\"\"|\"\"\r");
  std::vector<std::string> notes;
  const auto a = demographics(m, *m.first("PID"), "P1", MappingOptions{}, notes);
  EXPECT_EQ(a["PatientName"], "Legal^L");
  EXPECT_EQ(a["PatientBirthDate"], "");
  EXPECT_EQ(a["PatientSex"], "");
  EXPECT_FALSE(a.contains("(0010,1000)"));
}

TEST(Mapping, AbsentFieldsAreNotSentAndBadValuesAreNoted) {
  const Message m = parse(std::string(kMsh) + "PID|1||P1||||1970|X\r");
  std::vector<std::string> notes;
  const auto a = demographics(m, *m.first("PID"), "P1", MappingOptions{}, notes);
  EXPECT_FALSE(a.contains("PatientName"));
  EXPECT_FALSE(a.contains("PatientBirthDate"));
  EXPECT_FALSE(a.contains("PatientSex"));
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_NE(notes[0].find("PID-7"), std::string::npos);
  EXPECT_NE(notes[1].find("PID-8"), std::string::npos);
}

TEST(Mapping, SexTable) {
  for (auto [hl7, dicom] : std::vector<std::pair<std::string, std::string>>{
           {"F", "F"}, {"M", "M"}, {"O", "O"}, {"A", "O"}, {"N", "O"}, {"U", ""}}) {
    const Message m = parse(std::string(kMsh) + "PID|1||P1||||19700101|" + hl7 + "\r");
    std::vector<std::string> notes;
    EXPECT_EQ(demographics(m, *m.first("PID"), "P1", {}, notes)["PatientSex"], dicom) << hl7;
  }
}

TEST(Mapping, PatientIdByAuthority) {
  const Message m = parse(std::string(kMsh) + "PID|1||A1^^^OTHER~B2^^^MAIN&1.2.3&ISO\r");
  MappingOptions options;
  EXPECT_EQ(choose_patient_id(m, m.first("PID")->field(3), options), "A1");
  options.patient_id_authority = "MAIN";
  EXPECT_EQ(choose_patient_id(m, m.first("PID")->field(3), options), "B2");
  options.patient_id_authority = "NONE";
  EXPECT_EQ(choose_patient_id(m, m.first("PID")->field(3), options), "A1");
}

TEST(Mapping, Timestamps) {
  std::string d, t;
  split_timestamp("20240315143000", d, t);
  EXPECT_EQ(d, "20240315");
  EXPECT_EQ(t, "143000");
  split_timestamp("202403151430+0100", d, t);
  EXPECT_EQ(t, "1430");
  split_timestamp("20240315143000.1234-0500", d, t);
  EXPECT_EQ(t, "143000.1234");
  split_timestamp("20240315", d, t);
  EXPECT_EQ(d, "20240315");
  EXPECT_EQ(t, "");
  split_timestamp("202403", d, t);
  EXPECT_EQ(d, "");
}

TEST(Mapping, OrmO01OrderGroups) {
  const Message m = parse(
      "MSH|^~\\&|RIS|H|OSSA|P|20240101||ORM^O01|5|P|2.3.1\r"
      "PID|1||P7^^^H||Roe^Ann||19900101|F||||||||||V55\r"
      "PV1|1|O||||||^Ref^Rita|||||||||||VIS1\r"
      "ORC|NW|PLC1|FIL1||SC||^^^20240320093000\r"
      "OBR|1|PLC1|FIL1|CTHEAD^CT Head^L^^Head CT "
      "plain||||||||||||||ACC1|RP1|SPS1||||CT||||||||||&Tech&Tom\r"
      "ZDS|1.2.3.4^RIS^Application^DICOM\r"
      "ORC|CA|PLC2\r"
      "OBR|1|PLC2\r");
  std::string error;
  MappingOptions options;
  options.scheduled_station_aet = "CT1";
  const auto found = orders(m, options, error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(found.size(), 2u);
  const auto& e = found[0].entry;
  EXPECT_EQ(found[0].control, "NW");
  EXPECT_EQ(found[0].order_id, "PLC1");
  EXPECT_EQ(e["PatientID"], "P7");
  EXPECT_EQ(e["PatientName"], "Roe^Ann");
  EXPECT_EQ(e["PatientBirthDate"], "19900101");
  EXPECT_EQ(e["PatientSex"], "F");
  EXPECT_EQ(e["AccessionNumber"], "ACC1");
  EXPECT_EQ(e["RequestedProcedureID"], "RP1");
  EXPECT_EQ(e["ScheduledProcedureStepID"], "SPS1");
  EXPECT_EQ(e["StudyInstanceUID"], "1.2.3.4");
  EXPECT_EQ(e["Modality"], "CT");
  EXPECT_EQ(e["ScheduledProcedureStepDescription"], "Head CT plain");
  EXPECT_EQ(e["RequestedProcedureDescription"], "CT Head");
  EXPECT_EQ(e["ScheduledProcedureStepStartDate"], "20240320");
  EXPECT_EQ(e["ScheduledProcedureStepStartTime"], "093000");
  EXPECT_EQ(e["ScheduledStationAETitle"], "CT1");
  EXPECT_EQ(e["ReferringPhysicianName"], "Ref^Rita");
  EXPECT_EQ(e["ScheduledPerformingPhysicianName"], "Tech^Tom");
  EXPECT_EQ(e["AdmissionID"], "VIS1");
  EXPECT_EQ(found[1].control, "CA");
  EXPECT_EQ(found[1].order_id, "PLC2");
}

TEST(Mapping, OmiO23UsesIpcAndTq1) {
  const Message m = parse(
      "MSH|^~\\&|RIS|H|OSSA|P|20240101||OMI^O23^OMI_O23|6|P|2.5.1\r"
      "PID|1||P8||Poe^Al\r"
      "ORC|NW|PLC3|||SC\r"
      "TQ1|1||||||20240401080000\r"
      "OBR|1|PLC3||MR^MR Knee|||||||||||||OBRACC\r"
      "IPC|ACC9|RP9|1.2.9|SPS9|MR|^Knee protocol|MR 2|Room 2|MRAE\r");
  std::string error;
  const auto found = orders(m, MappingOptions{}, error);
  ASSERT_EQ(found.size(), 1u);
  const auto& e = found[0].entry;
  EXPECT_EQ(e["AccessionNumber"], "ACC9");
  EXPECT_EQ(e["RequestedProcedureID"], "RP9");
  EXPECT_EQ(e["StudyInstanceUID"], "1.2.9");
  EXPECT_EQ(e["ScheduledProcedureStepID"], "SPS9");
  EXPECT_EQ(e["Modality"], "MR");
  EXPECT_EQ(e["ScheduledProcedureStepDescription"], "Knee protocol");
  EXPECT_EQ(e["ScheduledStationName"], "MR 2");
  EXPECT_EQ(e["ScheduledStationAETitle"], "MRAE");
  EXPECT_EQ(e["ScheduledProcedureStepStartDate"], "20240401");
  EXPECT_EQ(e["ScheduledProcedureStepStartTime"], "080000");
}

TEST(Mapping, ObrBeforeOrcIsAnError) {
  const Message m = parse("MSH|^~\\&|RIS|H|OSSA|P|20240101||ORM^O01|5|P|2.3.1\rOBR|1|X\r");
  std::string error;
  EXPECT_TRUE(orders(m, MappingOptions{}, error).empty());
  EXPECT_NE(error.find("OBR"), std::string::npos);
}

}  // namespace
