// Messages that say what the user meant: mistyped options and commands, a flag given twice, a
// file name or a KEY=VALUE where JSON was due, no arguments at all. No parser's own words.
#include <fstream>

#include "fixture.hpp"

namespace toucan::test {
namespace {

struct MeantCase {
  const char* name;
  std::vector<std::string> args;
  const char* says;
};

void PrintTo(const MeantCase& c, std::ostream* os) { *os << c.name; }

class Meant : public ::testing::TestWithParam<MeantCase> {};

TEST_P(Meant, OneLineSayingWhatWasMeantAndNothingSent) {
  TestServer server(TokenReply());
  const MeantCase& c = GetParam();
  const RunResult result =
      RunChecked(c.args, {{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  ExpectOneErrorLine(result, c.says);
  for (const char* raw : {"not expected", "At Most", "required but", " missing (", "not in {"}) {
    EXPECT_EQ(result.err.find(raw), std::string::npos) << "the parser's own words: " << result.err;
  }
  EXPECT_EQ(server.request_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Messages, Meant,
    ::testing::Values(
        MeantCase{"UnderscoreForDash",
                  {"--distinct_id", "u1"},
                  "unknown option '--distinct_id' (did you mean --distinct-id?)"},
        MeantCase{"Typo", {"-u", "u1", "--retires", "3"}, "(did you mean --retries?)"},
        MeantCase{"Abbreviation",
                  {"batch", "--conc", "3"},
                  "unknown option '--conc' (did you mean --concurrency?)"},
        MeantCase{"BatchOptionBeforeBatch",
                  {"--keep-going", "batch", "-"},
                  "option '--keep-going' belongs to 'batch': write it after 'batch'"},
        MeantCase{"BatchOptionWithoutBatch",
                  {"--csv", "users.csv"},
                  "option '--csv' belongs to 'batch': write it after 'batch'"},
        MeantCase{"FarFromAnything", {"-u", "u1", "--zzzzzz"}, "unknown option '--zzzzzz' (see"},
        MeantCase{"Command", {"profile"}, "unknown command 'profile' (did you mean profiles?)"},
        MeantCase{"BareId", {"u1"}, "a distinct id goes after -u"},
        MeantCase{"AttributeInTwoWords",
                  {"-u", "u1", "-a", "region", "EU"},
                  "unknown command 'EU': an attribute is one word, -a region=EU"},
        MeantCase{"BareFile",
                  {"users.csv"},
                  "unknown command 'users.csv': to mint a token per line of a file, write batch "
                  "before it"},
        MeantCase{"CacheCommand",
                  {"cache", "list"},
                  "unknown cache command 'list': the only one is clear"},
        MeantCase{"CacheAlone", {"cache"}, "cache needs a command: toucan-token cache clear"},
        MeantCase{"GivenTwice", {"-u", "u1", "-u", "u2"}, "-u/--distinct-id given twice"},
        MeantCase{"GivenTwiceLongOnly",
                  {"-u", "u1", "--base-url=https://a.example", "--base-url=https://b.example"},
                  "--base-url given twice"},
        MeantCase{"NoValue", {"-u"}, "-u/--distinct-id needs a value (ID)"},
        // Taken for the value, the option would be lost: a real mint instead of a dry run.
        MeantCase{"OptionTakenAsValue",
                  {"-u", "--dry-run"},
                  "-u/--distinct-id needs a value, but the next word is the option --dry-run"},
        MeantCase{"OptionTakenAsRole",
                  {"-r", "--base-url=https://x.example", "-u", "u1"},
                  "-r/--role needs a value, but the next word is the option --base-url"},
        MeantCase{"FormatTypo", {"-u", "u1", "-o", "tokn"}, "(did you mean token?)"},
        MeantCase{"SecondBatchFile", {"batch", "a", "b"}, "batch reads one FILE; 'b' is one"},
        MeantCase{"AttributesAsOneAttribute",
                  {"-u", "u1", "--attributes", "region=EU"},
                  "for one attribute use -a KEY=VALUE"},
        MeantCase{"ControlCharactersEscaped", {"--a\x1b[31mb"}, "unknown option '--a\\x1b[31mb'"}));

TEST(Messages, AFileNameWhereJsonWasDueSuggestsTheAt) {
  TestServer server(TokenReply());
  const std::string path = ::testing::TempDir() + "toucan-meant-" + std::to_string(getpid());
  std::ofstream(path) << R"({"region": "EU"})";
  for (const char* flag : {"--attributes", "--permissions"}) {
    const RunResult result = RunChecked(
        {"-u", "u1", flag, path}, {{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}});
    EXPECT_EQ(result.exit_code, 2);
    ExpectOneErrorLine(result, "did you mean @" + path + "?");
  }
  std::remove(path.c_str());
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Messages, NoArgumentsPrintsTheHelpOnStderr) {
  // RunTool, not RunChecked: the help lines carry no "toucan-token: " prefix.
  const RunResult result = RunTool({}, {{"TOUCAN_API_KEY", kApiKey}});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("Usage: toucan-token"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("--distinct-id"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace toucan::test
