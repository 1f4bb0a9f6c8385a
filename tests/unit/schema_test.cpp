#include "schema.hpp"

#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "cpu_time.hpp"
#include "text.hpp"

namespace {

using toucan::AttributeType;
using toucan::Error;
using toucan::ErrorKind;
using toucan::Json;
using toucan::Schema;

std::string UsageMessage(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

Schema Sample() {
  return Schema::Parse(R"({
    "region": {"type": "string", "required": true},
    "year": "integer", "ratio": "number", "active": "boolean",
    "groups": "array", "extra": {"type": "object", "description": "free-form"}})",
                       "s.json", true);
}

TEST(Schema, ShortAndLongFormsInToml) {
  const Schema schema = Schema::Parse(
      "region = { type = \"string\", required = true }\nyear = \"integer\"\n[groups]\ntype = "
      "\"array\"\n",
      "s.toml", false);
  ASSERT_EQ(schema.declarations().size(), 3u);
  EXPECT_EQ(schema.declarations()[0].name, "region");
  EXPECT_TRUE(schema.declarations()[0].required);
  EXPECT_EQ(schema.declarations()[1].type, AttributeType::kInteger);
  EXPECT_FALSE(schema.declarations()[1].required);
  EXPECT_EQ(schema.declarations()[2].type, AttributeType::kArray);
}

TEST(Schema, Json) {
  const Schema schema =
      Schema::Parse(R"({"a": "number", "b": {"type": "object"}})", "s.json", true);
  EXPECT_EQ(schema.Find("a")->type, AttributeType::kNumber);
  EXPECT_EQ(schema.Find("b")->type, AttributeType::kObject);
  EXPECT_EQ(schema.Find("c"), nullptr);
}

TEST(Schema, InvalidSchemasSayWhere) {
  EXPECT_EQ(UsageMessage([] { Schema::Parse("region = \"strng\"\n", "s.toml", false); }),
            "s.toml:1:1: attribute 'region': unknown type \"strng\" (did you mean 'string'?); "
            "the types are string, integer, number, boolean, array, object");
  EXPECT_EQ(UsageMessage(
                [] { Schema::Parse("a = \"string\"\n[b]\nrequired = true\n", "s.toml", false); }),
            "s.toml:2:2: attribute 'b' needs a \"type\"");
  EXPECT_EQ(UsageMessage([] {
              Schema::Parse("b = { type = \"string\", requird = true }\n", "s.toml", false);
            }),
            "s.toml:1:1: attribute 'b': unknown field 'requird' (did you mean 'required'?)");
  EXPECT_EQ(UsageMessage([] {
              Schema::Parse("b = { type = \"string\", required = 1 }\n", "s.toml", false);
            }),
            "s.toml:1:1: attribute 'b': \"required\" must be true or false");
  EXPECT_EQ(UsageMessage([] { Schema::Parse("b = 3\n", "s.toml", false); }),
            "s.toml:1:1: attribute 'b' must be declared as a type name (\"string\") or as "
            "{\"type\": ..., \"required\": ...}, not 3");
  EXPECT_EQ(UsageMessage([] {
              Schema::Parse("b = 1979-05-27\n", "s.toml", false);
            }).rfind("s.toml:1:5: dates", 0),
            0u);
  EXPECT_EQ(
      UsageMessage([] { Schema::Parse("b = \"string\nc", "s.toml", false); }).rfind("s.toml:1:", 0),
      0u);
  EXPECT_EQ(UsageMessage([] { Schema::Parse(R"(["string"])", "s.json", true); }),
            "s.json: a schema must be an object of attribute declarations");
  EXPECT_EQ(UsageMessage([] {
              Schema::Parse(R"({"a": "string",})", "s.json", true);
            }).rfind("s.json is not valid JSON: ", 0),
            0u);
  // nlohmann/json quotes the bytes it read; they reach the message escaped (found by fuzzing).
  const std::string bytes = UsageMessage([] { Schema::Parse("{\"\xc8\x01\"", "s.json", true); });
  EXPECT_TRUE(toucan::IsValidUtf8(bytes)) << bytes;
  EXPECT_EQ(bytes.find('\x01'), std::string::npos) << bytes;
  EXPECT_EQ(UsageMessage([] { Schema::Parse(R"({"": "string"})", "s.json", true); }),
            "s.json: an attribute name must not be empty");
  EXPECT_EQ(UsageMessage([] { Schema::Parse(std::string(100000, '['), "s.json", true); }),
            "s.json is refused: it nests deeper than 64 levels");
}

TEST(Schema, LoadChoosesTheFormatByName) {
  const auto folder =
      std::filesystem::temp_directory_path() / ("toucan-schema-" + std::to_string(::getpid()));
  std::filesystem::create_directories(folder);
  std::ofstream(folder / "s.json") << R"({"year": "integer"})";
  std::ofstream(folder / "s.toml") << "year = \"integer\"\n";
  std::ofstream(folder / "s.txt") << "year = \"integer\"\n";
  for (const char* name : {"s.json", "s.toml", "s.txt"}) {
    EXPECT_EQ(Schema::Load((folder / name).string()).Find("year")->type, AttributeType::kInteger);
  }
  EXPECT_NE(UsageMessage([&] { Schema::Load(folder.string()); }).find("is a directory"),
            std::string::npos);
  EXPECT_NE(UsageMessage([&] {
              Schema::Load((folder / "none.toml").string());
            }).find("No such file or directory"),
            std::string::npos);
  EXPECT_NE(UsageMessage([] { Schema::Load("/dev/zero"); }).find("is not a regular file"),
            std::string::npos);
  std::filesystem::remove_all(folder);
}

TEST(SchemaCheck, UnknownAttributeSuggestsTheClosest) {
  const Schema schema = Sample();
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}, {"regoin", "EU"}});
            }),
            "unknown attribute 'regoin' (did you mean 'region'?)");
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"Region", "EU"}});
            }),
            "unknown attribute 'Region' (did you mean 'region'?)");
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}, {"country", "FR"}});
            }),
            "unknown attribute 'country': the schema declares 'region', 'year', 'ratio', "
            "'active', 'groups', 'extra'");
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}, {"a\nb", 1}});
            }).find('\n'),
            std::string::npos);
  // Names of any length: the list is cut as server text is.
  Schema long_names;
  for (int i = 0; i < 3; ++i)
    long_names.Declare(std::to_string(i) + std::string(9000, 'x'), "string");
  EXPECT_LT(UsageMessage([&] { long_names.Check(Json{{"y", 1}}); }).size(), 400u);
}

// Declared and checked by name in constant time: a scan per name makes this over 10 s of CPU;
// without, 0.05 s (about 1.5 s under the sanitizers).
TEST(SchemaCheck, ManyNamesInLinearTime) {
  Json document = Json::object();
  Json attributes = Json::object();
  for (int i = 0; i < 60'000; ++i) {
    const std::string name = "k" + std::to_string(i);
    document.get_ref<Json::object_t&>().emplace_back(name,
                                                     Json{{"type", "integer"}, {"required", true}});
    attributes.get_ref<Json::object_t&>().emplace_back(name, i);
  }
  attributes.erase("k59999");
  const std::string text = document.dump();
  EXPECT_LT(SecondsFor([&] {
              const Schema schema = Schema::Parse(text, "s.json", true);
              EXPECT_EQ(UsageMessage([&] { schema.Check(attributes); }),
                        "required attribute 'k59999' is missing");
            }),
            10.0);  // CPU s: ~0.3 optimised, ~4 under ASan; a quadratic pass would take minutes
}

TEST(SchemaCheck, WrongTypeNamesAttributeTypeAndValue) {
  const Schema schema = Sample();
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}, {"year", "2024"}});
            }),
            "attribute 'year' has the wrong type: the schema declares integer, the value is "
            "\"2024\" (string)");
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}, {"year", 2024.5}});
            }),
            "attribute 'year' has the wrong type: the schema declares integer, the value is "
            "2024.5 (number)");
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"region", 1}});
            }),
            "attribute 'region' has the wrong type: the schema declares string, the value is 1 "
            "(number)");
  EXPECT_NE(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}, {"active", "true"}});
            }).find("declares boolean"),
            std::string::npos);
  EXPECT_NE(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}, {"groups", "a,b"}});
            }).find("declares array"),
            std::string::npos);
  EXPECT_NE(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}, {"extra", Json::array()}});
            }).find("declares object"),
            std::string::npos);
  // A long value is cut in the message.
  const std::string long_value(5000, 'x');
  EXPECT_LT(UsageMessage([&] { schema.Check(Json{{"year", long_value}}); }).size(), 250u);
}

TEST(SchemaCheck, RequiredAttributes) {
  const Schema schema = Sample();
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"year", 2024}});
            }),
            "required attribute 'region' is missing");
  EXPECT_NO_THROW(schema.Check(Json{{"region", "EU"}}));
}

TEST(SchemaCheck, AcceptsEveryDeclaredType) {
  EXPECT_NO_THROW(Sample().Check(Json::parse(
      R"({"region":"EU","year":2024,"ratio":0.5,"active":false,"groups":["a"],"extra":{"k":1}})")));
  EXPECT_NO_THROW(Sample().Check(Json::parse(R"({"region":"EU","ratio":3})")));
  EXPECT_NO_THROW(Sample().Check(Json::parse(R"({"region":"EU","year":18446744073709551615})")));
}

TEST(SchemaCoerce, TextBecomesTheDeclaredType) {
  const Schema schema = Sample();
  EXPECT_EQ(schema.Coerce("year", "2024"), Json(2024));
  EXPECT_TRUE(schema.Coerce("year", "2024").is_number_integer());
  EXPECT_EQ(schema.Coerce("year", "-9223372036854775808").dump(), "-9223372036854775808");
  EXPECT_EQ(schema.Coerce("ratio", "2.5"), Json(2.5));
  EXPECT_EQ(schema.Coerce("ratio", "0.1").dump(), "0.1");
  EXPECT_EQ(schema.Coerce("ratio", "7").dump(), "7");
  EXPECT_EQ(schema.Coerce("ratio", "1.50e1").dump(), "15.0");
  EXPECT_EQ(schema.Coerce("active", "true"), Json(true));
  EXPECT_EQ(schema.Coerce("active", "false"), Json(false));
  // Text that is not one stays a string, and Check then names it.
  for (const char* text : {"2024x", "0123", "+1", "1.", " 1", "0x10"}) {
    EXPECT_EQ(schema.Coerce("year", text), Json(text)) << text;
  }
  EXPECT_EQ(schema.Coerce("year", "2024.0"), Json("2024.0"));
  EXPECT_EQ(schema.Coerce("active", "True"), Json("True"));
  EXPECT_EQ(schema.Coerce("active", "1"), Json("1"));
  EXPECT_EQ(schema.Coerce("region", "2024"), Json("2024"));
  EXPECT_EQ(schema.Coerce("groups", "[1]"), Json("[1]"));
  EXPECT_EQ(schema.Coerce("undeclared", "2024"), Json("2024"));
}

TEST(SchemaCoerce, InexactNumbersAreRefused) {
  const Schema schema = Sample();
  // As `:=` takes them: up to 2^64 - 1 (unsigned), no further.
  EXPECT_EQ(schema.Coerce("year", "9223372036854775808").dump(), "9223372036854775808");
  EXPECT_EQ(schema.Coerce("year", "18446744073709551615").dump(), "18446744073709551615");
  EXPECT_EQ(schema.Coerce("ratio", "9223372036854775808").dump(), "9223372036854775808");
  EXPECT_EQ(UsageMessage([&] { schema.Coerce("year", "18446744073709551616"); }),
            "attribute 'year': \"18446744073709551616\" does not fit a 64-bit integer");
  EXPECT_NE(UsageMessage([&] {
              schema.Coerce("ratio", "99999999999999999999");
            }).find("does not fit a 64-bit integer"),
            std::string::npos);
  for (const char* text : {"1e400", "0.10000000000000000001", "1e-400"}) {
    EXPECT_EQ(UsageMessage([&] { schema.Coerce("ratio", text); }),
              std::string("attribute 'ratio': \"") + text +
                  "\" cannot be represented exactly as a number");
  }
}

// The last declaration would win without a word, as a typo'd copy-paste would.
TEST(SchemaParse, JsonNameDeclaredTwiceIsRefused) {
  EXPECT_EQ(UsageMessage(
                [] { Schema::Parse(R"({"region":"string","region":"integer"})", "s.json", true); }),
            "s.json: a key is given twice at /region");
}

TEST(SuggestName, DistanceTwoOrCase) {
  const std::vector<std::string> names = {"region", "year", "active"};
  EXPECT_EQ(toucan::SuggestName("regoin", names), "region");
  EXPECT_EQ(toucan::SuggestName("reg", names), std::nullopt);  // distance 3
  EXPECT_EQ(toucan::SuggestName("YEAR", names), "year");       // distance 4, case only
  EXPECT_EQ(toucan::SuggestName("actv", names), "active");
  EXPECT_EQ(toucan::SuggestName("zzzzzz", names), std::nullopt);
  EXPECT_EQ(toucan::SuggestName(std::string(100000, 'a'), names), std::nullopt);
  std::vector<std::string> many(1000, "other");
  many.push_back("region");
  EXPECT_EQ(toucan::SuggestName("regoin", many), std::nullopt);  // no pass over 1001 names
  many.pop_back();
  many.back() = "region";
  EXPECT_EQ(toucan::SuggestName("regoin", many), "region");
}

}  // namespace

namespace toucan {
namespace {

TEST(SchemaCheck, ReportsEveryProblemAtOnce) {
  const Schema schema = Schema::Parse(
      R"({"region": {"type": "string", "required": true}, "year": "integer", "active": "boolean",
          "tier": {"type": "string", "required": true}})",
      "s.json", true);
  EXPECT_EQ(schema.Problems(Json{{"regoin", "EU"}, {"year", "last"}, {"actve", true}}),
            (std::vector<std::string>{
                "unknown attribute 'regoin' (did you mean 'region'?)",
                "attribute 'year' has the wrong type: the schema declares integer, the value is "
                "\"last\" (string)",
                "unknown attribute 'actve' (did you mean 'active'?)",
                "required attribute 'tier' is missing"}));
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"region", "EU"}});
            }),
            "required attribute 'tier' is missing");
  EXPECT_TRUE(schema.Problems(Json{{"region", "EU"}, {"tier", "gold"}}).empty());
}

TEST(SchemaCheck, EnumNamesTheAllowedValuesAndSuggestsOne) {
  const Schema schema = Schema::Parse(
      "region = { type = \"string\", enum = [\"EU\", \"US\"] }\n"
      "level = { type = \"integer\", enum = [1, 2, 3] }\n",
      "s.toml", false);
  EXPECT_TRUE(schema.Problems(Json{{"region", "EU"}, {"level", 2}}).empty());
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"region", "Eu"}});
            }),
            "attribute 'region': \"Eu\" is not one of \"EU\", \"US\" (did you mean 'EU'?)");
  EXPECT_EQ(UsageMessage([&] {
              schema.Check(Json{{"level", 7}});
            }),
            "attribute 'level': 7 is not one of 1, 2, 3");
  // A schema never changes a value: "Eu" is refused, not corrected.
  EXPECT_EQ(schema.Coerce("region", "Eu"), Json("Eu"));
}

TEST(SchemaLoad, EnumMustBeANonEmptyArrayOfTheDeclaredType) {
  EXPECT_NE(UsageMessage([] {
              Schema::Parse(R"({"r": {"type": "string", "enum": []}})", "s.json", true);
            }).find("\"enum\" must be a non-empty array"),
            std::string::npos);
  EXPECT_NE(UsageMessage([] {
              Schema::Parse(R"({"r": {"type": "integer", "enum": ["EU"]}})", "s.json", true);
            }).find("\"enum\" value \"EU\" is not of type integer"),
            std::string::npos);
}

TEST(SchemaLoad, AJsonSchemaDocumentIsRefusedWithTheFormatMeant) {
  for (const char* document :
       {R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"})",
        R"({"type": "object", "properties": {"region": {"type": "string"}}})"}) {
    const std::string message = UsageMessage([&] { Schema::Parse(document, "s.json", true); });
    EXPECT_NE(message.find("s.json: this is a JSON Schema document"), std::string::npos) << message;
    EXPECT_NE(message.find("{\"region\": {\"type\": \"string\""), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace toucan

namespace toucan {
namespace {

// 100,000 unknown keys: twenty messages and a count, in time linear in the line.
TEST(SchemaCheck, ManyProblemsAreCountedNotEachSpelledOut) {
  Json document = Json::object();
  for (int i = 0; i < 20000; ++i) document["name" + std::to_string(i)] = "string";
  const Schema schema = Schema::Parse(document.dump(), "s.json", true);
  std::string text = "{";
  for (int i = 0; i < 100000; ++i) text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  // Parsed by the tool's own linear parser: Json's emplace would scan the object for each key.
  const Json attributes = ParseBoundedJson(text + "}", JsonNumbers::kExact).value;
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::string> problems = schema.Problems(attributes);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 5.0);
  ASSERT_EQ(problems.size(), 21u);
  EXPECT_EQ(problems.back(), "and 99980 more problems");
}

}  // namespace
}  // namespace toucan

namespace toucan {
namespace {

// A batch line with a problem pays no pass over a machine-made schema's 50,000 values or names.
TEST(SchemaCheck, ProblemsAgainstAHugeSchemaStayCheap) {
  Json values = Json::array();
  for (int i = 0; i < 50000; ++i) values.push_back("value" + std::to_string(i));
  std::string text = "{\"region\": {\"type\": \"string\", \"enum\": " + values.dump() + "}";
  for (int i = 0; i < 50000; ++i) text += ",\"name" + std::to_string(i) + "\":\"string\"";
  const Schema schema = Schema::Parse(text + "}", "s.json", true);
  const Json line{{"region", "valeu1"}, {"nmae1", "x"}};
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 300; ++i) ASSERT_EQ(schema.Problems(line).size(), 2u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
            10.0);
  EXPECT_NE(schema.Problems(line)[0].find("is not one of \"value0\", \"value1\""),
            std::string::npos);
}

}  // namespace
}  // namespace toucan
