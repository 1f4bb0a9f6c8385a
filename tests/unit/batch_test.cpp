#include "batch.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

namespace toucan {
namespace {

TokenRequest Defaults() {
  TokenRequest defaults;
  defaults.role = "explorer";
  defaults.attributes = Json::parse(R"({"region":"EU","tier":"free"})");
  defaults.permissions = Json::parse(R"({"d":1})");
  return defaults;
}

TEST(BatchLine, UserObjectOverDefaults) {
  const BatchLine line = ParseBatchLine(
      R"({"distinctId":"u1","role":"viewer","attributes":{"tier":"pro","x":1},"permissions":{"p":2}})",
      Defaults());
  ASSERT_TRUE(line.error.empty()) << line.error;
  EXPECT_EQ(
      line.body.dump(),
      R"({"user":{"distinctId":"u1","role":"viewer","attributes":{"region":"EU","tier":"pro","x":1}},)"
      R"("permissions":{"p":2}})");
}

TEST(BatchLine, DefaultsApplyWhenAbsent) {
  const BatchLine line = ParseBatchLine(R"(  {"distinctId":"u2"}  )", Defaults());
  ASSERT_TRUE(line.error.empty());
  EXPECT_EQ(
      line.body.dump(),
      R"({"user":{"distinctId":"u2","role":"explorer","attributes":{"region":"EU","tier":"free"}},)"
      R"("permissions":{"d":1}})");
}

TEST(BatchLine, StringsAndBareIds) {
  EXPECT_EQ(*ParseBatchLine(R"("user \"3\"")", Defaults()).distinct_id, "user \"3\"");
  EXPECT_EQ(*ParseBatchLine("  bare-id 7 \r", Defaults()).distinct_id, "bare-id 7");
  EXPECT_EQ(*ParseBatchLine("Zürich", Defaults()).distinct_id, "Zürich");
}

// A NUL (a UTF-16 file), a tab (a table pasted as is), a bare CR: never part of a bare id. As
// JSON whitespace a tab is fine.
TEST(BatchLine, BareIdsWithControlCharactersAreRefused) {
  for (const auto& [line, says] :
       {std::pair<std::string, std::string>{std::string("a\0b", 3), "(\\x00; is the file UTF-16?)"},
        {"a\rb", "(\\r)"},
        {"a\x7f", "(\\x7f)"},
        {"a\xc2\x9bz", "(\\u009b)"},
        {"a\xc2\x85", "(\\u0085)"}}) {
    const BatchLine parsed = ParseBatchLine(line, Defaults());
    EXPECT_FALSE(parsed.error.empty()) << line;
    EXPECT_NE(parsed.error.find("control character " + says), std::string::npos) << parsed.error;
  }
  EXPECT_EQ(*ParseBatchLine("{\"distinctId\":\t\"u1\"}", Defaults()).distinct_id, "u1");
  EXPECT_EQ(*ParseBatchLine(R"("a\u0000b")", Defaults()).distinct_id, std::string("a\0b", 3));
}

// A spreadsheet row piped in as JSON Lines: refused with a hint, unless written as a JSON string.
TEST(BatchLine, BareIdsThatLookLikeCsvAreRefused) {
  for (const auto& [line, says] : {std::pair<std::string, std::string>{"id,region", "a comma"},
                                   {"u1;EU", "a semicolon"},
                                   {"u1\tEU", "a tab"},
                                   {"line\"", "a double quote"},
                                   {"distinctId", "only a CSV header name"},
                                   {"Distinct_ID", "only a CSV header name"}}) {
    const BatchLine parsed = ParseBatchLine(line, Defaults());
    EXPECT_FALSE(parsed.error.empty()) << line;
    EXPECT_NE(parsed.error.find("the line holds " + says + ": for CSV input use --csv"),
              std::string::npos)
        << parsed.error;
  }
  EXPECT_EQ(*ParseBatchLine(R"("a,b;c")", Defaults()).distinct_id, "a,b;c");
  EXPECT_EQ(*ParseBatchLine(R"("id")", Defaults()).distinct_id, "id");
  // A CSV row whose first cell is quoted starts like a JSON string.
  const BatchLine quoted = ParseBatchLine(R"("Smith, Jo",EU,2020)", Defaults());
  EXPECT_FALSE(quoted.error.empty());
  EXPECT_NE(quoted.error.find("; for CSV input use --csv"), std::string::npos) << quoted.error;
}

TEST(BatchLine, InvalidLines) {
  struct Case {
    const char* line;
    bool has_id;
    const char* says;
  };
  for (const Case& c :
       {Case{R"({"distinctId":"u1","atributes":{}})", true, "unknown field \"atributes\""},
        Case{R"({"role":"x"})", false, "no \"distinctId\""},
        Case{R"({"distinctId":5})", false, "must be a string"},
        Case{R"({"distinctId":""})", true, "must not be empty"},
        Case{R"({"distinctId":"u","attributes":[1]})", true, "must be a JSON object"},
        Case{R"({"distinctId":"u","attributes":{"":1}})", true, "keys must not be empty"},
        Case{R"({"distinctId":"u","attributes":{"a\u009bb":1}})", true, "control character"},
        Case{R"({"distinctId":"u","attributes":{"a\u0001b":1}})", true, "control character"},
        Case{R"({"distinctId":"u","role":""})", true, "role must not be empty"},
        Case{R"({"distinctId":"u")", false, "not valid JSON"},
        Case{R"("unterminated)", false, "not valid JSON"}, Case{"caf\xc3", false, "UTF-8"},
        Case{"  \t", false, "blank"}, Case{"", false, "blank"},
        Case{R"({"distinctId":"u","attributes":{"n":1e999}})", false, "number overflow"}}) {
    const BatchLine line = ParseBatchLine(c.line, Defaults());
    EXPECT_FALSE(line.error.empty()) << c.line;
    EXPECT_EQ(line.distinct_id.has_value(), c.has_id) << c.line;
    EXPECT_NE(line.error.find(c.says), std::string::npos) << c.line << " → " << line.error;
  }
}

// On an interrupt stderr says what was not attempted, and gives no summary as well.
TEST(Batch, AnInterruptSaysOnlyWhatWasNotAttempted) {
  ClientOptions client_options;
  client_options.api_key = "tk_unit_test_key";
  Client client(client_options);
  for (Client* mint : {&client, static_cast<Client*>(nullptr)}) {
    std::FILE* input = std::tmpfile();
    std::FILE* err = std::tmpfile();
    std::fputs("u1\nu2\n\nu3\n", input);
    std::rewind(input);
    BatchOptions options;
    options.interrupted = [] { return true; };
    const int out = ::open("/dev/null", O_WRONLY);
    EXPECT_EQ(RunBatch(mint, fileno(input), options, out, err), ExitCode(ErrorKind::kInterrupted));
    ::close(out);
    std::rewind(err);
    char text[256];
    const std::size_t size = std::fread(text, 1, sizeof text, err);
    EXPECT_EQ(std::string(text, size),
              "toucan-token: interrupted: 0 minted, 0 failed, 3 not attempted\n");
    std::fclose(input);
    std::fclose(err);
  }
}

}  // namespace
}  // namespace toucan
