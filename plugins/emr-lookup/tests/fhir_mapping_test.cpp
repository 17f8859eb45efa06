#include "fhir_mapping.h"

#include <gtest/gtest.h>

namespace ossa::emr {
namespace {

using Json = nlohmann::json;
using Outcome = LookupResult::Outcome;

Json patient_json() {
  return Json::parse(R"({
    "resourceType": "Patient",
    "identifier": [
      {"system": "urn:oid:1.2.3", "value": "P1"},
      {"system": "urn:oid:9.9", "value": "NHS-42"},
      {"system": "urn:ssn", "value": "123-45"},
      {"system": "urn:dup", "value": "NHS-42"}
    ],
    "name": [
      {"use": "old", "family": "Smith", "given": ["Jane"]},
      {"use": "official", "family": "Doe", "given": ["Jane", "Mary", "Ann"],
       "prefix": ["Dr."], "suffix": ["PhD", "MD"]}
    ],
    "gender": "female",
    "birthDate": "1970-04-05"
  })");
}

TEST(FhirMapping, MapsTheOfficialNameDateSexAndOtherIdentifiers) {
  const Demographics d = map_patient(patient_json(), "urn:oid:1.2.3", "P1");
  EXPECT_EQ(d.patient_name, "Doe^Jane^Mary Ann^Dr.^PhD MD");
  EXPECT_EQ(d.birth_date, "19700405");
  EXPECT_EQ(d.sex, "F");
  EXPECT_EQ(d.other_ids, (std::vector<std::string>{"NHS-42", "123-45"}));
}

TEST(FhirMapping, PrefersOfficialThenUsualThenAnyCurrentName) {
  Json usual = Json::parse(R"({"name": [{"use": "nickname", "family": "Nick"},
                                        {"use": "usual", "family": "Usual", "given": ["U"]},
                                        {"family": "Plain"}]})");
  EXPECT_EQ(map_patient(usual, "", "X").patient_name, "Usual^U");
  Json plain = Json::parse(R"({"name": [{"use": "maiden", "family": "Before"},
                                        {"family": "Plain", "given": ["P"]}]})");
  EXPECT_EQ(map_patient(plain, "", "X").patient_name, "Plain^P");
  Json only_old = Json::parse(R"({"name": [{"use": "old", "family": "Gone"}]})");
  EXPECT_EQ(map_patient(only_old, "", "X").patient_name, "");
}

TEST(FhirMapping, PersonNameDropsTrailingEmptyComponentsAndDelimiters) {
  EXPECT_EQ(person_name(Json::parse(R"({"family": "Doe"})")), "Doe");
  EXPECT_EQ(person_name(Json::parse(R"({"given": ["Jane"]})")), "^Jane");
  EXPECT_EQ(person_name(Json::parse(R"({"family": "Doe", "suffix": ["Jr"]})")), "Doe^^^^Jr");
  EXPECT_EQ(person_name(Json::parse(R"({"family": "O^Brien=X\\Y", "given": [" Ann "]})")),
            "O Brien X Y^Ann");
  EXPECT_EQ(person_name(Json::parse(R"({"text": "Jane Doe"})")), "");
  EXPECT_EQ(person_name(Json::parse(R"({"family": "Müller", "given": ["Jürgen"]})")),
            "Müller^Jürgen");
}

TEST(FhirMapping, PartialDatesAndUnknownGenderAreNotCoerced) {
  Json p =
      Json::parse(R"({"birthDate": "1970-04", "gender": "unknown", "name": [{"family": "A"}]})");
  Demographics d = map_patient(p, "", "X");
  EXPECT_EQ(d.birth_date, "");
  EXPECT_EQ(d.sex, "");
  EXPECT_EQ(map_patient(Json::parse(R"({"birthDate": "1970"})"), "", "X").birth_date, "");
  EXPECT_EQ(map_patient(Json::parse(R"({"birthDate": "19a0-01-01"})"), "", "X").birth_date, "");
  EXPECT_EQ(map_patient(Json::parse(R"({"gender": "male"})"), "", "X").sex, "M");
  EXPECT_EQ(map_patient(Json::parse(R"({"gender": "other"})"), "", "X").sex, "O");
}

TEST(FhirMapping, TheLookedUpIdentifierIsLeftOutOnlyInItsSystem) {
  Json p = Json::parse(R"({"identifier": [{"system": "a", "value": "P1"},
                                          {"system": "b", "value": "P1"},
                                          {"value": "Q\\R"}]})");
  EXPECT_EQ(map_patient(p, "a", "P1").other_ids, (std::vector<std::string>{"P1"}));
  EXPECT_TRUE(map_patient(p, "", "P1").other_ids.empty());  // no system: any P1 is the one
}

TEST(FhirMapping, SearchBundleWithOnePatientIsFound) {
  Json bundle = {
      {"resourceType", "Bundle"},
      {"type", "searchset"},
      {"entry",
       {{{"resource", patient_json()}, {"search", {{"mode", "match"}}}},
        {{"resource", {{"resourceType", "Organization"}}}, {"search", {{"mode", "include"}}}}}}};
  const LookupResult r = map_search_bundle(bundle.dump(), "urn:oid:1.2.3", "P1");
  ASSERT_EQ(r.outcome, Outcome::kFound) << r.detail;
  EXPECT_EQ(r.demographics.patient_name, "Doe^Jane^Mary Ann^Dr.^PhD MD");
}

TEST(FhirMapping, EmptyOrAmbiguousBundlesAreNotFound) {
  EXPECT_EQ(
      map_search_bundle(R"({"resourceType": "Bundle", "type": "searchset", "total": 0})", "", "P1")
          .outcome,
      Outcome::kNotFound);
  Json two = {{"resourceType", "Bundle"},
              {"entry", {{{"resource", patient_json()}}, {{"resource", patient_json()}}}}};
  const LookupResult r = map_search_bundle(two.dump(), "", "P1");
  EXPECT_EQ(r.outcome, Outcome::kNotFound);
  EXPECT_NE(r.detail.find("ambiguous"), std::string::npos);
}

TEST(FhirMapping, RepliesThatAreNotBundlesCountAsUnreachable) {
  EXPECT_EQ(map_search_bundle("<html>", "", "P1").outcome, Outcome::kUnreachable);
  EXPECT_EQ(map_search_bundle(R"({"resourceType": "OperationOutcome"})", "", "P1").outcome,
            Outcome::kUnreachable);
  EXPECT_EQ(map_search_bundle("[]", "", "P1").outcome, Outcome::kUnreachable);
}

TEST(FhirMapping, SearchPathEncodesSystemAndValue) {
  EXPECT_EQ(fhir_search_path("/fhir/", "urn:oid:1.2.3", "P 1&x"),
            "/fhir/Patient?identifier=urn%3Aoid%3A1.2.3%7CP%201%26x");
  EXPECT_EQ(fhir_search_path("", "", "P1"), "/Patient?identifier=P1");
  EXPECT_EQ(percent_encode("a|b/ü"), "a%7Cb%2F%C3%BC");
}

}  // namespace
}  // namespace ossa::emr
