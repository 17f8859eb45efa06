#include "mapping.h"

#include <algorithm>
#include <cctype>

namespace ossa::hl7 {
namespace {

const char* const kNull = "\"\"";  // HL7's explicit null: delete the value

std::string trim(std::string s) {
  const auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && blank(s.back())) s.pop_back();
  size_t start = 0;
  while (start < s.size() && blank(s[start])) ++start;
  return s.substr(start);
}

// A DICOM value component must not hold the PN/value delimiters.
std::string clean(std::string s) {
  for (char& c : s) {
    if (c == '^' || c == '=' || c == '\\' || c == '\r' || c == '\n') c = ' ';
  }
  return trim(std::move(s));
}

std::string pn(const std::string& family, const std::string& given, const std::string& middle,
               const std::string& prefix, const std::string& suffix) {
  std::string out = clean(family) + '^' + clean(given) + '^' + clean(middle) + '^' + clean(prefix) +
                    '^' + clean(suffix);
  while (!out.empty() && out.back() == '^') out.pop_back();
  return out;
}

// Field n of the first segment named `name` among `group`, repetition 0, component `comp`.
std::string first_value(const Message& m, const std::vector<const Segment*>& group,
                        const char* name, size_t field, size_t comp = 1, size_t sub = 0) {
  for (const Segment* s : group) {
    if (s->name == name) return trim(m.value(*s, field, 0, comp, sub));
  }
  return {};
}

const Segment* first_in(const std::vector<const Segment*>& group, const char* name) {
  for (const Segment* s : group) {
    if (s->name == name) return s;
  }
  return nullptr;
}

void put(nlohmann::json& entry, const char* key, const std::string& value) {
  if (!value.empty()) entry[key] = value;
}

}  // namespace

std::string choose_patient_id(const Message& m, const std::string& raw_cx_list,
                              const MappingOptions& options) {
  std::string first;
  for (const std::string& rep : m.repetitions(raw_cx_list)) {
    const std::string id = clean(m.value_of(rep, 1));
    if (id.empty()) continue;
    if (options.patient_id_authority.empty()) return id;
    if (first.empty()) first = id;
    if (trim(m.value_of(rep, 4, 1)) == options.patient_id_authority) return id;
  }
  // No repetition of the configured authority: the first one (said in the ACK by the caller).
  return options.patient_id_authority.empty() ? std::string() : first;
}

std::string xpn_to_pn(const Message& m, const std::string& rep) {
  // XPN-1 is FN (surname&own prefix&...) since v2.3.1: the surname is its first subcomponent.
  return pn(m.value_of(rep, 1, 1), m.value_of(rep, 2), m.value_of(rep, 3), m.value_of(rep, 5),
            m.value_of(rep, 4));
}

std::string xcn_to_pn(const Message& m, const std::string& rep) {
  return pn(m.value_of(rep, 2, 1), m.value_of(rep, 3), m.value_of(rep, 4), m.value_of(rep, 6),
            m.value_of(rep, 5));
}

void split_timestamp(const std::string& ts_in, std::string& date, std::string& time) {
  date.clear();
  time.clear();
  const std::string ts = trim(ts_in);
  size_t digits = 0;
  while (digits < ts.size() && std::isdigit(static_cast<unsigned char>(ts[digits]))) ++digits;
  if (digits < 8) return;
  date = ts.substr(0, 8);
  if (digits >= 12) {
    time = ts.substr(8, std::min<size_t>(digits, 14) - 8);
    if (digits == 14 && ts.size() > 14 && ts[14] == '.') {
      size_t end = 15;
      while (end < ts.size() && end < 21 && std::isdigit(static_cast<unsigned char>(ts[end])))
        ++end;
      if (end > 15) time += ts.substr(14, end - 14);
    }
  } else if (digits >= 10) {
    time = ts.substr(8, 2);
  }
}

nlohmann::json demographics(const Message& m, const Segment& pid, const std::string& patient_id,
                            const MappingOptions& /*options*/, std::vector<std::string>& notes) {
  nlohmann::json a = nlohmann::json::object();

  // PatientName: PID-5, the legal name (XPN-7 = L) when there are several.
  const std::string& raw_name = pid.field(5);
  if (raw_name == kNull) {
    a["PatientName"] = "";
  } else if (!raw_name.empty()) {
    const auto reps = m.repetitions(raw_name);
    std::string chosen = reps.front();
    for (const auto& rep : reps) {
      if (trim(m.value_of(rep, 7)) == "L") {
        chosen = rep;
        break;
      }
    }
    const std::string name = xpn_to_pn(m, chosen);
    if (!name.empty()) a["PatientName"] = name;
  }

  // PatientBirthDate: PID-7 (TS; DTM in v2.5, the first component either way).
  const std::string& raw_birth = pid.field(7);
  if (raw_birth == kNull) {
    a["PatientBirthDate"] = "";
  } else if (!raw_birth.empty()) {
    std::string date, time;
    const std::string ts = m.value(pid, 7, 0, 1);
    split_timestamp(ts, date, time);
    if (!date.empty()) {
      a["PatientBirthDate"] = date;
    } else {
      notes.push_back("PID-7 '" + ts + "' is not a full date: birth date not changed");
    }
  }

  // PatientSex: PID-8 (HL7 table 0001: F M O U A N) -> DICOM M F O, unknown -> empty.
  const std::string& raw_sex = pid.field(8);
  if (raw_sex == kNull) {
    a["PatientSex"] = "";
  } else if (!raw_sex.empty()) {
    std::string sex = trim(m.value(pid, 8, 0, 1));
    std::transform(sex.begin(), sex.end(), sex.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (sex == "M" || sex == "F" || sex == "O") {
      a["PatientSex"] = sex;
    } else if (sex == "A" || sex == "N") {
      a["PatientSex"] = "O";
    } else if (sex == "U") {
      a["PatientSex"] = "";
    } else {
      notes.push_back("PID-8 '" + sex + "' is not in HL7 table 0001: sex not changed");
    }
  }

  // Other Patient IDs: the other PID-3 identifiers, PID-2 and PID-4.
  std::vector<std::string> others;
  const auto add = [&](const std::string& id) {
    const std::string v = clean(id);
    if (v.empty() || v == patient_id) return;
    if (std::find(others.begin(), others.end(), v) == others.end()) others.push_back(v);
  };
  for (size_t field : {3, 2, 4}) {
    for (const std::string& rep : m.repetitions(pid.field(field))) {
      if (rep != kNull) add(m.value_of(rep, 1));
    }
  }
  if (!others.empty()) {
    std::string joined;
    for (const auto& o : others) joined += (joined.empty() ? "" : "\\") + o;
    a["(0010,1000)"] = joined;
  }
  return a;
}

bool is_patient_key(const std::string& keyword) {
  return keyword.rfind("Patient", 0) == 0 || keyword == "OtherPatientIDs";
}

std::vector<Order> orders(const Message& m, const MappingOptions& options, std::string& error) {
  // Group the segments: each ORC with the OBR/TQ1/IPC/ZDS/NTE after it.
  std::vector<std::vector<const Segment*>> groups;
  const Segment* pid = nullptr;
  const Segment* pv1 = nullptr;
  for (const Segment& s : m.segments()) {
    if (s.name == "PID" && pid == nullptr) pid = &s;
    if (s.name == "PV1" && pv1 == nullptr) pv1 = &s;
    if (s.name == "ORC") {
      groups.emplace_back();
      groups.back().push_back(&s);
    } else if (s.name == "OBR" || s.name == "TQ1" || s.name == "IPC" || s.name == "ZDS") {
      if (groups.empty()) {
        error = s.name + " before any ORC";
        return {};
      }
      groups.back().push_back(&s);
    }
  }

  // The patient part, the same for every order of the message.
  nlohmann::json patient = nlohmann::json::object();
  if (pid != nullptr) {
    const std::string id = choose_patient_id(m, pid->field(3), options);
    std::vector<std::string> ignored;
    nlohmann::json d = demographics(m, *pid, id, options, ignored);
    put(patient, "PatientID", id);
    for (const char* key : {"PatientName", "PatientBirthDate", "PatientSex"}) {
      if (d.contains(key) && !d[key].get<std::string>().empty()) patient[key] = d[key];
    }
    if (d.contains("(0010,1000)")) patient["OtherPatientIDs"] = d["(0010,1000)"];
  }
  std::string admission, referring;
  if (pv1 != nullptr) {
    admission = trim(m.value(*pv1, 19, 0, 1));
    const auto reps = m.repetitions(pv1->field(8));
    if (!reps.empty()) referring = xcn_to_pn(m, reps.front());
  }
  if (admission.empty() && pid != nullptr) admission = trim(m.value(*pid, 18, 0, 1));

  std::vector<Order> out;
  int index = 0;
  for (const auto& g : groups) {
    const Segment& orc = *g.front();
    Order o;
    o.index = ++index;
    o.control = trim(m.value(orc, 1, 0, 1));
    o.status = trim(m.value(orc, 5, 0, 1));
    o.order_id = trim(m.value(orc, 2, 0, 1));
    if (o.order_id.empty()) o.order_id = first_value(m, g, "OBR", 2);
    nlohmann::json e = patient;
    const Segment* obr = first_in(g, "OBR");
    const Segment* ipc = first_in(g, "IPC");

    // AccessionNumber: IPC-1 (OMI), else OBR-18 (placer field 1, IHE), else the filler order
    // number ORC-3 / OBR-3 (what many RIS use as the accession number).
    std::string accession = first_value(m, g, "IPC", 1);
    if (accession.empty()) accession = first_value(m, g, "OBR", 18);
    if (accession.empty()) accession = trim(m.value(orc, 3, 0, 1));
    if (accession.empty()) accession = first_value(m, g, "OBR", 3);
    put(e, "AccessionNumber", accession);

    std::string requested = first_value(m, g, "IPC", 2);
    if (requested.empty()) requested = first_value(m, g, "OBR", 19);
    if (requested.empty()) requested = accession;  // a worklist entry needs one
    put(e, "RequestedProcedureID", requested);

    std::string uid = first_value(m, g, "IPC", 3);
    if (uid.empty()) uid = first_value(m, g, "ZDS", 1);
    put(e, "StudyInstanceUID", uid);

    std::string step = first_value(m, g, "IPC", 4);
    if (step.empty()) step = first_value(m, g, "OBR", 20);
    if (step.empty()) step = requested;
    put(e, "ScheduledProcedureStepID", step);

    std::string modality = first_value(m, g, "IPC", 5);
    if (modality.empty()) modality = first_value(m, g, "OBR", 24);
    put(e, "Modality", modality);

    // Descriptions: IPC-6 (protocol code text), OBR-4 universal service ID (text, then
    // alternate text), OBR-44 procedure code text.
    std::string step_description = first_value(m, g, "IPC", 6, 2);
    std::string service_text, service_alt, procedure_text;
    if (obr != nullptr) {
      service_text = trim(m.value(*obr, 4, 0, 2));
      service_alt = trim(m.value(*obr, 4, 0, 5));
      procedure_text = trim(m.value(*obr, 44, 0, 2));
    }
    if (step_description.empty())
      step_description = !service_alt.empty() ? service_alt : service_text;
    std::string requested_description = !procedure_text.empty() ? procedure_text : service_text;
    if (requested_description.empty()) requested_description = service_alt;
    put(e, "ScheduledProcedureStepDescription", step_description);
    put(e, "RequestedProcedureDescription", requested_description);

    // Start date/time: TQ1-7, ORC-7.4 (TQ start), OBR-27.4, OBR-36, OBR-7, OBR-6.
    std::string ts = first_value(m, g, "TQ1", 7, 1);
    if (ts.empty()) ts = trim(m.value(orc, 7, 0, 4, 1));
    if (ts.empty() && obr != nullptr) ts = trim(m.value(*obr, 27, 0, 4, 1));
    if (ts.empty()) ts = first_value(m, g, "OBR", 36);
    if (ts.empty()) ts = first_value(m, g, "OBR", 7);
    if (ts.empty()) ts = first_value(m, g, "OBR", 6);
    std::string date, time;
    split_timestamp(ts, date, time);
    put(e, "ScheduledProcedureStepStartDate", date);
    put(e, "ScheduledProcedureStepStartTime", time);

    std::string station_aet = ipc != nullptr ? trim(m.value(*ipc, 9, 0, 1)) : std::string();
    if (station_aet.empty()) station_aet = options.scheduled_station_aet;
    put(e, "ScheduledStationAETitle", station_aet);
    put(e, "ScheduledStationName", ipc != nullptr ? trim(m.value(*ipc, 7, 0, 1)) : std::string());

    // Referring physician: PV1-8, else the ordering provider OBR-16 / ORC-12.
    std::string ref = referring;
    if (ref.empty() && obr != nullptr && !obr->field(16).empty())
      ref = xcn_to_pn(m, m.repetitions(obr->field(16)).front());
    if (ref.empty() && !orc.field(12).empty())
      ref = xcn_to_pn(m, m.repetitions(orc.field(12)).front());
    put(e, "ReferringPhysicianName", ref);

    // Scheduled performing physician: OBR-34 technician, first repetition; its first component
    // is a CN (ID&family&given&middle&suffix&prefix).
    if (obr != nullptr && !obr->field(34).empty()) {
      const std::string rep = m.repetitions(obr->field(34)).front();
      const std::string first = m.component(rep, 1);
      std::string name;
      if (m.delimiters().subcomponent != '\0' &&
          first.find(m.delimiters().subcomponent) != std::string::npos) {
        name = pn(m.value_of(rep, 1, 2), m.value_of(rep, 1, 3), m.value_of(rep, 1, 4),
                  m.value_of(rep, 1, 6), m.value_of(rep, 1, 5));
      } else {
        name = clean(m.unescape(first));
      }
      put(e, "ScheduledPerformingPhysicianName", name);
    }
    put(e, "AdmissionID", admission);
    o.entry = std::move(e);
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace ossa::hl7
