#include "config.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace {

using toucan::Config;
using toucan::Environment;
using toucan::Error;
using toucan::ErrorKind;
using toucan::Json;
using toucan::LoadConfig;
using toucan::ParseConfig;
using toucan::Profile;
using toucan::SelectProfile;

// A private folder per test (never the real home), removed afterwards.
class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "toucan-cfg-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    const std::string file = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(file).parent_path());
    std::ofstream(file, std::ios::binary) << text;
    ::chmod(file.c_str(), mode);
    return file;
  }

 private:
  std::string path_;
};

Environment MapEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    const auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

const Environment kNoEnv = MapEnv({});

// The error's kind and message, for EXPECT_* on both.
std::pair<ErrorKind, std::string> ErrorOf(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  return {ErrorKind::kInternal, "no error"};
}

Config Parse(const std::string& text) { return ParseConfig(text, "/etc/t/config.toml", kNoEnv); }

std::string ParseError(const std::string& text) {
  auto [kind, message] = ErrorOf([&] { Parse(text); });
  EXPECT_EQ(kind, ErrorKind::kUsage) << message;
  return message;
}

// ---- where the file is -------------------------------------------------------------------

TEST(LocateConfig, ToucanConfigWins) {
  const auto where = toucan::LocateConfig(
      MapEnv({{"TOUCAN_CONFIG", " /x/c.toml "}, {"HOME", "/home/u"}, {"XDG_CONFIG_HOME", "/x"}}));
  EXPECT_EQ(where.path, "/x/c.toml");
  EXPECT_TRUE(where.explicit_path);
}

TEST(LocateConfig, BlankToucanConfigCountsAsUnset) {
  const auto where = toucan::LocateConfig(MapEnv({{"TOUCAN_CONFIG", "  "}, {"HOME", "/home/u"}}));
  EXPECT_EQ(where.path, "/home/u/.config/toucan-token/config.toml");
  EXPECT_FALSE(where.explicit_path);
}

TEST(LocateConfig, XdgConfigHomeWhenAbsolute) {
  EXPECT_EQ(toucan::LocateConfig(MapEnv({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/h"}})).path,
            "/xdg/toucan-token/config.toml");
  EXPECT_EQ(toucan::LocateConfig(MapEnv({{"XDG_CONFIG_HOME", "rel"}, {"HOME", "/h"}})).path,
            "/h/.config/toucan-token/config.toml");
  EXPECT_EQ(toucan::LocateConfig(kNoEnv).path, "");
}

// ---- reading the file --------------------------------------------------------------------

TEST(LoadConfig, MissingDefaultFileMeansNoProfiles) {
  TempFolder home;
  const Config config = LoadConfig(MapEnv({{"HOME", home.path()}}));
  EXPECT_TRUE(config.profiles.empty());
  EXPECT_EQ(config.path, "");
}

TEST(LoadConfig, MissingToucanConfigFileIsUsageError) {
  TempFolder home;
  const std::string path = home.path() + "/nope.toml";
  auto [kind, message] = ErrorOf([&] { LoadConfig(MapEnv({{"TOUCAN_CONFIG", path}})); });
  EXPECT_EQ(kind, ErrorKind::kUsage);
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

TEST(LoadConfig, ReadsTheDefaultFile) {
  TempFolder home;
  ::chmod(home.path().c_str(), 0700);
  home.Write(".config/toucan-token/config.toml", "[profile.dev]\nrole = \"viewer\"\n");
  ::chmod((home.path() + "/.config/toucan-token").c_str(), 0700);
  const Config config = LoadConfig(MapEnv({{"HOME", home.path()}}));
  ASSERT_EQ(config.profiles.size(), 1u);
  EXPECT_EQ(config.profiles[0].role, "viewer");
}

TEST(LoadConfig, RefusesFileWritableByGroupOrOthers) {
  TempFolder folder;
  for (const mode_t mode : {0620, 0602}) {
    const std::string path = folder.Write("c.toml", "", mode);
    auto [kind, message] = ErrorOf([&] { LoadConfig(MapEnv({{"TOUCAN_CONFIG", path}})); });
    EXPECT_EQ(kind, ErrorKind::kUsage);
    EXPECT_NE(message.find("writable by group or others"), std::string::npos) << message;
    EXPECT_NE(message.find("chmod go-w " + path), std::string::npos) << message;
  }
}

TEST(LoadConfig, RefusesFolderWritableByGroupOrOthers) {
  TempFolder folder;
  const std::string path = folder.Write("open/c.toml", "[profile.a]\n");
  ::chmod((folder.path() + "/open").c_str(), 0777);
  auto [kind, message] = ErrorOf([&] { LoadConfig(MapEnv({{"TOUCAN_CONFIG", path}})); });
  EXPECT_EQ(kind, ErrorKind::kUsage);
  EXPECT_NE(message.find("config folder " + folder.path() + "/open"), std::string::npos) << message;
  ::chmod((folder.path() + "/open").c_str(), 0700);
  EXPECT_EQ(LoadConfig(MapEnv({{"TOUCAN_CONFIG", path}})).profiles.size(), 1u);
}

// As /tmp: in a sticky folder others may not swap or remove the file (and `chmod go-w /tmp`
// would be harmful advice).
TEST(LoadConfig, AcceptsAStickyFolderOfOurOwn) {
  TempFolder folder;
  const std::string path = folder.Write("tmp/c.toml", "[profile.a]\n");
  ::chmod((folder.path() + "/tmp").c_str(), 01777);
  EXPECT_EQ(LoadConfig(MapEnv({{"TOUCAN_CONFIG", path}})).profiles.size(), 1u);
  ::chmod((folder.path() + "/tmp").c_str(), 0777);
  EXPECT_THROW(LoadConfig(MapEnv({{"TOUCAN_CONFIG", path}})), Error);
}

// A safe folder holding a link to a file in an open one: others can still swap the file.
TEST(LoadConfig, RefusesALinkToAFileInAFolderOthersMayWrite) {
  TempFolder folder;
  const std::string target = folder.Write("open/c.toml", "[profile.a]\n");
  ::chmod((folder.path() + "/open").c_str(), 0777);
  const std::string link = folder.path() + "/safe/config.toml";
  std::filesystem::create_directories(folder.path() + "/safe");
  ::chmod((folder.path() + "/safe").c_str(), 0700);
  std::filesystem::create_symlink(target, link);
  auto [kind, message] = ErrorOf([&] { LoadConfig(MapEnv({{"TOUCAN_CONFIG", link}})); });
  EXPECT_EQ(kind, ErrorKind::kUsage);
  EXPECT_NE(message.find("open"), std::string::npos) << message;
  EXPECT_NE(message.find("writable by group or others"), std::string::npos) << message;
  ::chmod((folder.path() + "/open").c_str(), 0700);
  EXPECT_EQ(LoadConfig(MapEnv({{"TOUCAN_CONFIG", link}})).profiles.size(), 1u);
}

TEST(LoadConfig, HostileFilesAreUsageErrorsNotHangs) {
  TempFolder folder;
  const std::string fifo = folder.path() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string big = folder.Write("big.toml", "#" + std::string(1024 * 1024, 'x') + "\n");
  const auto started = std::chrono::steady_clock::now();
  for (const auto& [path, reason] :
       std::vector<std::pair<std::string, std::string>>{{folder.path(), "is a directory"},
                                                        {fifo, "is not a regular file"},
                                                        {"/dev/zero", "is not a regular file"},
                                                        {big, "larger than 1024 KiB"}}) {
    auto [kind, message] = ErrorOf([&] { LoadConfig(MapEnv({{"TOUCAN_CONFIG", path}})); });
    EXPECT_EQ(kind, ErrorKind::kUsage) << path;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

// ---- content -----------------------------------------------------------------------------

TEST(ParseConfig, EveryKey) {
  const Config config = ParseConfig(R"(
[profile.default]
base-url = "https://dev.example.com/toucan"
endpoint-path = "/api/generate-token"
api-key-env = "TOUCAN_DEV_KEY"
role = "viewer"
attributes = { region = "EU", year = 9223372036854775807, ratio = 0.1, on = true }
permissions = { dashboards = ["d1"] }
cacert = "certs/ca.pem"
timeout = 2.5
connect-timeout = 1
retries = 0
concurrency = 256
schema = "schema.toml"
cache = true
min-ttl = 120
output = "shell"
)",
                                    "/etc/t/config.toml", MapEnv({{"HOME", "/home/u"}}));
  ASSERT_EQ(config.profiles.size(), 1u);
  const Profile& p = config.profiles[0];
  EXPECT_EQ(p.name, "default");
  EXPECT_EQ(p.base_url, "https://dev.example.com/toucan");
  EXPECT_EQ(p.endpoint_path, "/api/generate-token");
  EXPECT_EQ(p.api_key_env, "TOUCAN_DEV_KEY");
  EXPECT_EQ(p.role, "viewer");
  ASSERT_TRUE(p.attributes);
  EXPECT_EQ(p.attributes->dump(),
            R"({"region":"EU","year":9223372036854775807,"ratio":0.1,"on":true})");
  EXPECT_EQ(p.permissions->dump(), R"({"dashboards":["d1"]})");
  EXPECT_EQ(p.cacert, "/etc/t/certs/ca.pem");  // relative to the config file's folder
  EXPECT_EQ(p.timeout, 2.5);
  EXPECT_EQ(p.connect_timeout, 1.0);
  EXPECT_EQ(p.retries, 0);
  EXPECT_EQ(p.concurrency, 256);
  EXPECT_EQ(p.schema_path, "/etc/t/schema.toml");
  EXPECT_EQ(p.cache, true);
  EXPECT_EQ(p.min_ttl, 120);
  EXPECT_EQ(p.output, "shell");
  EXPECT_TRUE(p.HasKeySource());
}

TEST(ParseConfig, PathsUnderHomeAndAbsolute) {
  const Config config = ParseConfig(
      "[profile.a]\napi-key-file = \"~/keys/a\"\ncacert = \"/ca.pem\"\nschema = \"~/s.json\"\n",
      "/etc/t/config.toml", MapEnv({{"HOME", "/home/u"}}));
  EXPECT_EQ(config.profiles[0].api_key_file, "/home/u/keys/a");
  EXPECT_EQ(config.profiles[0].cacert, "/ca.pem");
  EXPECT_EQ(config.profiles[0].schema_path, "/home/u/s.json");
}

TEST(ParseConfig, ProfilesInFileOrder) {
  const Config config = Parse("[profile.zeta]\n[profile.alpha]\n[profile.mid]\n");
  ASSERT_EQ(config.profiles.size(), 3u);
  EXPECT_EQ(config.profiles[0].name, "zeta");
  EXPECT_EQ(config.profiles[2].name, "mid");
  EXPECT_FALSE(config.profiles[0].HasKeySource());
}

TEST(ParseConfig, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(ParseError("[profile.dev]\nbase_url = \"https://x\"\n"),
            "/etc/t/config.toml:2:1: unknown key 'base_url' (did you mean 'base-url'?)");
  EXPECT_EQ(ParseError("[profile.dev]\n  Min-TTL = 5\n"),
            "/etc/t/config.toml:2:3: unknown key 'Min-TTL' (did you mean 'min-ttl'?)");
  const std::string far = ParseError("[profile.dev]\nwhatever = 1\n");
  EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
  EXPECT_NE(far.find("/etc/t/config.toml:2:1: unknown key 'whatever'; the keys are"),
            std::string::npos)
      << far;
}

TEST(ParseConfig, EmptyAttributeKeyIsReportedWhereItIsWritten) {
  EXPECT_EQ(ParseError("[profile.a]\nattributes = { \"\" = 1 }\n"),
            "/etc/t/config.toml:2:14: 'attributes': attribute keys must not be empty");
  EXPECT_EQ(ParseError("[profile.a]\nattributes = { \"a\\u0085\" = 1 }\n"),
            "/etc/t/config.toml:2:14: 'attributes': the attribute key 'a\\u0085' holds a control "
            "character");
}

TEST(ParseConfig, InlineKeyIsRefusedWithAdvice) {
  for (const std::string key : {"api-key", "api_key", "API_KEY", "apikey"}) {
    const std::string message = ParseError("[profile.dev]\n" + key + " = \"tk_secret\"\n");
    EXPECT_EQ(message.rfind("/etc/t/config.toml:2:1: an API key is never kept", 0), 0u) << message;
    EXPECT_NE(message.find("api-key-file"), std::string::npos);
    EXPECT_NE(message.find("api-key-command"), std::string::npos);
    EXPECT_EQ(message.find("tk_secret"), std::string::npos);
  }
}

TEST(ParseConfig, TopLevelKeys) {
  EXPECT_EQ(ParseError("base-url = \"https://x\"\n"),
            "/etc/t/config.toml:1:1: 'base-url' belongs in a profile: put it under "
            "[profile.default] or [profile.NAME]");
  EXPECT_NE(ParseError("[profiles.dev]\n").find("(did you mean 'profile'?)"), std::string::npos);
  EXPECT_NE(ParseError("profile = 3\n").find("config.toml:1:11: 'profile' must hold tables"),
            std::string::npos);
  EXPECT_NE(
      ParseError("[profile]\ndev = 1\n").find("config.toml:2:7: profile 'dev' must be a table"),
      std::string::npos);
}

TEST(ParseConfig, SyntaxErrorsCarryLineAndColumn) {
  const std::string message = ParseError("[profile.dev]\nrole = \"open\n");
  EXPECT_EQ(message.rfind("/etc/t/config.toml:2:", 0), 0u) << message;
}

TEST(ParseConfig, WrongValuesNameTheKeyAndPlace) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"timeout = 0", "2:11: 'timeout' must be a number of seconds greater than 0"},
      {"timeout = \"5\"", "2:11: 'timeout' must be a number of seconds"},
      {"connect-timeout = nan", "'connect-timeout' must be a number of seconds"},
      {"timeout = 86401", "at most 86400"},
      {"retries = 101", "'retries' must be an integer from 0 to 100"},
      {"retries = 1.0", "'retries' must be an integer"},
      {"concurrency = 0", "'concurrency' must be an integer from 1 to 256"},
      {"min-ttl = -1", "'min-ttl' must be an integer from 0"},
      {"min-ttl = 31536001", "'min-ttl' must be an integer from 0 to 31536000"},
      {"cache = \"yes\"", "'cache' must be true or false"},
      {"role = \"\"", "2:8: 'role' must not be empty"},
      {"base-url = 1", "'base-url' must be a string"},
      {"attributes = \"region=EU\"", "'attributes' must be a table"},
      {"api-key-command = \"pass show x\"", "'api-key-command' must be an array of strings"},
      {"api-key-command = []", "'api-key-command' must be an array of strings"},
      {"api-key-command = [\"pass\", 1]", "'api-key-command' must be an array of strings"},
      {"attributes = { since = 2024-01-31 }",
       "2:24: dates and times have no JSON form; write the value as a string in quotes"},
      {"permissions = { x = inf }", "inf and nan have no JSON form"},
      {"schema = 3", "'schema' must be a string"},
      {"output = \"yaml\"", "2:10: 'output': 'yaml' is not a format; use json, token"},
  };
  for (const auto& [line, expected] : cases) {
    const std::string message = ParseError("[profile.dev]\n" + line + "\n");
    EXPECT_NE(message.find(expected), std::string::npos) << line << " → " << message;
    EXPECT_EQ(message.rfind("/etc/t/config.toml:", 0), 0u) << message;
  }
}

TEST(ParseConfig, OneKeySourcePerProfile) {
  const std::string message =
      ParseError("[profile.dev]\napi-key-env = \"A\"\napi-key-file = \"/k\"\n");
  EXPECT_NE(message.find("names api-key-env and api-key-file; keep one key source"),
            std::string::npos)
      << message;
}

TEST(ParseConfig, InlineSchema) {
  const Config config = Parse(
      "[profile.dev.schema]\nregion = { type = \"string\", required = true }\nyear = "
      "\"integer\"\n");
  ASSERT_TRUE(config.profiles[0].schema_inline);
  ASSERT_EQ(config.profiles[0].schema_inline->declarations().size(), 2u);
  EXPECT_TRUE(config.profiles[0].schema_inline->declarations()[0].required);
  const std::string message = ParseError("[profile.dev]\nschema = { year = \"integr\" }\n");
  EXPECT_EQ(message,
            "/etc/t/config.toml:2:12: schema: attribute 'year': unknown type \"integr\" (did you "
            "mean 'integer'?); the types are string, integer, number, boolean, array, object");
}

TEST(ParseConfig, NestingIsBoundedBeforeParsing) {
  // toml++ builds dotted keys to any depth and frees them recursively: 300,000 parts would
  // overflow the stack.
  std::string header = "[";
  for (int i = 0; i < 300000; ++i) header += "a.";
  EXPECT_NE(ParseError(header + "a]\n").find("nests deeper than 64 levels"), std::string::npos);
  EXPECT_NE(ParseError("x = " + std::string(100000, '[')).find("1:69: nests deeper than 64"),
            std::string::npos);
  std::string quoted = "[";
  for (int i = 0; i < 100; ++i) quoted += "\"/\".";
  EXPECT_NE(ParseError(quoted + "a]\n").find("nests deeper"), std::string::npos);
  // Dots and brackets inside strings and comments do not count.
  const Config fine = Parse("# " + std::string(200, '.') + "[[[[\n[profile.a]\nrole = \"" +
                            std::string(200, '.') + "{{{{\"\n");
  EXPECT_EQ(fine.profiles[0].role, std::string(200, '.') + "{{{{");
  // The limit counts the whole document: 3 levels of tables around 62 arrays is 65.
  const std::string deep =
      "[profile.a]\nattributes = { x = " + std::string(62, '[') + std::string(62, ']') + " }\n";
  EXPECT_NE(ParseError(deep).find("nests deeper than 64"), std::string::npos);
  const std::string ok =
      "[profile.a]\nattributes = { x = " + std::string(61, '[') + std::string(61, ']') + " }\n";
  EXPECT_NO_THROW(Parse(ok));
}

// toml++ 3.3 reaches __builtin_unreachable() when it tests most non-ASCII characters for
// whitespace (found by fuzz_config, again after a finer scan); the file must be ASCII, and
// non-ASCII text is written with \uXXXX escapes.
TEST(ParseConfig, NonAsciiIsRefusedFirstAndEscapesCarryIt) {
  EXPECT_EQ(ParseError("[profile.dev]\ncaf\xc3\xa9 = 1\n"),
            "/etc/t/config.toml:2:4: a non-ASCII character: write it as a \\uXXXX escape inside a "
            "quoted string (the TOML parser used here misreads some non-ASCII text)");
  using namespace std::string_literals;
  for (const std::string& value :
       {"\"\xc3\xa9\""s, "1\"\xc3\xa9\""s, "1979-05-27T\0\"\"\"\xc3\xa9"s, "777{\"\xc3\xa9\"}"s,
        "\"\"\"a\\\n  \xc3\xa9t\xc3\xa9\"\"\""s,
        // the fuzzer's second finding: a broken date-time, a quote, NULs, then U+0493
        "7916-05-27t06:3=\"EU==\x01===A=o=\0\0\0%putes\xd2\x93"s}) {
    EXPECT_NE(ParseError("[profile.dev]\nrole = " + value + "\n").find("a non-ASCII character"),
              std::string::npos)
        << value;
  }
  EXPECT_NE(ParseError("# \xc3\xa9t\xc3\xa9\n").find("1:3: a non-ASCII character"),
            std::string::npos);
  const Config config = Parse(
      "[profile.\"\\u00e9\"]\nrole = \"\\u00e9\"\nattributes = { \"r\\u00e9gion\" = "
      "\"Z\\u00fcrich\" }\n");
  EXPECT_EQ(config.profiles[0].name, "\xc3\xa9");
  EXPECT_EQ(config.profiles[0].attributes->dump(), "{\"r\xc3\xa9gion\":\"Z\xc3\xbcrich\"}");
}

// ---- choosing a profile --------------------------------------------------------------------

TEST(SelectProfile, DefaultFlagAndEnvironment) {
  const Config config = Parse("[profile.default]\n[profile.dev]\n[profile.prod]\n");
  EXPECT_EQ(SelectProfile(config, std::nullopt, kNoEnv)->name, "default");
  EXPECT_EQ(SelectProfile(config, std::nullopt, MapEnv({{"TOUCAN_PROFILE", "dev"}}))->name, "dev");
  EXPECT_EQ(SelectProfile(config, "prod", MapEnv({{"TOUCAN_PROFILE", "dev"}}))->name, "prod");
  EXPECT_EQ(SelectProfile(config, std::nullopt, MapEnv({{"TOUCAN_PROFILE", " \t"}}))->name,
            "default");
  EXPECT_FALSE(SelectProfile(Parse("[profile.dev]\n"), std::nullopt, kNoEnv));
  EXPECT_FALSE(SelectProfile(Config{}, std::nullopt, kNoEnv));
}

TEST(SelectProfile, UnknownProfileListsTheOthers) {
  const Config config = Parse("[profile.dev]\n[profile.prod]\n");
  auto [kind, message] = ErrorOf([&] { SelectProfile(config, "prd", kNoEnv); });
  EXPECT_EQ(kind, ErrorKind::kUsage);
  EXPECT_EQ(message,
            "profile 'prd' (--profile) is not defined (did you mean 'prod'?) in "
            "/etc/t/config.toml; profiles: dev, prod");
  auto [env_kind, env_message] = ErrorOf([&] {
    SelectProfile(Config{}, std::nullopt, MapEnv({{"TOUCAN_PROFILE", "x"}, {"HOME", "/h"}}));
  });
  EXPECT_EQ(env_kind, ErrorKind::kUsage);
  EXPECT_EQ(env_message,
            "profile 'x' (TOUCAN_PROFILE) is not defined: there is no config file at "
            "/h/.config/toucan-token/config.toml");
  EXPECT_EQ(ErrorOf([&] { SelectProfile(config, " ", kNoEnv); }).first, ErrorKind::kUsage);
}

TEST(ParseConfig, SettingsAsWrittenForTheProfilesCommand) {
  const Config config = Parse(
      "[profile.dev]\nbase-url = \"https://dev\"\napi-key-env = \"DEV_KEY\"\ncacert = "
      "\"ca.pem\"\n[profile.prod]\napi-key-command = [\"pass\", \"show\", \"prod\"]\n");
  ASSERT_EQ(config.profiles.size(), 2u);
  EXPECT_EQ(config.profiles[0].settings.dump(),
            R"({"base-url":"https://dev","api-key-env":"DEV_KEY","cacert":"ca.pem"})");
  EXPECT_EQ(config.profiles[1].settings.dump(), R"({"api-key-command":["pass","show","prod"]})");
}

// ---- api-key-command ---------------------------------------------------------------------

TEST(RunKeyCommand, FirstLineTrimmed) {
  EXPECT_EQ(toucan::RunKeyCommand({"printf", "  tk_123 \nsecond line\n"}), "tk_123");
  EXPECT_EQ(toucan::RunKeyCommand({"printf", "tk_no_newline"}), "tk_no_newline");
  // Output after the first line is drained, so the command is not blocked on a full pipe.
  EXPECT_EQ(toucan::RunKeyCommand({"sh", "-c", "echo tk_a; head -c 1000000 /dev/zero"}), "tk_a");
}

TEST(RunKeyCommand, FailuresNameTheCommandNotTheOutput) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"sh", "-c", "echo tk_secret; exit 3"}, "failed with exit status 3"},
      {{"sh", "-c", "echo tk_secret; kill -TERM $$"}, "was ended by signal 15"},
      {{"true"}, "printed no key"},
      {{"sh", "-c", "echo '   '"}, "printed no key"},
      {{"sh", "-c", "head -c 5000 /dev/zero | tr '\\0' k"}, "longer than 4 KiB"},
      {{"/nonexistent/toucan-key-helper"}, "could not be started"},
  };
  for (const auto& [argv, expected] : cases) {
    auto [kind, message] = ErrorOf([&] { toucan::RunKeyCommand(argv); });
    EXPECT_EQ(kind, ErrorKind::kUsage) << message;
    EXPECT_EQ(message.rfind("api-key-command '" + argv[0], 0), 0u) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(message.find("tk_secret\n"), std::string::npos) << message;
  }
}

TEST(RunKeyCommand, StoppedAtTheTimeLimit) {
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {"sleep", "30"},
           {"yes"},
           {"sh", "-c", "echo tk; exec sleep 30"},
           // The shell itself runs past the limit while a child it started holds the pipe.
           {"sh", "-c", "echo tk; sleep 30 2>/dev/null; true"}}) {
    const auto started = std::chrono::steady_clock::now();
    auto [kind, message] =
        ErrorOf([&] { toucan::RunKeyCommand(argv, std::chrono::milliseconds(300)); });
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
    EXPECT_EQ(kind, ErrorKind::kUsage);
    EXPECT_NE(message.find("did not finish within 0.3 s and was stopped"), std::string::npos)
        << message;
  }
}

// Whether `pid` is gone (or a zombie nobody has reaped yet).
bool Ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto state = text.find(") ");
  return state != std::string::npos && text[state + 2] == 'Z';
}

// Past the limit, what the command started goes with it: a process left behind would hold a CI
// job's output pipes open. (With a controlling terminal the command stays in our process group,
// for programs that prompt on it, and only the command itself is stopped.)
TEST(RunKeyCommand, StoppedWithWhatItStarted) {
  if (const int tty = ::open("/dev/tty", O_RDONLY | O_NOCTTY); tty >= 0) {
    ::close(tty);
    GTEST_SKIP() << "this test runs without a controlling terminal (as CI does)";
  }
  const std::string pid_file = ::testing::TempDir() + "/toucan-key-command-child.pid";
  std::filesystem::remove(pid_file);
  ErrorOf([&] {
    toucan::RunKeyCommand({"sh", "-c", "trap '' TERM; sleep 30 & echo $! > " + pid_file + "; wait"},
                          std::chrono::milliseconds(300));
  });
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  ASSERT_GT(child, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Ended(child) && std::chrono::steady_clock::now() < deadline) ::usleep(10'000);
  EXPECT_TRUE(Ended(child)) << "the command's own child " << child << " outlived it";
  std::filesystem::remove(pid_file);
}

TEST(RunKeyCommand, AProcessLeftBehindDoesNotHoldTheKeyBack) {
  // The command exits at once; a background process it started keeps its standard output open.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(toucan::RunKeyCommand({"sh", "-c", "(sleep 20 2>/dev/null &); echo tk_left_behind"},
                                  std::chrono::milliseconds(10'000)),
            "tk_left_behind");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5))
      << "the key is read when the command exits, not when every holder of the pipe does";
}

}  // namespace
