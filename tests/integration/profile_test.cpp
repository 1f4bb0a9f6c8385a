// Profiles, the attribute schema and the token cache, through the real binary with HOME in a
// temporary folder (never the real home).
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;

class Profiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "toucan-profile-XXXXXX").string();
    home_ = ::mkdtemp(pattern.data());
    std::filesystem::create_directories(home_ + "/.config/toucan-token");
    ::chmod((home_ + "/.config/toucan-token").c_str(), 0700);
  }
  void TearDown() override { std::filesystem::remove_all(home_); }

  std::string WriteConfig(const std::string& text) const {
    const std::string path = home_ + "/.config/toucan-token/config.toml";
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0600);
    return path;
  }
  std::string WriteFile(const std::string& name, const std::string& text) const {
    std::ofstream(home_ + "/" + name) << text;
    return home_ + "/" + name;
  }
  Env HomeEnv(Env extra = {}) const {
    extra["HOME"] = home_;
    return extra;
  }

  std::string home_;
};

TEST_F(Profiles, DefaultProfileSuppliesUrlRoleAttributesAndItsOwnKey) {
  TestServer server(TokenReply());
  WriteConfig("[profile.default]\nbase-url = \"" + server.url() +
              "\"\napi-key-env = \"PROD_KEY\"\nrole = \"viewer\"\nattributes = { region = \"EU\", "
              "year = 2024 }\npermissions = { p = true }\n");
  // A dev key left in TOUCAN_API_KEY must not reach the profile's instance.
  const RunResult result =
      RunChecked({"-u", "u1", "--attributes", R"({"team":"a"})", "-a", "region=US"},
                 HomeEnv({{"PROD_KEY", kApiKey}, {"TOUCAN_API_KEY", "dev-key-must-not-be-sent"}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto request = server.requests().at(0);
  EXPECT_EQ(request.Header("x-api-key"), kApiKey);
  EXPECT_EQ(json::parse(request.body), json::parse(R"({"user":{"distinctId":"u1","role":"viewer",
      "attributes":{"region":"US","year":2024,"team":"a"}},"permissions":{"p":true}})"));
}

TEST_F(Profiles, FlagsAndEnvironmentWinOverTheProfile) {
  TestServer server(TokenReply());
  ClosedPortHolder closed;
  WriteConfig("[profile.default]\nbase-url = \"" + closed.url() +
              "\"\nrole = \"viewer\"\napi-key-env = \"PROD_KEY\"\n");
  const RunResult result =
      RunChecked({"-u", "u1", "-r", "explorer", "--api-key-env", "OTHER_KEY"},
                 HomeEnv({{"TOUCAN_BASE_URL", server.url()}, {"OTHER_KEY", kApiKey}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(server.requests().at(0).Header("x-api-key"), kApiKey);
  EXPECT_EQ(json::parse(server.requests().at(0).body)["user"]["role"], "explorer");
}

TEST_F(Profiles, WithoutAKeySourceToucanApiKeyApplies) {
  TestServer server(TokenReply());
  WriteConfig("[profile.dev]\nbase-url = \"" + server.url() + "\"\n");
  const RunResult result =
      RunChecked({"-u", "u1", "--profile", "dev"}, HomeEnv({{"TOUCAN_API_KEY", kApiKey}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(server.requests().at(0).Header("x-api-key"), kApiKey);
}

TEST_F(Profiles, ApiKeyCommand) {
  TestServer server(TokenReply());
  WriteConfig("[profile.prod]\nbase-url = \"" + server.url() +
              "\"\napi-key-command = [\"printf\", \"%s\\n\", \"" + kApiKey +
              "\"]\n[profile.broken]\nbase-url = \"" + server.url() +
              "\"\napi-key-command = [\"sh\", \"-c\", \"echo vault is sealed >&2; exit 3\"]\n");
  const RunResult ok = RunChecked({"-u", "u1"}, HomeEnv({{"TOUCAN_PROFILE", "prod"}}));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(server.requests().at(0).Header("x-api-key"), kApiKey);

  // The command's own stderr is passed through as it is, without our prefix.
  const RunResult failed = RunTool({"-u", "u1", "--profile", "broken"}, HomeEnv());
  EXPECT_EQ(failed.exit_code, 2);
  EXPECT_EQ(failed.out, "");
  EXPECT_NE(failed.err.find("vault is sealed"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("api-key-command 'sh -c echo vault is sealed >&2; exit 3' failed with "
                            "exit status 3"),
            std::string::npos)
      << failed.err;
  EXPECT_EQ(server.request_count(), 1u);
}

TEST_F(Profiles, ApiKeyCommandNeverReadsTheBatchInput) {
  TestServer server(TokenReply());
  // A command that would take the first line of standard input as the key, were it given one.
  WriteConfig("[profile.p]\nbase-url = \"" + server.url() +
              "\"\napi-key-command = [\"sh\", \"-c\", \"read x; echo " + kApiKey + "$x\"]\n");
  const RunResult result =
      RunChecked({"--profile", "p", "batch"}, HomeEnv(), std::string("u1\nu2\nu3\n"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream rows(result.out);
  int line = 0;
  for (std::string row; std::getline(rows, row);) {
    ++line;
    EXPECT_EQ(json::parse(row)["distinctId"], "u" + std::to_string(line)) << row;
  }
  EXPECT_EQ(line, 3);
  ASSERT_EQ(server.request_count(), 3u);
  EXPECT_EQ(server.requests().at(0).Header("x-api-key"), kApiKey);
}

TEST_F(Profiles, ChoosingAProfile) {
  WriteConfig("[profile.dev]\nrole = \"dev-role\"\n[profile.prod]\nrole = \"prod-role\"\n");
  const auto role = [&](std::vector<std::string> args, Env env) {
    args.insert(args.end(), {"-u", "u1", "--dry-run"});
    const RunResult result = RunChecked(args, HomeEnv(env));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return json::parse(result.out)["body"]["user"]["role"].get<std::string>();
  };
  EXPECT_EQ(role({}, {}), "explorer");  // no default profile: nothing applies
  EXPECT_EQ(role({}, {{"TOUCAN_PROFILE", "dev"}}), "dev-role");
  EXPECT_EQ(role({"--profile", "prod"}, {{"TOUCAN_PROFILE", "dev"}}), "prod-role");
  EXPECT_EQ(role({}, {{"TOUCAN_PROFILE", "  "}}), "explorer");

  const RunResult unknown = RunChecked({"-u", "u1", "--profile", "staging"}, HomeEnv());
  EXPECT_EQ(unknown.exit_code, 2);
  ExpectOneErrorLine(unknown, "profile 'staging' (--profile) is not defined in " + home_ +
                                  "/.config/toucan-token/config.toml; profiles: dev, prod");
}

TEST_F(Profiles, ConfigErrorsNameFileLineAndColumn) {
  const std::string path = WriteConfig("[profile.dev]\nbase_url = \"https://x\"\n");
  RunResult result = RunChecked({"-u", "u1", "--dry-run"}, HomeEnv());
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, path + ":2:1: unknown key 'base_url' (did you mean 'base-url'?)");

  WriteConfig("[profile.dev]\napi-key = \"" + std::string(kApiKey) + "\"\n");
  result = RunChecked({"-u", "u1", "--dry-run"}, HomeEnv());
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, path + ":2:1: an API key is never kept in the config file");

  WriteConfig("[profile.dev]\n");
  ::chmod(path.c_str(), 0664);
  result = RunChecked({"-u", "u1", "--dry-run"}, HomeEnv());
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, "config file " + path + " is writable by group or others");

  result = RunChecked({"-u", "u1", "--dry-run"}, HomeEnv({{"TOUCAN_CONFIG", home_ + "/none"}}));
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, "config file " + home_ + "/none: No such file or directory");
}

TEST_F(Profiles, ProfilesCommandShowsSettingsButNeverAKey) {
  WriteConfig(
      "[profile.dev]\nbase-url = \"https://dev.example.com\"\napi-key-env = \"DEV_KEY\"\n"
      "[profile.prod]\napi-key-file = \"~/prod.key\"\nschema = \"schema.toml\"\n");
  const RunResult result =
      RunChecked({"profiles"}, HomeEnv({{"TOUCAN_PROFILE", "prod"}, {"DEV_KEY", kApiKey}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(
      result.out,
      R"({"name":"dev","active":false,"settings":{"base-url":"https://dev.example.com","api-key-env":"DEV_KEY"}})"
      "\n"
      R"({"name":"prod","active":true,"settings":{"api-key-file":"~/prod.key","schema":"schema.toml"}})"
      "\n");
}

TEST_F(Profiles, SchemaCatchesMistakesInSingleMode) {
  TestServer server(TokenReply());
  const std::string schema = WriteFile(
      "schema.toml", "region = { type = \"string\", required = true }\nyear = \"integer\"\n");
  const Env env = HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}});
  RunResult result = RunChecked({"-u", "u1", "--schema", schema, "-a", "regoin=EU"}, env);
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, "unknown attribute 'regoin' (did you mean 'region'?)");
  result = RunChecked({"-u", "u1", "--schema", schema, "-a", "year=2024"}, env);
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, "required attribute 'region' is missing");
  result =
      RunChecked({"-u", "u1", "--schema", schema, "-a", "region=EU", "-a", "year=MMXXIV"}, env);
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result,
                     "attribute 'year' has the wrong type: the schema declares integer, the value "
                     "is \"MMXXIV\" (string)");
  EXPECT_EQ(server.request_count(), 0u);

  result = RunChecked({"-u", "u1", "--schema", schema, "-a", "region=EU", "-a", "year=2024"}, env);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(server.requests().at(0).body)["user"]["attributes"],
            json::parse(R"({"region":"EU","year":2024})"));
}

TEST_F(Profiles, BatchDryRunChecksAWholeUserFileOffline) {
  // The profile's schema, relative to the config file's folder; no key, no server.
  WriteConfig("[profile.default]\nbase-url = \"https://bi.example.com\"\nschema = \"s.json\"\n");
  std::ofstream(home_ + "/.config/toucan-token/s.json")
      << R"({"region": "string", "year": "integer"})";
  const RunResult result =
      RunChecked({"batch", "--dry-run", "-"}, HomeEnv(),
                 "{\"distinctId\":\"u1\",\"attributes\":{\"region\":\"EU\"}}\n"
                 "{\"distinctId\":\"u2\",\"attributes\":{\"regoin\":\"EU\"}}\n"
                 "{\"distinctId\":\"u3\",\"attributes\":{\"year\":\"2024\"}}\n");
  EXPECT_EQ(result.exit_code, 2);
  std::vector<json> rows;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 3u) << result.out;
  EXPECT_EQ(rows[0]["body"]["user"]["attributes"], json::parse(R"({"region":"EU"})"));
  EXPECT_EQ(rows[1]["error"]["message"], "unknown attribute 'regoin' (did you mean 'region'?)");
  EXPECT_EQ(rows[1]["error"]["exit"], 2);
  EXPECT_EQ(rows[2]["distinctId"], "u3");
  EXPECT_NE(rows[2]["error"]["message"].get<std::string>().find("declares integer"),
            std::string::npos);
}

class Cache : public Profiles {
 protected:
  RunResult Mint(const std::vector<std::string>& extra, const std::string& url) const {
    std::vector<std::string> args = {"-u", "u1", "-a", "region=EU", "--verbose"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunChecked(args, HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", url}}));
  }
  static std::string LastLine(const std::string& text) {
    const auto end = text.find_last_not_of('\n');
    return text.substr(text.rfind('\n', end) + 1, end - text.rfind('\n', end));
  }
};

TEST_F(Cache, SecondCallIsServedFromTheCache) {
  TestServer server(TokenReply(R"("expiresIn":3600,"scope":"embed")"));
  const RunResult first = Mint({"--cache"}, server.url());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("toucan-token: cache miss: no entry\n"), std::string::npos);
  const RunResult second = Mint({"--cache"}, server.url());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(server.request_count(), 1u);
  EXPECT_NE(second.err.find("toucan-token: cache hit ("), std::string::npos) << second.err;
  const json a = json::parse(first.out), b = json::parse(second.out);
  EXPECT_EQ(b["token"], a["token"]);
  EXPECT_EQ(b["expiresAt"], a["expiresAt"]);
  EXPECT_EQ(b["scope"], "embed");
  EXPECT_LE(b["expiresIn"].get<int>(), 3600);
  EXPECT_GE(b["expiresIn"].get<int>(), 3590);

  const std::string folder = home_ + "/.cache/toucan-token";
  struct stat info {};
  ASSERT_EQ(::stat(folder.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    ASSERT_EQ(::stat(entry.path().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    std::stringstream text;
    text << std::ifstream(entry.path()).rdbuf();
    EXPECT_EQ(text.str().find(kApiKey), std::string::npos);
  }

  // Another request, --no-cache, or a margin the entry cannot meet go to the network.
  ASSERT_EQ(Mint({"--cache", "-a", "year=2024"}, server.url()).exit_code, 0);
  ASSERT_EQ(Mint({"--cache", "--no-cache"}, server.url()).exit_code, 0);
  const RunResult margin = Mint({"--cache", "--min-ttl", "3601"}, server.url());
  EXPECT_NE(margin.err.find("cache miss: expires within min-ttl"), std::string::npos) << margin.err;
  EXPECT_EQ(server.request_count(), 4u);

  const RunResult cleared = RunChecked({"cache", "clear"}, HomeEnv());
  ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_EQ(cleared.err, "toucan-token: removed 2 cached tokens from " + folder + "\n");
  EXPECT_NE(Mint({"--cache"}, server.url()).err.find("cache miss: no entry"), std::string::npos);
}

TEST_F(Cache, ProfileTurnsItOnAndAnOpenFolderIsNotUsed) {
  TestServer server(TokenReply());
  WriteConfig("[profile.default]\ncache = true\nmin-ttl = 10\n");
  ASSERT_EQ(Mint({}, server.url()).exit_code, 0);
  EXPECT_NE(Mint({}, server.url()).err.find("cache hit"), std::string::npos);
  EXPECT_EQ(server.request_count(), 1u);

  ::chmod((home_ + "/.cache/toucan-token").c_str(), 0755);
  const RunResult open = Mint({}, server.url());
  ASSERT_EQ(open.exit_code, 0) << open.err;
  EXPECT_NE(open.err.find("warning: the cache folder " + home_ +
                          "/.cache/toucan-token is open to group or others"),
            std::string::npos)
      << open.err;
  EXPECT_EQ(server.request_count(), 2u);
}

TEST_F(Cache, NoExpiryIsNeverCached) {
  TestServer server(TokenReply(R"("expiresIn":"soon")"));
  ASSERT_EQ(Mint({"--cache"}, server.url()).exit_code, 0);
  const RunResult second = Mint({"--cache"}, server.url());
  EXPECT_NE(second.err.find("cache miss: no entry"), std::string::npos) << second.err;
  EXPECT_EQ(server.request_count(), 2u);
}

// Twenty processes mint the same request at once: every one prints a whole token, and the entry
// they leave is one a later run can use.
TEST_F(Cache, TwentyConcurrentProcesses) {
  TestServer server(TokenReply());
  std::vector<RunResult> results(20);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&] { result = Mint({"--cache"}, server.url()); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) {
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(json::parse(result.out)["token"], kToken);
  }
  const RunResult after = Mint({"--cache"}, server.url());
  EXPECT_NE(after.err.find("cache hit"), std::string::npos) << after.err;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(home_ + "/.cache/toucan-token"),
                          std::filesystem::directory_iterator()),
            1);
}

}  // namespace
}  // namespace toucan::test
