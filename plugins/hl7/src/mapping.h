#pragma once
// HL7 -> DICOM: demographics from PID (ADT) and worklist entries from ORM^O01 / OMI^O23 order
// groups (IHE RAD TF-2 Appendix B as implemented by dcm4chee; dicom-hl7-checklist 7.5).
//
// Values are UTF-8 (the message is converted before parsing). An HL7 explicit null ("" in a
// field) clears the attribute; an empty field leaves it as it is (the attribute is not sent).
//
// Thread safety: pure functions.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "er7.h"

namespace ossa::hl7 {

struct MappingOptions {
  // PID-3 (and MRG-1) repetition used as the archive's Patient ID: the one whose assigning
  // authority (CX-4, first subcomponent) is this; "" = the first repetition with an ID.
  std::string patient_id_authority;
  // ScheduledStationAETitle when an order names none (OMI: IPC-9).
  std::string scheduled_station_aet;
};

// The Patient ID from a CX list (PID-3, MRG-1), "" when none.
std::string choose_patient_id(const Message& m, const std::string& raw_cx_list,
                              const MappingOptions& options);

// HL7 XPN (family^given^middle^suffix^prefix^degree) -> DICOM PN family^given^middle^prefix^suffix.
std::string xpn_to_pn(const Message& m, const std::string& raw_repetition);
// HL7 XCN (id^family^given^middle^suffix^prefix) -> DICOM PN.
std::string xcn_to_pn(const Message& m, const std::string& raw_repetition);

// Splits an HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]) into a DICOM DA and TM; a date
// with fewer than 8 digits gives "" for both.
void split_timestamp(const std::string& ts, std::string& date, std::string& time);

// Patient-level attributes from a PID segment, keyed by keyword: PatientName, PatientBirthDate,
// PatientSex, and "(0010,1000)" Other Patient IDs (the ID's own keyword is retired in DCMTK's
// dictionary). `notes` receives why a value present in the message was not used.
nlohmann::json demographics(const Message& m, const Segment& pid, const std::string& patient_id,
                            const MappingOptions& options, std::vector<std::string>& notes);

// One order group of an ORM^O01 / OMI^O23: the ORC and the OBR, TQ1, IPC, ZDS that follow it.
struct Order {
  std::string control;   // ORC-1 (NW, XO, CA, DC, OC, SC, ...)
  std::string status;    // ORC-5
  std::string order_id;  // placer order number: ORC-2.1, else OBR-2.1
  nlohmann::json entry;  // flat keyword -> string map for the worklist plugin
  int index = 0;         // 1-based position of the ORC in the message
};

// Order groups of the message, with entries holding every attribute found (patient ones
// included). `error` is set when an OBR comes before any ORC.
std::vector<Order> orders(const Message& m, const MappingOptions& options, std::string& error);

// The keys of an entry that describe the patient (left out of worklist.update).
bool is_patient_key(const std::string& keyword);

}  // namespace ossa::hl7
