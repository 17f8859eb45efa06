#include "index/attributes_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>

namespace ossa::index {
namespace {

// What nlohmann's general parser reads from `text`: the reference for the fast path.
Attributes read_with_nlohmann(const std::string& text) {
  Attributes out;
  const nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return out;
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) out[static_cast<uint32_t>(std::stoul(key, nullptr, 16))] = value;
  }
  return out;
}

Attributes read(const std::string& text) {
  Attributes out;
  merge_attributes_json(text, out);
  return out;
}

TEST(AttributesJson, RoundTripsValuesWithEveryKindOfCharacter) {
  const Attributes attributes = {
      {0x00100010, "Müller^Hans"},
      {0x00100020, "P\"1\\2/3"},
      {0x00081030, std::string("tab\there, newline\nthere, \x01\x1f and \x7f", 34)},
      {0x00080090, ""},
      {0x0020000D, "1.2.3"},
      {0x00100030, "Иван 山田 \xf0\x9f\x98\x80"},
  };
  const std::string text = attributes_to_json(attributes);
  EXPECT_EQ(read(text), attributes) << text;
  EXPECT_EQ(read(text), read_with_nlohmann(text));
}

TEST(AttributesJson, AgreesWithTheGeneralParserOnRandomValues) {
  std::mt19937 random(20261202);
  std::uniform_int_distribution<int> byte(0, 255), length(0, 40), count(0, 12);
  for (int round = 0; round < 2000; ++round) {
    Attributes attributes;
    for (int i = count(random); i > 0; --i) {
      std::string value;
      for (int k = length(random); k > 0; --k) value += static_cast<char>(byte(random));
      attributes[static_cast<uint32_t>(random())] = value;  // invalid UTF-8 included
    }
    const std::string text = attributes_to_json(attributes);
    Attributes fast;
    ASSERT_TRUE(read_written_shape(text, fast)) << text;  // what the index writes: the fast path
    ASSERT_EQ(fast, read_with_nlohmann(text)) << text;
    ASSERT_EQ(read(text), fast);
  }
}

TEST(AttributesJson, OtherShapesGoToTheGeneralParser) {
  // Whitespace, other escapes, values that are not strings, nested structures, lower-case keys.
  const std::string text =
      R"( { "00100010" : "Caf\u00e9\ud83d\ude00", "00100020": 7, "00100021": null,)"
      R"( "00080005": ["ISO_IR 100"], "00100030": {"x": "y"}, "0010abcd": "lower", "nokey": "z"} )";
  const Attributes expected = {{0x00100010, "Café\xf0\x9f\x98\x80"}, {0x0010ABCD, "lower"}};
  EXPECT_EQ(read(text), expected);
  Attributes ignored;
  EXPECT_FALSE(read_written_shape(text, ignored));
  EXPECT_FALSE(read_written_shape(R"({"00100010":"Caf\u00e9"})", ignored));
  EXPECT_FALSE(read_written_shape(R"({"00100010":"A","00100020":7})", ignored));
}

TEST(AttributesJson, MalformedTextKeepsWhatCameBeforeTheError) {
  EXPECT_EQ(read(R"({"00100010":"A","00100020":"B)"), (Attributes{{0x00100010, "A"}}));
  EXPECT_EQ(read(R"({"00100010":"A",)"), (Attributes{{0x00100010, "A"}}));
  EXPECT_TRUE(read("not json").empty());
  EXPECT_TRUE(read("").empty());
  EXPECT_TRUE(read("{}").empty());
}

TEST(AttributesJson, ReplacesValuesOfTheSameTags) {
  Attributes into = {{0x00100010, "Old"}, {0x00100040, "F"}};
  merge_attributes_json(R"({"00100010":"New"})", into);
  EXPECT_EQ(into, (Attributes{{0x00100010, "New"}, {0x00100040, "F"}}));
}

}  // namespace
}  // namespace ossa::index
