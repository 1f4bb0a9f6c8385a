// Profiles, the attribute schema and the token cache, through the real binary with HOME in a
// temporary folder (never the real home).
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
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

// The key and the instance come from the same place: a TOUCAN_BASE_URL left over from dev work
// must not carry the prod profile's key to the dev server.
TEST_F(Profiles, ToucanBaseUrlNeverTakesTheProfilesKeyElsewhere) {
  TestServer prod(TokenReply());
  TestServer dev(TokenReply());
  WriteConfig("[profile.prod]\nbase-url = \"" + prod.url() +
              "\"\napi-key-env = \"PROD_KEY\"\n[profile.nourl]\napi-key-file = \"" +
              WriteFile("key.txt", std::string(kApiKey) + "\n") + "\"\n");
  const std::string dev_url = "http://dev:s3cr3t@127.0.0.1:" + std::to_string(dev.port());
  const Env env = HomeEnv({{"PROD_KEY", kApiKey}, {"TOUCAN_BASE_URL", dev_url}});
  // `config` shows every setting, the conflict in the base URL's source, then refuses as a mint.
  const RunResult shown = RunChecked({"config", "--profile", "prod"}, env);
  EXPECT_EQ(shown.exit_code, 2) << shown.err;
  EXPECT_NE(shown.out.find("; a mint refuses it: TOUCAN_BASE_URL 'http://***@127.0.0.1:"),
            std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find("\"name\":\"api-key\""), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(std::count(shown.err.begin(), shown.err.end(), '\n'), 1) << shown.err;
  EXPECT_NE(shown.err.find("unset TOUCAN_BASE_URL to use the profile's instance, or pass "
                           "--base-url to send this profile's key to another on purpose"),
            std::string::npos);
  for (const std::string profile : {"prod", "nourl"}) {
    const RunResult refused = RunChecked({"--profile", profile, "-u", "u1"}, env);
    EXPECT_EQ(refused.exit_code, 2) << refused.err;
    ExpectOneErrorLine(refused, "TOUCAN_BASE_URL 'http://***@127.0.0.1:");
    EXPECT_NE(refused.err.find(profile == "prod" ? prod.url() : "https://toucanai.cloud"),
              std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("--base-url"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("unset TOUCAN_BASE_URL"), std::string::npos) << refused.err;
    EXPECT_EQ(refused.err.find("s3cr3t"), std::string::npos) << refused.err;
  }
  EXPECT_EQ(dev.request_count(), 0u);
  // The same URL as the profile's (a trailing slash aside) is no conflict; --base-url is explicit
  // and wins; a key given on the command line is not the profile's.
  for (const auto& [args, extra] : std::vector<std::pair<std::vector<std::string>, Env>>{
           {{"--profile", "prod"}, {{"TOUCAN_BASE_URL", prod.url() + "/"}}},
           {{"--profile", "prod", "--base-url", prod.url()}, {}},
           {{"--profile", "nourl", "--base-url", prod.url()}, {}},
           {{"--profile", "prod", "--api-key-env", "PROD_KEY"},
            {{"TOUCAN_BASE_URL", dev.url()}}}}) {
    Env full = HomeEnv({{"PROD_KEY", kApiKey}, {"TOUCAN_BASE_URL", dev.url()}});
    for (const auto& [name, value] : extra) full[name] = value;
    std::vector<std::string> all = args;
    all.insert(all.end(), {"-u", "u1"});
    const RunResult ok = RunChecked(all, full);
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
  }
  EXPECT_EQ(prod.request_count(), 3u);
  EXPECT_EQ(dev.request_count(), 1u);
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

// Live processes (not zombies) of process group `group`.
std::vector<std::string> LiveProcessesOfGroup(pid_t group) {
  std::vector<std::string> live;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream file(entry.path() / "stat");
    std::string text;
    try {  // a process of another test may end while its stat is read
      text.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    } catch (const std::exception&) {
      continue;
    }
    const auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(text.substr(close + 2));
    char state = 0;
    long parent = 0, pgrp = 0;
    fields >> state >> parent >> pgrp;
    if (pgrp == group && state != 'Z') live.push_back(text);
  }
  return live;
}

// Without a terminal (CI) the command has a process group of its own. SIGTERM or SIGINT to the
// program stops it and all it started before the program exits, so the job's stderr pipe closes
// at once, not when `sleep 25` ends; a batch still prints its summary.
TEST_F(Profiles, SignalStopsTheApiKeyCommandAndAllItStarted) {
  TestServer server(TokenReply());
  const std::string ready = home_ + "/ready";
  WriteConfig("[profile.slow]\nbase-url = \"" + server.url() +
              "\"\napi-key-command = [\"sh\", \"-c\", \"echo $$ > " + ready + ".new; mv " + ready +
              ".new " + ready + "; sleep 25; echo KEY\"]\n");
  for (const int signal : {SIGTERM, SIGINT, SIGHUP}) {
    for (const bool batch : {false, true}) {
      std::filesystem::remove(ready);
      pid_t group = 0;
      std::thread signaller;
      std::vector<std::string> args{TOUCAN_TOKEN_BINARY, "--profile", "slow"};
      if (batch)
        args.insert(args.end(), {"batch", "-"});
      else
        args.insert(args.end(), {"-u", "u1"});
      // setsid: no controlling terminal, as in CI.
      const RunResult result = RunTool(
          args, HomeEnv(), batch ? std::optional<std::string>("u1\nu2\n") : std::nullopt,
          "/usr/bin/setsid", [&](pid_t pid, const std::string&) {
            if (signaller.joinable()) return;
            signaller = std::thread([&, pid] {
              const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
              while (!std::filesystem::exists(ready) &&
                     std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
              }
              std::ifstream(ready) >> group;
              ::kill(pid, signal);
            });
          });
      signaller.join();
      SCOPED_TRACE(std::string(batch ? "batch, " : "single, ") + ::strsignal(signal));
      ASSERT_GT(group, 0) << result.err;
      EXPECT_EQ(result.exit_code, 128 + signal) << result.err;
      EXPECT_LT(result.seconds, 10.0) << "the command kept stderr open";
      EXPECT_EQ(result.out, "");
      EXPECT_EQ(LiveProcessesOfGroup(group), std::vector<std::string>());
      if (batch) {
        EXPECT_NE(result.err.find("toucan-token: interrupted: 0 minted, 0 failed, "),
                  std::string::npos)
            << result.err;
      }
      ::kill(-group, SIGKILL);  // whatever the assertions above found
    }
  }
  EXPECT_EQ(server.request_count(), 0u);
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

  // A profile's URL settings break the same rules as the flags, and are placed in the file;
  // `profiles` refuses them too, so a password in a base URL is never listed.
  for (const auto& [line, says] :
       {std::pair<std::string, std::string>{"base-url = \"http://example.com\"",
                                            ":2:12: 'base-url': base URL 'http://example.com' uses "
                                            "plain http://"},
        {"base-url = \"https://alice:s3cretpw@h.example\"",
         ":2:12: 'base-url': base URL 'https://***@h.example' must not carry"},
        {"endpoint-path = \"/a/../b\"", ":2:17: 'endpoint-path': "},
        {"endpoint-path = \"/..;/admin\"", ":2:17: 'endpoint-path': "},
        {"attributes = { \"a\\u009bb\" = 1 }",
         ":2:14: 'attributes': the attribute key 'a\\u009bb' holds a control character"}}) {
    WriteConfig("[profile.default]\n" + line + "\n");
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"-u", "u1", "--dry-run"}, {"profiles"}}) {
      result = RunChecked(args, HomeEnv());
      EXPECT_EQ(result.exit_code, 2) << line;
      ExpectOneErrorLine(result, path + says);
      EXPECT_EQ(result.err.find("s3cretpw"), std::string::npos) << result.err;
      EXPECT_EQ(result.err.find("alice"), std::string::npos) << result.err;
    }
  }
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

// A command that prints the key, or an attribute holding it: `profiles` shows the settings, but
// never a key this run knows of.
TEST_F(Profiles, ProfilesCommandHidesAKeyWrittenIntoTheFile) {
  WriteConfig("[profile.default]\napi-key-command = [\"echo\", \"" + std::string(kApiKey) +
              "\"]\nattributes = { note = \"" + kApiKey + "\" }\n");
  const RunResult result = RunChecked({"profiles"}, HomeEnv({{"TOUCAN_API_KEY", kApiKey}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find(R"("api-key-command":["echo","***"])"), std::string::npos)
      << result.out;
  // The key of a profile that is not the active one is known too.
  WriteConfig(
      "[profile.prod]\napi-key-env = \"PROD_KEY\"\n[profile.ci]\n"
      "api-key-command = [\"echo\", \"" +
      std::string(kApiKey) + "\"]\n");
  const RunResult other = RunChecked({"profiles"}, HomeEnv({{"PROD_KEY", kApiKey}}));
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(other.out.find(R"("api-key-command":["echo","***"])"), std::string::npos) << other.out;
}

TEST_F(Profiles, ProfilesWithoutAFileSaysWhereItLooked) {
  const RunResult result = RunChecked({"profiles"}, HomeEnv());
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "");
  ExpectOneErrorLine(
      result, "warning: no config file at " + home_ + "/.config/toucan-token/config.toml to list");
  EXPECT_EQ(RunChecked({"profiles", "-q"}, HomeEnv()).err, "");
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

// Three mistakes, one run: a line each on stderr, and all of them in a batch row's message.
TEST_F(Profiles, SchemaReportsEveryProblemInOneRun) {
  TestServer server(TokenReply());
  const std::string schema =
      WriteFile("every.toml",
                "region = { type = \"string\", enum = [\"EU\", \"US\"] }\nyear = \"integer\"\n"
                "active = \"boolean\"\n");
  const Env env = HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}});
  RunResult result = RunChecked({"-u", "u1", "--schema", schema, "-a", "regoin=EU", "-a",
                                 "year=last", "-a", "actve=true", "-a", "region=Eu"},
                                env);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err,
            "toucan-token: unknown attribute 'regoin' (did you mean 'region'?)\n"
            "toucan-token: attribute 'year' has the wrong type: the schema declares integer, the "
            "value is \"last\" (string)\n"
            "toucan-token: unknown attribute 'actve' (did you mean 'active'?)\n"
            "toucan-token: attribute 'region': \"Eu\" is not one of \"EU\", \"US\" (did you mean "
            "'EU'?)\n");
  result = RunChecked(
      {"batch", "--schema", schema}, env,
      std::string(R"({"distinctId":"u1","attributes":{"regoin":"EU","year":"x"}})") + "\n");
  EXPECT_EQ(result.exit_code, 2);
  const json row = json::parse(result.out);
  EXPECT_EQ(row["error"]["message"],
            "unknown attribute 'regoin' (did you mean 'region'?); attribute 'year' has the wrong "
            "type: the schema declares integer, the value is \"x\" (string)");
  EXPECT_EQ(server.request_count(), 0u);
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

// Runs the tool in `dir` (through /bin/sh, which changes there first), for relative paths.
RunResult RunIn(const std::string& dir, const std::vector<std::string>& args, const Env& env) {
  std::vector<std::string> argv{"-c", "cd \"$0\" && exec \"$@\"", dir, TOUCAN_TOKEN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult result = RunTool(argv, env, std::nullopt, "/bin/sh");
  EXPECT_EQ(key_forms::FindKeyForm(result.out, kApiKey), std::nullopt) << result.out;
  EXPECT_EQ(key_forms::FindKeyForm(result.err, kApiKey), std::nullopt) << result.err;
  return result;
}

std::vector<json> Rows(const std::string& out) {
  std::vector<json> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  return rows;
}

// Mints "tok-<distinctId>".
Handler TokenPerUser() {
  return [](const httplib::Request& request, httplib::Response& response, int) {
    const std::string id = json::parse(request.body)["user"]["distinctId"];
    response.set_content(json{{"token", "tok-" + id}, {"expiresIn", 3600}}.dump(),
                         "application/json");
  };
}

TEST_F(Profiles, RealBatchWithSchemaMintsTheGoodLinesAndNeverSendsTheBadOne) {
  TestServer server(TokenPerUser());
  const std::string schema = WriteFile("schema.json", R"({"region": "string", "year": "integer"})");
  const RunResult result =
      RunChecked({"batch", "--schema", schema, "-"},
                 HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}}),
                 "{\"distinctId\":\"u1\",\"attributes\":{\"region\":\"EU\"}}\n"
                 "{\"distinctId\":\"u2\",\"attributes\":{\"regoin\":\"EU\"}}\n"
                 "{\"distinctId\":\"u3\",\"attributes\":{\"region\":\"US\",\"year\":2024}}\n");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 3u) << result.out;
  EXPECT_EQ(rows[0]["line"], 1);
  EXPECT_EQ(rows[0]["token"], "tok-u1");
  EXPECT_EQ(rows[1], json::parse(R"x({"line":2,"distinctId":"u2","error":{"exit":2,"status":null,
      "message":"unknown attribute 'regoin' (did you mean 'region'?)"}})x"));
  EXPECT_EQ(rows[2]["line"], 3);
  EXPECT_EQ(rows[2]["token"], "tok-u3");
  EXPECT_NE(result.err.find("2 minted, 1 failed in "), std::string::npos) << result.err;
  // The bad line never reached the server; the good ones went with their attributes.
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  std::map<std::string, json> sent;
  for (const auto& request : requests) {
    const json body = json::parse(request.body);
    sent[body["user"]["distinctId"]] = body["user"]["attributes"];
  }
  EXPECT_EQ(sent.count("u2"), 0u);
  EXPECT_EQ(sent["u1"], json::parse(R"({"region":"EU"})"));
  EXPECT_EQ(sent["u3"], json::parse(R"({"region":"US","year":2024})"));
}

TEST_F(Profiles, SingleDryRunWithSchemaRefusesWrongTypesAndConvertsText) {
  // No key and no server: a dry run is the offline check.
  const std::string schema =
      WriteFile("schema.toml",
                "region = \"string\"\nyear = \"integer\"\nactive = \"boolean\"\n"
                "groups = \"array\"\n");
  RunResult result =
      RunChecked({"-u", "u1", "--dry-run", "--schema", schema, "-a", "groups=a,b"}, HomeEnv());
  EXPECT_EQ(result.exit_code, 2);  // text is never read as JSON: the message says what is
  ExpectOneErrorLine(result,
                     "the value is \"a,b\" (string); text is never read as array: use -a "
                     "groups:=JSON, or a JSON Lines batch");
  result =
      RunChecked({"-u", "u1", "--dry-run", "--schema", schema, "-a", "year=MMXXIV"}, HomeEnv());
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result,
                     "attribute 'year' has the wrong type: the schema declares integer, the value "
                     "is \"MMXXIV\" (string)");
  result = RunChecked({"-u", "u1", "--dry-run", "--schema", schema, "-a", "active:=1"}, HomeEnv());
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result,
                     "attribute 'active' has the wrong type: the schema declares boolean, the "
                     "value is 1 (");
  result = RunChecked(
      {"-u", "u1", "--dry-run", "--schema", schema, "--attributes", R"({"region":7})"}, HomeEnv());
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result,
                     "attribute 'region' has the wrong type: the schema declares string, the "
                     "value is 7 (");

  result = RunChecked({"-u", "u1", "--dry-run", "--schema", schema, "-a", "year=2024", "-a",
                       "active=true", "-a", "region=2024"},
                      HomeEnv());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  const json attributes = json::parse(result.out)["body"]["user"]["attributes"];
  EXPECT_EQ(attributes, json::parse(R"({"year":2024,"active":true,"region":"2024"})"));
  EXPECT_TRUE(attributes["year"].is_number_integer()) << attributes;
  EXPECT_TRUE(attributes["region"].is_string()) << "declared string: the text stays text";
}

TEST_F(Profiles, RelativeSchemaPathsFollowTheWorkingDirectoryOrTheConfigFolder) {
  // The same name in two folders, declaring different attributes.
  std::ofstream(home_ + "/.config/toucan-token/s.json") << R"({"team": "string"})";
  std::filesystem::create_directories(home_ + "/work");
  std::ofstream(home_ + "/work/s.json") << R"({"region": "string"})";
  WriteConfig("[profile.default]\nschema = \"s.json\"\n");
  const std::string work = home_ + "/work";
  const auto run = [&](const std::string& dir, std::vector<std::string> extra,
                       const Env& env = {}) {
    std::vector<std::string> args{"-u", "u1", "--dry-run"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunIn(dir, args, HomeEnv(env));
  };

  // --schema: relative to the working directory, whatever folder the config file is in.
  RunResult result = run(work, {"--schema", "s.json", "-a", "region=EU"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  result = run(work, {"--schema", "s.json", "-a", "team=a"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown attribute 'team'"), std::string::npos) << result.err;
  result = run(home_, {"--schema", "work/s.json", "-a", "region=EU"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  result = run(home_, {"--schema", "s.json", "-a", "team=a"});  // no s.json in HOME itself
  EXPECT_EQ(result.exit_code, 2) << "resolved against the config folder instead of the cwd";
  ExpectOneErrorLine(result, "schema file s.json: No such file or directory");

  // The profile's schema: relative to the config file's folder, whatever the working directory.
  result = run(work, {"-a", "team=a"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  result = run(work, {"-a", "region=EU"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown attribute 'region'"), std::string::npos) << result.err;

  // The same for a config file named by TOUCAN_CONFIG: its own folder, not the default one.
  std::filesystem::create_directories(home_ + "/etc/nested");
  std::ofstream(home_ + "/etc/nested/s.toml") << "year = \"integer\"\n";
  const std::string other = home_ + "/etc/t.toml";
  std::ofstream(other) << "[profile.default]\nschema = \"nested/s.toml\"\n";
  ::chmod(other.c_str(), 0600);
  result = run(work, {"-a", "year=2024"}, {{"TOUCAN_CONFIG", other}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["body"]["user"]["attributes"], json::parse(R"({"year":2024})"));
}

// --cacert > TOUCAN_CA_BUNDLE > the profile's cacert; what loses is never even opened.
TEST_F(Profiles, CaBundlePrecedence) {
  TestServer server(TokenReply(), TestServer::Tls{Certs("server.pem"), Certs("server.key"), ""});
  // A real certificate that does not vouch for the server, and a path that does not exist.
  const std::string wrong = Certs("wrong-host.pem");
  const std::string missing = home_ + "/no-such-bundle.pem";
  // The profile's good bundle is a relative path: the config file's folder.
  std::filesystem::copy_file(Certs("ca.pem"), home_ + "/.config/toucan-token/ca.pem");
  const auto run = [&](const std::string& profile_cacert, const Env& env,
                       const std::vector<std::string>& flags) {
    WriteConfig("[profile.default]\ncacert = \"" + profile_cacert + "\"\n");
    std::vector<std::string> args{"-u", "u1", "--retries", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    Env full = HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}});
    for (const auto& [name, value] : env) full[name] = value;
    return RunChecked(args, full);
  };
  const auto ok = [](const RunResult& result) {
    EXPECT_EQ(result.exit_code, 0) << result.err;
    if (result.exit_code == 0) {
      EXPECT_EQ(json::parse(result.out)["token"], kToken);
    }
  };
  const auto untrusted = [](const RunResult& result) {
    EXPECT_EQ(result.exit_code, 6) << result.err;
    EXPECT_NE(result.err.find("TOUCAN_CA_BUNDLE"), std::string::npos) << result.err;
  };

  ok(run("ca.pem", {}, {}));  // the profile alone is used
  untrusted(run(wrong, {}, {}));
  // TOUCAN_CA_BUNDLE wins over the profile.
  ok(run(wrong, {{"TOUCAN_CA_BUNDLE", Certs("ca.pem")}}, {}));
  ok(run(missing, {{"TOUCAN_CA_BUNDLE", Certs("ca.pem")}}, {}));
  untrusted(run("ca.pem", {{"TOUCAN_CA_BUNDLE", wrong}}, {}));
  // --cacert wins over both.
  ok(run(wrong, {{"TOUCAN_CA_BUNDLE", wrong}}, {"--cacert", Certs("ca.pem")}));
  ok(run(missing, {{"TOUCAN_CA_BUNDLE", missing}}, {"--cacert", Certs("ca.pem")}));
  untrusted(run("ca.pem", {{"TOUCAN_CA_BUNDLE", Certs("ca.pem")}}, {"--cacert", wrong}));
  // An empty or blank TOUCAN_CA_BUNDLE counts as unset: the profile applies.
  ok(run("ca.pem", {{"TOUCAN_CA_BUNDLE", ""}}, {}));
  ok(run("ca.pem", {{"TOUCAN_CA_BUNDLE", "  "}}, {}));
  EXPECT_EQ(server.request_count(), 7u);
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
  EXPECT_NE(margin.err.find("warning: the token lives 3600 s, no more than --min-ttl 3601: it "
                            "will never be reused"),
            std::string::npos)
      << margin.err;
  EXPECT_EQ(server.request_count(), 4u);
  const RunResult no_cache = Mint({"--min-ttl", "300", "-o", "token"}, server.url());
  EXPECT_NE(no_cache.err.find("warning: --min-ttl does nothing without --cache"), std::string::npos)
      << no_cache.err;
  EXPECT_EQ(server.request_count(), 5u);

  const RunResult cleared = RunChecked({"cache", "clear"}, HomeEnv());
  ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_EQ(cleared.err, "toucan-token: removed 2 cached tokens from " + folder + "\n");
  EXPECT_NE(Mint({"--cache"}, server.url()).err.find("cache miss: no entry"), std::string::npos);
}

// A hit prints the line the mint printed, byte for byte but for expiresIn, fields in the
// server's order.
// A writer killed between creating its temporary file and the rename leaves the whole token line
// behind, 0600, named .tmp-PID-RANDOM: `cache clear` removes and counts it, and a later writer
// removes one older than a minute (a younger one may be another writer's, in progress).
TEST_F(Cache, LeftoversOfAKilledWriterAreRemoved) {
  TestServer server(TokenReply());
  const std::string folder = home_ + "/.cache/toucan-token";
  ASSERT_EQ(Mint({"--cache"}, server.url()).exit_code, 0);
  const auto leftover = [&](const std::string& name, int age_seconds) {
    const std::string path = folder + "/" + name;
    std::ofstream(path) << R"({"receivedAtMs":1,"reply":"{\"token\":\"live\"}"})";
    ::chmod(path.c_str(), 0600);
    const timespec times[2] = {{::time(nullptr) - age_seconds, 0},
                               {::time(nullptr) - age_seconds, 0}};
    ::utimensat(AT_FDCWD, path.c_str(), times, 0);
    return path;
  };
  const std::string stale = leftover(".tmp-4242-00112233aabbccdd", 120);
  const std::string young = leftover(".tmp-4243-00112233aabbccdd", 0);
  ASSERT_EQ(Mint({"--cache", "-a", "year=2024"}, server.url()).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(young));
  const RunResult cleared = RunChecked({"cache", "clear"}, HomeEnv());
  ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_EQ(cleared.err, "toucan-token: removed 3 cached tokens from " + folder + "\n");
  EXPECT_TRUE(std::filesystem::is_empty(folder));
}

// A signal while the entry is written (delivered by strace as the program enters fsync, so the
// window is hit every time) removes the temporary file before the program exits.
TEST_F(Cache, SignalDuringTheWriteLeavesNoTemporaryFile) {
  if (::access("/usr/bin/strace", X_OK) != 0 ||
      RunTool({"-o", "/dev/null", "true"}, {}, std::nullopt, "/usr/bin/strace").exit_code != 0) {
    GTEST_SKIP() << "strace is not installed or may not trace here";
  }
  TestServer server(TokenReply());
  const std::string folder = home_ + "/.cache/toucan-token";
  for (const char* signal : {"SIGTERM", "SIGINT"}) {
    const RunResult result =
        RunTool({"-f", "-qq", "-o", "/dev/null", "-e", std::string("inject=fsync:signal=") + signal,
                 TOUCAN_TOKEN_BINARY, "-u", "u1", "--cache"},
                HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}}),
                std::nullopt, "/usr/bin/strace");
    EXPECT_EQ(result.exit_code, std::string(signal) == "SIGTERM" ? 143 : 130) << result.err;
    EXPECT_EQ(result.out, "");
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      ADD_FAILURE() << "left in the cache: " << entry.path();
    }
  }
  EXPECT_EQ(server.request_count(), 2u);
}

// `cache clear` removes what the tool wrote (regular files, 0600, owned by the user), nothing
// else that happens to bear an entry's name.
// An entry the tool would not have written (0644 after a copy) is no hit, and is replaced; and
// `cache clear` has no dry run that would remove everything anyway.
TEST_F(Cache, AnEntryNotWrittenByTheToolIsNoHit) {
  TestServer server(TokenReply());
  ASSERT_EQ(Mint({"--cache"}, server.url()).exit_code, 0);
  const std::string entry =
      std::filesystem::directory_iterator(home_ + "/.cache/toucan-token")->path();
  ::chmod(entry.c_str(), 0644);
  EXPECT_NE(Mint({"--cache", "-v"}, server.url()).err.find("cache miss"), std::string::npos);
  EXPECT_EQ(server.request_count(), 2u);
  struct stat info {};
  ASSERT_EQ(::stat(entry.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  const RunResult dry = RunChecked({"cache", "clear", "--dry-run"}, HomeEnv());
  EXPECT_EQ(dry.exit_code, 2);
  ExpectOneErrorLine(dry, "cache clear has no dry run");
  EXPECT_TRUE(std::filesystem::exists(entry));
}

TEST_F(Cache, ClearRemovesOnlyWhatTheToolWrote) {
  const std::string folder = home_ + "/.cache/toucan-token";
  std::filesystem::create_directories(folder);
  ::chmod(folder.c_str(), 0700);
  const std::string hex(64, 'a');
  std::ofstream(folder + "/" + hex) << "{}";
  ::chmod((folder + "/" + hex).c_str(), 0600);
  const std::string readable = folder + "/" + std::string(64, 'b');
  std::ofstream(readable) << "not ours";
  ::chmod(readable.c_str(), 0644);
  const std::string directory = folder + "/" + std::string(64, 'c');
  std::filesystem::create_directory(directory);
  const std::string link = folder + "/" + std::string(64, 'd');
  std::filesystem::create_symlink(readable, link);
  const RunResult cleared = RunChecked({"cache", "clear"}, HomeEnv());
  ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_EQ(cleared.err, "toucan-token: removed 1 cached token from " + folder + "\n");
  EXPECT_FALSE(std::filesystem::exists(folder + "/" + hex));
  EXPECT_TRUE(std::filesystem::exists(readable));
  EXPECT_TRUE(std::filesystem::is_directory(directory));
  EXPECT_TRUE(std::filesystem::is_symlink(link));
}

// A directory in an entry's place: an empty one is replaced by the entry; one with files in it
// is left alone, and the run says so once (not "Is a directory" in --verbose only).
TEST_F(Cache, DirectoryInTheEntrysPlace) {
  TestServer server(TokenReply());
  const std::string folder = home_ + "/.cache/toucan-token";
  ASSERT_EQ(Mint({"--cache"}, server.url()).exit_code, 0);
  const std::string entry = std::filesystem::directory_iterator(folder)->path();
  std::filesystem::remove(entry);
  std::filesystem::create_directory(entry);
  RunResult result =
      RunChecked({"-u", "u1", "-a", "region=EU", "--cache"},
                 HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_TRUE(std::filesystem::is_regular_file(entry));
  EXPECT_NE(Mint({"--cache"}, server.url()).err.find("cache hit"), std::string::npos);
  EXPECT_EQ(server.request_count(), 2u);

  std::filesystem::remove(entry);
  std::filesystem::create_directories(entry + "/kept");
  result = RunChecked({"-u", "u1", "-a", "region=EU", "--cache"},
                      HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "toucan-token: warning: not cached: the cache entry " + entry +
                            " is a directory; remove it\n");
  EXPECT_TRUE(std::filesystem::is_directory(entry + "/kept"));
}

TEST_F(Cache, HitPrintsWhatTheMintPrinted) {
  TestServer server(
      TokenReply(R"("expiresIn":3600,"price":2.50,"big":1e400,"n":[1.10,-0.0,1E5],"s":"\u0085")"));
  const RunResult first = Mint({"--cache"}, server.url());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const RunResult second = Mint({"--cache"}, server.url());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("cache hit"), std::string::npos) << second.err;
  EXPECT_EQ(server.request_count(), 1u);
  const auto without_life = [](std::string line) {
    const std::size_t at = line.find(R"("expiresIn":)");
    return line.erase(at, line.find(',', at) - at);
  };
  EXPECT_NE(first.out.find(R"("price":2.5,"big":null,"n":[1.1,-0.0,100000.0],"s":"\u0085"})"),
            std::string::npos)
      << first.out;
  EXPECT_EQ(without_life(second.out), without_life(first.out));
}

// An entry edited by hand gets the checks a fresh reply gets, with this run's key: a field that
// holds the key prints as ***, and a token that holds it is a miss that the next mint replaces.
TEST_F(Cache, EditedEntryGetsTheChecksOfAFreshReply) {
  TestServer server(TokenReply(R"("expiresIn":3600,"note":"hello")"));
  ASSERT_EQ(Mint({"--cache"}, server.url()).exit_code, 0);
  const std::string folder = home_ + "/.cache/toucan-token";
  const auto edit = [&](const std::string& from, const std::string& to) {
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      std::stringstream whole;
      whole << std::ifstream(entry.path()).rdbuf();
      std::string text = whole.str();
      ASSERT_NE(text.find(from), std::string::npos) << text;
      for (std::size_t at; (at = text.find(from)) != std::string::npos;)
        text.replace(at, from.size(), to);
      std::ofstream(entry.path(), std::ios::trunc) << text;
    }
  };
  edit("hello", kApiKey);
  const RunResult starred = Mint({"--cache"}, server.url());
  ASSERT_EQ(starred.exit_code, 0) << starred.err;
  EXPECT_NE(starred.err.find("cache hit"), std::string::npos) << starred.err;
  EXPECT_NE(starred.out.find(R"("note":"***")"), std::string::npos) << starred.out;
  EXPECT_EQ(server.request_count(), 1u);

  edit(kToken, kApiKey);
  const RunResult refused = Mint({"--cache"}, server.url());
  ASSERT_EQ(refused.exit_code, 0) << refused.err;
  EXPECT_NE(refused.err.find("cache miss: "), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("holds the API key"), std::string::npos) << refused.err;
  EXPECT_EQ(json::parse(refused.out)["token"], kToken);
  EXPECT_EQ(server.request_count(), 2u);
  const RunResult replaced = Mint({"--cache"}, server.url());
  EXPECT_NE(replaced.err.find("cache hit"), std::string::npos) << replaced.err;
  EXPECT_EQ(json::parse(replaced.out)["note"], "hello");
  EXPECT_EQ(server.request_count(), 2u);
}

// A reply with a number beyond a double's range is cached and reprinted as it was printed.
TEST_F(Cache, NumbersBeyondADoubleAreCachedAsPrinted) {
  TestServer server(TokenReply(R"("expiresIn":3600,"x":[1e400,-1e400])"));
  const RunResult first = Mint({"--cache"}, server.url());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const RunResult second = Mint({"--cache"}, server.url());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("cache hit"), std::string::npos) << second.err;
  EXPECT_NE(second.out.find(R"(,"x":[null,null]})"), std::string::npos) << second.out;
  EXPECT_EQ(server.request_count(), 1u);
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

// The token cache is for single mode only. --cache with batch is a usage error before anything is
// read or sent; a profile's `cache = true` does not apply to batch, which mints every line.
TEST_F(Cache, BatchNeverUsesTheCache) {
  TestServer server(TokenPerUser());
  const Env env = HomeEnv({{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", server.url()}});
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"batch", "--cache", "-"},
                                             {"--cache", "batch", "-"},
                                             {"batch", "--cache", "--no-cache"}}) {
    const RunResult result = RunChecked(args, env, "u1\n");
    EXPECT_EQ(result.exit_code, 2) << args[0] << " " << args[1];
    ExpectOneErrorLine(result, "--cache is for single tokens; batch always mints");
  }
  EXPECT_EQ(server.request_count(), 0u);

  WriteConfig("[profile.default]\ncache = true\n");
  for (int run = 1; run <= 2; ++run) {
    const RunResult result = RunChecked({"batch", "-"}, env, "u1\nu1\nu2\n");
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto rows = Rows(result.out);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[1]["token"], "tok-u1");
    EXPECT_EQ(rows[1]["expiresIn"], 3600) << "a full fresh token, not a cached remainder";
  }
  EXPECT_EQ(server.request_count(), 6u) << "the server sees every line of every batch";
  std::error_code error;
  EXPECT_TRUE(std::filesystem::is_empty(home_ + "/.cache/toucan-token", error) || error)
      << "batch wrote cache entries";

  // The profile's cache still applies to single mode.
  ASSERT_EQ(Mint({}, server.url()).exit_code, 0);
  EXPECT_NE(Mint({}, server.url()).err.find("cache hit"), std::string::npos);
  EXPECT_EQ(server.request_count(), 7u);
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

// `config`: each setting and attribute with its source; sends nothing, needs no key, shows none.
TEST_F(Profiles, ConfigSaysWhereEverySettingAndAttributeCameFrom) {
  TestServer server(TokenReply());
  const std::string config = WriteConfig("[profile.prod]\nbase-url = \"" + server.url() +
                                         "\"\napi-key-env = \"PROD_KEY\"\nrole = \"viewer\"\n"
                                         "attributes = { region = \"US\", tier = \"gold\" }\n");
  const std::string attrs = WriteFile("attrs.json", R"({"region": "FR", "year": 2020})");
  const RunResult result =
      RunChecked({"config", "--profile", "prod", "-u", "u1", "--attributes", "@" + attrs, "-a",
                  "region=EU", "--timeout", "2.5"},
                 HomeEnv({{"PROD_KEY", kApiKey}, {"TOUCAN_CA_BUNDLE", "/etc/ssl/ca.pem"}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::map<std::string, json> rows;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    const json row = json::parse(line);
    rows[row.contains("name") ? row["name"].get<std::string>()
                              : "attribute " + row["attribute"].get<std::string>()] = row;
  }
  const std::string in_profile = "profile prod (" + config + ":";
  EXPECT_EQ(rows["config"]["value"], config);
  EXPECT_EQ(rows["profile"]["source"], "flag");
  EXPECT_EQ(rows["base-url"]["source"], in_profile + "2)");
  EXPECT_EQ(rows["url"]["value"], server.url() + "/embed/generate-token");
  EXPECT_EQ(rows["role"]["value"], "viewer");
  EXPECT_EQ(rows["role"]["source"], in_profile + "4)");
  EXPECT_EQ(rows["timeout"]["value"], 2.5);
  EXPECT_EQ(rows["timeout"]["source"], "flag");
  EXPECT_EQ(rows["retries"]["value"], 2);
  EXPECT_EQ(rows["retries"]["source"], "default");
  EXPECT_EQ(rows["cacert"]["source"], "env TOUCAN_CA_BUNDLE");
  EXPECT_EQ(rows["api-key"]["value"], "set");
  EXPECT_EQ(rows["api-key"]["source"], "env PROD_KEY (" + in_profile + "3))");
  EXPECT_EQ(rows["attribute region"]["value"], "EU");
  EXPECT_EQ(rows["attribute region"]["source"], "flag");
  EXPECT_EQ(rows["attribute region"]["overrides"],
            json::array({{{"value", "FR"}, {"source", "--attributes @" + attrs}},
                         {{"value", "US"}, {"source", in_profile + "5)"}}}));
  EXPECT_EQ(rows["attribute tier"]["source"], in_profile + "5)");
  EXPECT_EQ(rows["attribute year"]["source"], "--attributes @" + attrs);
  EXPECT_EQ(rows.size(), 18u) << result.out;
  EXPECT_EQ(server.request_count(), 0u);

  // With a schema, the rows are followed by its verdict, as a mint would give it.
  const std::string schema =
      WriteFile("s.toml", "region = { type = \"string\", enum = [\"EU\"] }\n");
  const RunResult checked =
      RunChecked({"config", "-u", "u1", "--schema", schema, "-a", "region=Eu"}, HomeEnv());
  EXPECT_EQ(checked.exit_code, 2);
  EXPECT_NE(checked.out.find(R"({"attribute":"region","value":"Eu")"), std::string::npos);
  EXPECT_NE(checked.err.find("(did you mean 'EU'?)"), std::string::npos) << checked.err;
  // A schema that passes says so: silence would not tell it was applied.
  const RunResult passed =
      RunChecked({"config", "-u", "u1", "--schema", schema, "-a", "region=EU"}, HomeEnv());
  EXPECT_EQ(passed.exit_code, 0) << passed.err;
  EXPECT_EQ(passed.err, "toucan-token: the schema passes these attributes\n");
  // The profile's key variable is missing: the message says the profile named it.
  const RunResult missing =
      RunChecked({"--profile", "prod", "-u", "u1"}, HomeEnv({{"TOUCAN_API_KEY", kApiKey}}));
  EXPECT_EQ(missing.exit_code, 2);
  ExpectOneErrorLine(missing, "no API key: set PROD_KEY (named by " + in_profile +
                                  "3); TOUCAN_API_KEY is not used with it)");
  // No key anywhere: still works, and says the key is missing.
  const RunResult keyless = RunChecked({"config", "--profile", "prod"}, HomeEnv());
  ASSERT_EQ(keyless.exit_code, 0) << keyless.err;
  EXPECT_NE(keyless.out.find(R"({"name":"api-key","value":"missing")"), std::string::npos);
}

TEST_F(Profiles, DryRunVerboseSaysWhereEverySettingCameFrom) {
  WriteConfig("[profile.default]\nattributes = { region = \"US\" }\n");
  const RunResult result = RunChecked({"-u", "u1", "-a", "region=EU", "--dry-run", "-v"},
                                      HomeEnv({{"TOUCAN_BASE_URL", "https://bi.example.com"}}));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* says :
       {"toucan-token: base-url = https://bi.example.com (env TOUCAN_BASE_URL)\n",
        "toucan-token: profile = default (default)\n", "toucan-token: retries = 2 (default)\n",
        "toucan-token: api-key = missing (env TOUCAN_API_KEY (default))\n",
        "toucan-token: attribute region = \"EU\" (flag; overrides \"US\" from profile default ("}) {
    EXPECT_NE(result.err.find(says), std::string::npos) << says << "\n" << result.err;
  }
  EXPECT_EQ(json::parse(result.out)["body"]["user"]["attributes"],
            json::parse(R"({"region":"EU"})"));
}

}  // namespace
}  // namespace toucan::test
