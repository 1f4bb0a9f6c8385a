// The single-token path: flags, inputs, request sent, output formats, input errors.
#include <fstream>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;
using ordered = nlohmann::ordered_json;

class Cli : public WithTempFiles {};

TEST_F(Cli, MintsATokenAndSendsTheExactRequest) {
  TestServer server(TokenReply(R"("expiresIn":3600,"scope":{"a":1})"));
  const auto before = std::chrono::system_clock::now();
  const RunResult result =
      RunChecked({"--distinct-id", "u1", "-a", "region=EU"}, KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  ASSERT_EQ(result.out.back(), '\n');
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 1);
  const ordered out = ordered::parse(result.out);
  EXPECT_EQ(out["token"], kToken);
  EXPECT_EQ(out["expiresIn"], 3600);
  EXPECT_EQ(out["scope"], json::parse(R"({"a":1})"));
  std::vector<std::string> keys;
  for (const auto& [key, value] : out.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"token", "expiresIn", "expiresAt", "scope"}));
  // expiresAt is the local clock at the reply plus expiresIn.
  std::tm tm{};
  const std::string at = out["expiresAt"];
  ASSERT_NE(strptime(at.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << at;
  const auto expires = std::chrono::system_clock::from_time_t(timegm(&tm));
  EXPECT_GE(expires, before + std::chrono::seconds(3600 - 1));
  EXPECT_LE(expires, std::chrono::system_clock::now() + std::chrono::seconds(3600));

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const RecordedRequest& request = requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/embed/generate-token");
  EXPECT_EQ(request.Header("x-api-key"), kApiKey);
  EXPECT_EQ(request.HeaderCount("x-api-key"), 1u);
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("accept"), "application/json");
  EXPECT_EQ(request.Header("user-agent"), std::string("toucan-token/") + toucan::kVersion);
  EXPECT_EQ(request.HeaderCount("authorization"), 0u);
  EXPECT_EQ(json::parse(request.body),
            json::parse(
                R"({"user":{"distinctId":"u1","role":"explorer","attributes":{"region":"EU"}}})"));
}

TEST_F(Cli, TypedAttributesRoleAndPermissions) {
  TestServer server(TokenReply());
  const std::string permissions = TempFile("perm.json", R"({"dashboards":{"d1":"read"}})");
  const RunResult result = RunChecked(
      {"-u", "u1", "-r", "viewer", "-a", "year:=2024", "-a", "active:=true", "-a",
       R"(groups:=["a","b"])", "-a", "n:=null", "-a", "s=2024", "--permissions", "@" + permissions},
      KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(server.requests().at(0).body), json::parse(R"({
      "user": {"distinctId": "u1", "role": "viewer",
               "attributes": {"year": 2024, "active": true, "groups": ["a","b"], "n": null, "s": "2024"}},
      "permissions": {"dashboards": {"d1": "read"}}})"));
}

TEST_F(Cli, AttributesObjectWithAttributeFlagsOverIt) {
  TestServer server(TokenReply());
  const RunResult result =
      RunChecked({"-u", "u1", "--attributes", R"({"region":"US","tier":"free"})", "-a", "region=EU",
                  "-a", "x=1", "-a", "x:=2"},
                 KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(server.requests().at(0).body)["user"]["attributes"],
            json::parse(R"({"region":"EU","tier":"free","x":2})"));
  EXPECT_FALSE(json::parse(server.requests().at(0).body).contains("permissions"));
}

TEST_F(Cli, AttributesFromFileAndFromStdin) {
  TestServer server(TokenReply());
  const std::string file = TempFile("attrs.json", "{\"team\": \"a\"}\n");
  ASSERT_EQ(RunChecked({"-u", "u1", "--attributes", "@" + file}, KeyAndUrl(server.url())).exit_code,
            0);
  ASSERT_EQ(
      RunChecked({"-u", "u1", "--attributes", "-"}, KeyAndUrl(server.url()), R"({"team":"b"})")
          .exit_code,
      0);
  ASSERT_EQ(RunChecked({"-u", "u1", "--permissions", "-"}, KeyAndUrl(server.url()), R"({"p":true})")
                .exit_code,
            0);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(json::parse(requests[0].body)["user"]["attributes"], json::parse(R"({"team":"a"})"));
  EXPECT_EQ(json::parse(requests[1].body)["user"]["attributes"], json::parse(R"({"team":"b"})"));
  EXPECT_EQ(json::parse(requests[2].body)["permissions"], json::parse(R"({"p":true})"));
}

TEST_F(Cli, UnicodeValuesTravelUnchanged) {
  TestServer server(TokenReply());
  const RunResult result = RunChecked(
      {"-u", "ünïcødé-用户-😀", "-a", "città=Zürich 東京", "--attributes", R"({"emoji":"🎉"})"},
      KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json body = json::parse(server.requests().at(0).body);
  EXPECT_EQ(body["user"]["distinctId"], "ünïcødé-用户-😀");
  EXPECT_EQ(body["user"]["attributes"]["città"], "Zürich 東京");
  EXPECT_EQ(body["user"]["attributes"]["emoji"], "🎉");
}

TEST_F(Cli, OutputFormats) {
  TestServer server(TokenReply());
  const Env env = KeyAndUrl(server.url());
  EXPECT_EQ(RunChecked({"-u", "u1", "-o", "token"}, env).out, std::string(kToken) + "\n");
  EXPECT_EQ(RunChecked({"-u", "u1", "--output", "header"}, env).out,
            std::string("Authorization: Bearer ") + kToken + "\n");
  const RunResult env_out = RunChecked({"-u", "u1", "-o", "env"}, env);
  ASSERT_EQ(env_out.exit_code, 0);
  const std::string prefix = std::string("TOUCAN_TOKEN=") + kToken + "\nTOUCAN_TOKEN_EXPIRES_AT=";
  ASSERT_EQ(env_out.out.rfind(prefix, 0), 0u) << env_out.out;
  const std::string at = env_out.out.substr(prefix.size());
  EXPECT_EQ(at.size(), std::string("2026-11-24T19:38:28Z\n").size()) << at;
  EXPECT_EQ(at.back(), '\n');
  EXPECT_EQ(at[10], 'T');
  EXPECT_EQ(json::parse(RunChecked({"-u", "u1", "-o", "json"}, env).out)["token"], kToken);
}

TEST_F(Cli, EnvOutputEvaluatesInAShell) {
  TestServer server(TokenReply());
  const std::string script =
      std::string("eval \"$(") + TOUCAN_TOKEN_BINARY +
      " -u u1 -o env)\" && printf '%s|%s' \"$TOUCAN_TOKEN\" \"${TOUCAN_TOKEN_EXPIRES_AT:0:4}\"";
  Env env = KeyAndUrl(server.url());
  const RunResult result = RunTool({"-c", script}, env, std::nullopt, "/bin/bash");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.substr(0, result.out.find('|')), kToken);
  EXPECT_EQ(result.out.size(), std::string(kToken).size() + 5);
}

struct ExpiryCase {
  const char* field;
  const char* expires_in;  // as printed, or "null"
};

void PrintTo(const ExpiryCase& c, std::ostream* os) { *os << c.field; }

class Expiry : public ::testing::TestWithParam<ExpiryCase> {};

TEST_P(Expiry, NormalisedToSeconds) {
  TestServer server(TokenReply(GetParam().field));
  const RunResult result = RunChecked({"-u", "u1"}, KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json out = json::parse(result.out);
  EXPECT_EQ(out["expiresIn"].dump(), GetParam().expires_in);
  if (std::string(GetParam().expires_in) == "null") {
    EXPECT_TRUE(out["expiresAt"].is_null());
    EXPECT_NE(result.err.find("warning: the reply has no usable expiresIn"), std::string::npos);
  } else {
    EXPECT_TRUE(out["expiresAt"].is_string());
    EXPECT_EQ(result.err, "");
  }
}

INSTANTIATE_TEST_SUITE_P(Cli, Expiry,
                         ::testing::Values(ExpiryCase{R"("expiresIn":3600)", "3600"},
                                           ExpiryCase{R"("expiresIn":"3600")", "3600"},
                                           ExpiryCase{R"("expiresIn":"1h")", "3600"},
                                           ExpiryCase{R"("expiresIn":"1h30m")", "5400"},
                                           ExpiryCase{R"("expiresIn":"2d")", "172800"},
                                           ExpiryCase{R"("expiresIn":59.9)", "59"},
                                           ExpiryCase{R"("other":1)", "null"},
                                           ExpiryCase{R"("expiresIn":"soon")", "null"},
                                           ExpiryCase{R"("expiresIn":-5)", "null"},
                                           ExpiryCase{R"("expiresIn":null)", "null"}));

// A number beyond a double's range (which the JSON parser refuses outright) must not cost the
// token: in an extra field it prints as null, as expiresIn it is no expiry.
TEST_F(Cli, NumbersBeyondADoubleInTheReplyKeepTheToken) {
  const std::string digits400 = "1" + std::string(399, '0');
  for (const auto& [sent, field] :
       std::vector<std::pair<std::string, std::string>>{{R"("x":1e400)", R"("x":null)"},
                                                        {R"("x":-1e400)", R"("x":null)"},
                                                        {R"("x":[1e400])", R"("x":[null])"},
                                                        {R"("x":{"a":1e400})", R"("x":{"a":null})"},
                                                        {R"("x":)" + digits400, R"("x":null)"}}) {
    SCOPED_TRACE(sent.substr(0, 20));
    TestServer server(TokenReply(R"("expiresIn":3600,)" + sent));
    const RunResult result = RunChecked({"-u", "u1"}, KeyAndUrl(server.url()));
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.err, "");
    const std::string head = std::string(R"({"token":")") + kToken + R"(","expiresIn":3600,)";
    EXPECT_EQ(result.out.rfind(head, 0), 0u) << result.out;
    const std::string tail = "," + field + "}\n";
    ASSERT_GE(result.out.size(), tail.size());
    EXPECT_EQ(result.out.substr(result.out.size() - tail.size()), tail) << result.out;
    EXPECT_EQ(RunChecked({"-u", "u1", "-o", "token"}, KeyAndUrl(server.url())).out,
              std::string(kToken) + "\n");
  }
  TestServer server(TokenReply(R"("expiresIn":1e400,"x":-1e400)"));
  const RunResult result = RunChecked({"-u", "u1"}, KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, std::string(R"({"token":")") + kToken +
                            R"(","expiresIn":null,"expiresAt":null,"x":null})" + "\n");
  EXPECT_NE(result.err.find("warning: the reply has no usable expiresIn"), std::string::npos);
}

TEST_F(Cli, EnvOutputWithoutExpiryLeavesItEmpty) {
  TestServer server(TokenReply(R"("x":1)"));
  const RunResult result = RunChecked({"-u", "u1", "-o", "env"}, KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, std::string("TOUCAN_TOKEN=") + kToken + "\nTOUCAN_TOKEN_EXPIRES_AT=\n");
}

TEST_F(Cli, OurFieldsWinOverTheServersOfTheSameName) {
  TestServer server(Reply(200, R"({"expiresAt":"server","token":"t1","expiresIn":"1m","z":0})"));
  const ordered out = ordered::parse(RunChecked({"-u", "u1"}, KeyAndUrl(server.url())).out);
  EXPECT_EQ(out["token"], "t1");
  EXPECT_EQ(out["expiresIn"], 60);
  EXPECT_NE(out["expiresAt"], "server");
  EXPECT_EQ(out.size(), 4u);
}

TEST_F(Cli, BaseUrlPrefixAndEndpointPath) {
  TestServer server(TokenReply());
  Env env{{"TOUCAN_API_KEY", kApiKey}};
  ASSERT_EQ(RunChecked({"-u", "u", "--base-url", server.url() + "/toucan/"}, env).exit_code, 0);
  ASSERT_EQ(RunChecked({"-u", "u", "--base-url", server.url() + "/toucan", "--endpoint-path",
                        "/api/generate-token"},
                       env)
                .exit_code,
            0);
  ASSERT_EQ(
      RunChecked({"-u", "u", "--base-url", server.url(), "--endpoint-path", "api/generate-token"},
                 env)
          .exit_code,
      0);
  const auto requests = server.requests();
  EXPECT_EQ(requests.at(0).path, "/toucan/embed/generate-token");
  EXPECT_EQ(requests.at(1).path, "/toucan/api/generate-token");
  EXPECT_EQ(requests.at(2).path, "/api/generate-token");
}

TEST_F(Cli, BaseUrlFlagWinsOverEnvironment) {
  TestServer server(TokenReply());
  Env env = KeyAndUrl("https://unused.invalid");
  ASSERT_EQ(RunChecked({"-u", "u", "--base-url", server.url()}, env).exit_code, 0);
  EXPECT_EQ(server.request_count(), 1u);
}

TEST_F(Cli, ApiKeySources) {
  TestServer server(TokenReply());
  const std::string file =
      TempFile("key", std::string("  ") + kApiKey + "  \nsecond line ignored\n");
  // --api-key-env
  ASSERT_EQ(RunChecked({"-u", "u", "--base-url", server.url(), "--api-key-env", "MY_KEY"},
                       {{"MY_KEY", std::string(" ") + kApiKey + "\n"}})
                .exit_code,
            0);
  // --api-key-file wins over the variable; a file others may read is used, with a warning
  ::chmod(file.c_str(), 0644);
  const Env env{{"TOUCAN_API_KEY", "wrong"}, {"TOUCAN_BASE_URL", server.url()}};
  const RunResult open = RunChecked({"-u", "u", "--api-key-file", file}, env);
  ASSERT_EQ(open.exit_code, 0) << open.err;
  EXPECT_EQ(open.err, "toucan-token: warning: the API key file '" + file +
                          "' is open to others; run: chmod 600 '" + file + "'\n");
  ::chmod(file.c_str(), 0600);
  EXPECT_EQ(RunChecked({"-u", "u", "--api-key-file", file}, env).err, "");
  // --api-key-file - reads standard input
  ASSERT_EQ(RunChecked({"-u", "u", "--api-key-file", "-", "--base-url", server.url()}, {},
                       std::string(kApiKey) + "\n")
                .exit_code,
            0);
  for (const auto& request : server.requests()) EXPECT_EQ(request.Header("x-api-key"), kApiKey);
  EXPECT_EQ(server.request_count(), 4u);
}

TEST_F(Cli, DryRunSendsNothingAndNeedsNoKey) {
  TestServer server(TokenReply());
  const RunResult result =
      RunChecked({"-u", "u1", "-a", "region=EU", "--permissions", R"({"p":1})", "--dry-run"},
                 {{"TOUCAN_BASE_URL", server.url() + "/t"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(json::parse(result.out),
            json::parse(R"({"method":"POST","url":")" + server.url() +
                        R"(/t/embed/generate-token","headers":{"x-api-key":"***",
      "Content-Type":"application/json","Accept":"application/json","User-Agent":"toucan-token/)" +
                        toucan::kVersion + R"("},
      "body":{"user":{"distinctId":"u1","role":"explorer","attributes":{"region":"EU"}},"permissions":{"p":1}}})"));
  // With a key set, it is still only ***.
  const RunResult with_key = RunChecked({"-u", "u1", "--dry-run"}, KeyAndUrl(server.url()));
  ASSERT_EQ(with_key.exit_code, 0);
  EXPECT_EQ(json::parse(with_key.out)["headers"]["x-api-key"], "***");
  EXPECT_EQ(server.request_count(), 0u);
}

TEST_F(Cli, VersionAndHelp) {
  const RunResult version = RunChecked({"--version"}, {});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.substr(0, version.out.find('\n') + 1),
            std::string("toucan-token ") + toucan::kVersion + "\n");
  for (const char* says : {"\nlibcurl ", "\nTLS: ", "\nHTTP/2: "}) {
    EXPECT_NE(version.out.find(says), std::string::npos) << says << "\n" << version.out;
  }
  const RunResult help = RunChecked({"--help"}, {});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* says :
       {"--distinct-id", "--attribute", "--attributes", "--permissions", "--base-url",
        "--endpoint-path", "--api-key-env", "--api-key-file", "--output", "--timeout",
        "--connect-timeout", "--retries", "--cacert", "--dry-run", "--verbose",
        "Exit status:", "toucan-token -u u1 -a region=EU", "batch"}) {
    EXPECT_NE(help.out.find(says), std::string::npos) << says;
  }
}

// Each subcommand's help is about it, and a usage error points at the help that lists the option.
TEST_F(Cli, SubcommandHelpAndErrorsPointAtTheRightHelp) {
  const RunResult batch = RunChecked({"batch", "--help"}, {});
  EXPECT_EQ(batch.exit_code, 0);
  EXPECT_NE(batch.out.find("every line's defaults"), std::string::npos) << batch.out;
  const RunResult profiles = RunChecked({"profiles", "--help"}, {});
  EXPECT_EQ(profiles.exit_code, 0);
  EXPECT_EQ(profiles.out.find("token printed"), std::string::npos) << profiles.out;
  const RunResult concurrency = RunChecked({"batch", "--concurrency", "0"}, {});
  EXPECT_EQ(concurrency.exit_code, 2);
  ExpectOneErrorLine(concurrency, "(see toucan-token batch --help)");
  const RunResult cache = RunChecked({"cache", "bogus"}, {});
  EXPECT_EQ(cache.exit_code, 2);
  ExpectOneErrorLine(cache, "unknown cache command 'bogus': the only one is clear");
}

TEST_F(Cli, UnsafeTokenIsABadResponse) {
  TestServer spaced(Reply(200, R"({"token":"has space","expiresIn":1})"));
  const RunResult result = RunChecked({"-u", "u1"}, KeyAndUrl(spaced.url()));
  EXPECT_EQ(result.exit_code, 7);
  ExpectOneErrorLine(result, "printable ASCII");
  // Printable, but not fit for eval: refused for -o env only.
  TestServer shell(Reply(200, R"J({"token":"$(touch${IFS}x)","expiresIn":1})J"));
  EXPECT_EQ(RunChecked({"-u", "u1", "-o", "env"}, KeyAndUrl(shell.url())).exit_code, 7);
  EXPECT_EQ(RunChecked({"-u", "u1", "-o", "token"}, KeyAndUrl(shell.url())).out,
            "$(touch${IFS}x)\n");
}

// ---- input errors: exit 2, one line on stderr, nothing on stdout, nothing sent --------------

struct InputErrorCase {
  const char* name;
  std::vector<std::string> args;
  Env env;
  std::optional<std::string> stdin_data;
  const char* says;
};

void PrintTo(const InputErrorCase& c, std::ostream* os) { *os << c.name; }

class InputError : public ::testing::TestWithParam<InputErrorCase> {};

TEST_P(InputError, ExitsTwoAndSendsNothing) {
  TestServer server(TokenReply());
  const InputErrorCase& c = GetParam();
  Env env = c.env;
  for (auto& [name, value] : env) {
    if (value == "@URL") value = server.url();
  }
  std::vector<std::string> args = c.args;
  for (auto& arg : args) {
    if (arg == "@URL") arg = server.url();
  }
  const RunResult result = RunChecked(args, env, c.stdin_data);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  ExpectOneErrorLine(result, c.says);
  EXPECT_EQ(server.request_count(), 0u);
}

const Env kGood{{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", "@URL"}};
Env With(Env env, const std::string& name, const std::string& value) {
  env[name] = value;
  return env;
}

INSTANTIATE_TEST_SUITE_P(
    Cli, InputError,
    ::testing::Values(
        InputErrorCase{"MissingDistinctId", {"-a", "x=1"}, kGood, {}, "--distinct-id is required"},
        InputErrorCase{"EmptyDistinctId", {"-u", ""}, kGood, {}, "distinct id must not be empty"},
        InputErrorCase{"BlankDistinctId", {"-u", " \t"}, kGood, {}, "must not be empty or blank"},
        InputErrorCase{"BlankRole", {"-u", "u1", "-r", "  "}, kGood, {}, "role must not be empty"},
        InputErrorCase{"EmptyRole", {"-u", "u", "-r", ""}, kGood, {}, "role must not be empty"},
        InputErrorCase{
            "AttributeWithoutEquals", {"-u", "u", "-a", "region"}, kGood, {}, "KEY=VALUE"},
        InputErrorCase{"AttributeEmptyKey", {"-u", "u", "-a", "=EU"}, kGood, {}, "empty key"},
        InputErrorCase{
            "AttributeBadTypedJson", {"-u", "u", "-a", "n:=[1,"}, kGood, {}, "line 1, column"},
        InputErrorCase{"AttributesBadJson",
                       {"-u", "u", "--attributes", "{\"a\":1,}"},
                       kGood,
                       {},
                       "not valid JSON"},
        InputErrorCase{"AttributesNotObject",
                       {"-u", "u", "--attributes", "[1]"},
                       kGood,
                       {},
                       "must be a JSON object"},
        InputErrorCase{"AttributesEmptyKey",
                       {"-u", "u", "--attributes", R"({"":1})"},
                       kGood,
                       {},
                       "must not be empty"},
        InputErrorCase{"PermissionsNotObject",
                       {"-u", "u", "--permissions", "\"all\""},
                       kGood,
                       {},
                       "must be a JSON object"},
        InputErrorCase{
            "PermissionsBadJson", {"-u", "u", "--permissions", "{"}, kGood, {}, "not valid JSON"},
        InputErrorCase{"UnreadableAttributesFile",
                       {"-u", "u", "--attributes", "@/nonexistent/a.json"},
                       kGood,
                       {},
                       "cannot read"},
        InputErrorCase{"UnreadablePermissionsFile",
                       {"-u", "u", "--permissions", "@/nonexistent/p.json"},
                       kGood,
                       {},
                       "cannot read"},
        InputErrorCase{"AttributesFileIsADirectory",
                       {"-u", "u", "--attributes", "@/"},
                       kGood,
                       {},
                       "--attributes"},
        InputErrorCase{"UnreadableKeyFile",
                       {"-u", "u", "--api-key-file", "/nonexistent/key"},
                       kGood,
                       {},
                       "cannot read"},
        InputErrorCase{"DistinctIdNotUtf8", {"-u", "caf\xc3"}, kGood, {}, "not valid UTF-8"},
        InputErrorCase{
            "AttributeNotUtf8", {"-u", "u", "-a", "k=\xff"}, kGood, {}, "not valid UTF-8"},
        InputErrorCase{"AttributesStdinNotUtf8",
                       {"-u", "u", "--attributes", "-"},
                       kGood,
                       "{\"k\":\"\xc0\xaf\"}",
                       "not valid UTF-8"},
        InputErrorCase{"UnknownOutput", {"-u", "u", "-o", "yaml"}, kGood, {}, "--output"},
        InputErrorCase{"UnknownFlag", {"-u", "u", "--api-key", "x"}, kGood, {}, "--api-key"},
        InputErrorCase{"ZeroTimeout", {"-u", "u", "--timeout", "0"}, kGood, {}, "--timeout"},
        InputErrorCase{"NegativeConnectTimeout",
                       {"-u", "u", "--connect-timeout", "-1"},
                       kGood,
                       {},
                       "--connect-timeout"},
        InputErrorCase{
            "RetriesNotANumber", {"-u", "u", "--retries", "many"}, kGood, {}, "--retries"},
        InputErrorCase{"MissingKey",
                       {"-u", "u"},
                       {{"TOUCAN_BASE_URL", "@URL"}},
                       {},
                       "no API key: set TOUCAN_API_KEY"},
        InputErrorCase{
            "MissingKeyOtherVariable", {"-u", "u", "--api-key-env", "MINE"}, kGood, {}, "set MINE"},
        InputErrorCase{"BadKeyVariableName",
                       {"-u", "u", "--api-key-env", "1-BAD"},
                       kGood,
                       {},
                       "not an environment variable name"},
        InputErrorCase{"BlankKeyIsUnset",
                       {"-u", "u"},
                       With(kGood, "TOUCAN_API_KEY", "  "),
                       {},
                       "no API key: TOUCAN_API_KEY is empty (in CI, a secret this job cannot "
                       "see?): set it (or use --api-key-file)"},
        InputErrorCase{"KeyInQuotes",
                       {"-u", "u"},
                       With(kGood, "TOUCAN_API_KEY", "\"tk_test_Zq8VwS3cr3tKey\""),
                       {},
                       "is wrapped in quotes; give the key without them"},
        InputErrorCase{"KeyAsADotenvLine",
                       {"-u", "u"},
                       With(kGood, "TOUCAN_API_KEY", "TOUCAN_API_KEY=tk_test_Zq8VwS3cr3tKey"),
                       {},
                       "starts with a variable name and '='; give the key alone"},
        InputErrorCase{"KeyWithInnerSpace",
                       {"-u", "u"},
                       With(kGood, "TOUCAN_API_KEY", "tk_test_Zq8VwS3cr3t Key"),
                       {},
                       "whitespace"},
        InputErrorCase{"KeyWithControlCharacter",
                       {"-u", "u"},
                       With(kGood, "TOUCAN_API_KEY", "tk\r\nX-Evil: 1"),
                       {},
                       "control character"},
        InputErrorCase{"KeyNonAscii",
                       {"-u", "u"},
                       With(kGood, "TOUCAN_API_KEY", "tk_cl\xc3\xa9"),
                       {},
                       "non-ASCII"},
        InputErrorCase{"EmptyKeyFile", {"-u", "u", "--api-key-file", "-"}, kGood, "\n", "is empty"},
        InputErrorCase{"PlainHttpRemote",
                       {"-u", "u", "--base-url", "http://toucan.example.com"},
                       kGood,
                       {},
                       "not loopback"},
        InputErrorCase{"PlainHttpRemoteDryRun",
                       {"-u", "u", "--dry-run", "--base-url", "http://10.1.2.3"},
                       {},
                       {},
                       "not loopback"},
        InputErrorCase{"UrlDoesNotParse",
                       {"-u", "u", "--base-url", "https://exa mple.com"},
                       kGood,
                       {},
                       "does not parse"},
        InputErrorCase{"UrlWithoutScheme",
                       {"-u", "u", "--base-url", "toucanai.cloud"},
                       kGood,
                       {},
                       "no scheme"},
        InputErrorCase{
            "UrlOtherScheme", {"-u", "u", "--base-url", "ftp://x.example"}, kGood, {}, "https://"},
        InputErrorCase{"EnvUrlDoesNotParse",
                       {"-u", "u"},
                       With(kGood, "TOUCAN_BASE_URL", "https://"),
                       {},
                       "base URL"},
        InputErrorCase{"StdinTwice",
                       {"-u", "u", "--attributes", "-", "--permissions", "-"},
                       kGood,
                       "{}",
                       "standard input is named by both"},
        InputErrorCase{"StdinTwiceWithKey",
                       {"-u", "u", "--attributes", "-", "--api-key-file", "-"},
                       kGood,
                       "{}",
                       "only one input"},
        InputErrorCase{"UnreadableCaBundle",
                       {"-u", "u", "--cacert", "/nonexistent/ca.pem"},
                       kGood,
                       {},
                       "CA bundle"},
        InputErrorCase{"UnreadableCaBundleEnv",
                       {"-u", "u"},
                       With(kGood, "TOUCAN_CA_BUNDLE", "/nonexistent/ca.pem"),
                       {},
                       "CA bundle"}),
    [](const auto& test_case) { return std::string(test_case.param.name); });

}  // namespace
}  // namespace toucan::test
