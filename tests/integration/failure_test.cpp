// Every way the network and the server can fail: exit code, message, and what the server saw.
#include <poll.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;

// Answers with the given replies in turn, then repeats the last one.
Handler Sequence(std::vector<Handler> replies) {
  auto shared = std::make_shared<std::vector<Handler>>(std::move(replies));
  return [shared](const httplib::Request& request, httplib::Response& response, int index) {
    const auto last = static_cast<int>(shared->size()) - 1;
    (*shared)[static_cast<std::size_t>(std::min(index, last))](request, response, index);
  };
}

TEST(Failure, Unauthorized401) {
  TestServer server(Reply(401, R"({"message":"Invalid API key"})"));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 3);
  ExpectOneErrorLine(result,
                     "credentials rejected (HTTP 401: \"Invalid API key\"): check TOUCAN_API_KEY");
  EXPECT_NE(result.err.find("belongs to the instance at 127.0.0.1:"), std::string::npos);
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Failure, Forbidden403NamesTheKeySourceUsed) {
  TestServer server(Reply(403, R"({"error":"forbidden"})"));
  const RunResult result = Mint(server.url(), {"--api-key-env", "OTHER"}, {{"OTHER", kApiKey}});
  EXPECT_EQ(result.exit_code, 3);
  ExpectOneErrorLine(result, "HTTP 403: \"forbidden\"): check OTHER");
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Failure, BadRequest400QuotesTheServer) {
  TestServer server(Reply(400, R"({"message":"role must be one of: explorer"})"));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 4);
  ExpectOneErrorLine(result, "request rejected (HTTP 400: \"role must be one of: explorer\")");
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Failure, NotFound404HtmlPointsAtTheUrl) {
  TestServer server(Reply(404,
                          "<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
                          "<body><h1>Not Found</h1></body></html>",
                          "text/html"));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 4);
  ExpectOneErrorLine(result, "HTTP 404: \"404 Not Found\"): check --base-url and --endpoint-path");
  EXPECT_EQ(result.err.find("<title>"), std::string::npos);
}

TEST(Failure, OtherClientErrorsAreRejections) {
  TestServer server(Reply(422, "unprocessable", "text/plain"));
  EXPECT_EQ(Mint(server.url()).exit_code, 4);
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Failure, ServerError500IsNotRetried) {
  TestServer server(Reply(500, R"({"message":"boom"})"));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 5);
  ExpectOneErrorLine(result, "server error (HTTP 500: \"boom\")");
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Failure, RateLimitedWithLongRetryAfterStopsAtOnce) {
  TestServer server(
      Reply(429, R"({"message":"quota exceeded"})", "application/json", {{"Retry-After", "3600"}}));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 5);
  ExpectOneErrorLine(result,
                     "retry after 3600 s, more than the 60 s this tool waits; try again at 20");
  EXPECT_EQ(server.request_count(), 1u);
  EXPECT_LT(result.seconds, 20.0);
}

TEST(Failure, ServiceUnavailableTwiceThenSuccess) {
  TestServer server(
      // Retry-After: 0 keeps the test from sleeping through real backoffs (they are unit-tested).
      Sequence({Reply(503, "busy", "text/plain", {{"Retry-After", "0"}}),
                Reply(503, "busy", "text/plain", {{"Retry-After", "0"}}), TokenReply()}));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["token"], kToken);
  EXPECT_EQ(server.request_count(), 3u);
  const auto requests = server.requests();
  for (const auto& request : requests) EXPECT_EQ(request.body, requests[0].body);
}

TEST(Failure, AlwaysUnavailableUsesEveryRetry) {
  for (const int status : {502, 503, 504}) {
    TestServer server(Reply(status, "down", "text/plain", {{"Retry-After", "0"}}));
    const RunResult result = Mint(server.url(), {"--retries", "2"});
    EXPECT_EQ(result.exit_code, 5) << status;
    ExpectOneErrorLine(result, "after 3 attempts");
    EXPECT_EQ(server.request_count(), 3u) << status;
  }
  TestServer none(Reply(503, "down", "text/plain"));
  EXPECT_EQ(Mint(none.url(), {"--retries", "0"}).exit_code, 5);
  EXPECT_EQ(none.request_count(), 1u);
}

TEST(Failure, RateLimitedRetryAfterIsWaitedOut) {
  TestServer server(
      Sequence({Reply(429, "slow down", "text/plain", {{"Retry-After", "1"}}), TokenReply()}));
  const RunResult result = Mint(server.url(), {"-v"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(server.request_count(), 2u);
  EXPECT_GE(result.seconds, 0.95);
  EXPECT_NE(result.err.find("in 1.000 s (Retry-After)"), std::string::npos) << result.err;
}

// The date form of Retry-After reaches the policy (whose arithmetic the unit tests walk with a
// fixed clock): a date past the 60 s cap stops at once, so no test waits for a date to come.
TEST(Failure, RetryAfterBeyondAMinuteAsDate) {
  TestServer server(
      Reply(503, "", "text/plain", {{"Retry-After", "Wed, 21 Oct 2099 07:28:00 GMT"}}));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 5);
  ExpectOneErrorLine(result, "try again at 2099-10-21T07:28:00Z");
  EXPECT_EQ(server.request_count(), 1u);
}

struct BadReplyCase {
  const char* name;
  std::string body;
  const char* says;
};
void PrintTo(const BadReplyCase& c, std::ostream* os) { *os << c.name; }

class BadReply : public ::testing::TestWithParam<BadReplyCase> {};

TEST_P(BadReply, ExitsSeven) {
  TestServer server(Reply(200, GetParam().body));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 7);
  ExpectOneErrorLine(result, GetParam().says);
  EXPECT_EQ(server.request_count(), 1u);  // not retried
}

INSTANTIATE_TEST_SUITE_P(
    Failure, BadReply,
    ::testing::Values(
        BadReplyCase{"Garbage", "\x01\x02garbage<>", "not JSON (it starts: \\x01\\x02garbage"},
        BadReplyCase{"Empty", "", "not JSON"},
        BadReplyCase{"NumberToken", R"({"token":123,"expiresIn":3600})", "\"token\" is a number"},
        BadReplyCase{"NoToken", R"({"jwt":"x"})", "no \"token\" field"},
        BadReplyCase{"Array", R"([{"token":"x"}])", "is a JSON array"},
        BadReplyCase{"TwoMiB", "{\"token\":\"" + std::string(2 * 1024 * 1024, 'a') + "\"}",
                     "larger than 1 MiB"},
        BadReplyCase{"InvalidUtf8", "{\"token\":\"a\",\"x\":\"\xff\"}", "not JSON"},
        BadReplyCase{"NulThenGarbage", std::string(R"({"token":"a"})") + '\0' + "garbage",
                     "not JSON"}),
    [](const auto& test_case) { return std::string(test_case.param.name); });

TEST(Failure, ChunkedReplyOverTheCapIsCut) {
  TestServer server([](const httplib::Request&, httplib::Response& response, int) {
    response.set_chunked_content_provider("application/json",
                                          [](std::size_t offset, httplib::DataSink& sink) {
                                            if (offset == 0) sink.write("{\"token\":\"", 10);
                                            const std::string chunk(64 * 1024, 'a');
                                            if (offset < 3 * 1024 * 1024)
                                              return sink.write(chunk.data(), chunk.size());
                                            sink.done();
                                            return true;
                                          });
  });
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 7);
  ExpectOneErrorLine(result, "larger than 1 MiB");
}

TEST(Failure, ErrorBodyIsEscapedAndCapped) {
  TestServer server(Reply(400, "bad\x1b[31m\r\ninput " + std::string(5000, 'x'), "text/plain"));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 4);
  ExpectOneErrorLine(result, "bad\\x1b[31m\\r\\ninput xxx");
  EXPECT_LT(result.err.size(), 600u);
  EXPECT_EQ(result.err.find('\x1b'), std::string::npos);
}

TEST(Failure, ServerEchoingTheKeyIsRedacted) {
  TestServer server(Reply(401, std::string(R"({"message":"key )") + kApiKey + R"( is revoked"})"));
  const RunResult result = Mint(server.url());  // RunChecked asserts the key is absent
  EXPECT_EQ(result.exit_code, 3);
  ExpectOneErrorLine(result, "key *** is revoked");
}

TEST(Failure, HangingServerTimesOut) {
  std::unique_ptr<TestServer> server;
  server = std::make_unique<TestServer>(
      [&](const httplib::Request&, httplib::Response&, int) { server->WaitForRelease(); });
  const RunResult result = Mint(server->url(), {"--timeout", "1", "--retries", "0"});
  EXPECT_EQ(result.exit_code, 6);
  ExpectOneErrorLine(result, "timed out talking to 127.0.0.1:");
  EXPECT_GE(result.seconds, 0.9);
  EXPECT_LT(result.seconds, 10.0);  // the limit plus a generous margin for a loaded machine
  EXPECT_EQ(server->request_count(), 1u);
}

TEST(Failure, TimeoutsAreRetried) {
  std::unique_ptr<TestServer> server;
  server = std::make_unique<TestServer>(
      [&](const httplib::Request&, httplib::Response&, int) { server->WaitForRelease(); });
  const RunResult result = Mint(server->url(), {"--timeout", "0.5", "--retries", "1"});
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_EQ(server->request_count(), 2u);
  EXPECT_LT(result.seconds, 15.0);
}

TEST(Failure, RedirectIsNotFollowed) {
  TestServer elsewhere(TokenReply());
  TestServer server(Reply(307, "", "text/plain", {{"Location", elsewhere.url() + "/steal"}}));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 4);
  ExpectOneErrorLine(result, "redirecting to '" + elsewhere.url() + "/steal'");
  EXPECT_NE(result.err.find("--base-url"), std::string::npos);
  EXPECT_EQ(server.request_count(), 1u);
  EXPECT_EQ(elsewhere.request_count(), 0u);
}

TEST(Failure, ConnectionRefused) {
  ClosedPortHolder closed;
  const RunResult result = Mint(closed.url(), {"--retries", "0"});
  EXPECT_EQ(result.exit_code, 6);
  ExpectOneErrorLine(result, "could not connect to 127.0.0.1:");
  EXPECT_NE(result.err.find("check --base-url"), std::string::npos);
}

TEST(Failure, ConnectionRefusedIsRetried) {
  ClosedPortHolder closed;
  const RunResult result =
      RunChecked({"-u", "u1", "-v", "--retries", "2"}, KeyAndUrl(closed.url()));
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_NE(result.err.find("attempt 3 of 3"), std::string::npos) << result.err;
}

TEST(Failure, ProxiesComeFromTheEnvironment) {
  // A remote host goes through the proxy of the environment (here one that is down; the name
  // is never resolved locally, so no DNS is needed).
  ClosedPortHolder dead;
  const std::string dead_proxy = "http://127.0.0.1:" + std::to_string(dead.port());
  const RunResult remote =
      Mint("https://toucan.invalid", {"--retries", "0"}, {{"HTTPS_PROXY", dead_proxy}});
  EXPECT_EQ(remote.exit_code, 6);
  EXPECT_NE(remote.err.find("could not connect"), std::string::npos) << remote.err;
}

// A proxy setting libcurl cannot use is the user's to fix, at once (exit 2, not retried, not
// blamed on --base-url), and its password is shown in no message and no batch row.
TEST(Failure, MalformedProxySettingIsAUsageErrorWithoutItsPassword) {
  ClosedPortHolder dead;
  const std::string port = std::to_string(dead.port());
  for (const auto& [variable, proxy] : std::vector<std::pair<std::string, std::string>>{
           {"HTTPS_PROXY", "http://puser:PASS@127.0.0.1:99999"},
           {"https_proxy", "gopher://u:PASS@127.0.0.1:" + port},
           {"ALL_PROXY", "http://puser:PASS@127.0.0.1:99999"},
           // Characters that end a URL's authority, inside the password.
           {"HTTPS_PROXY", "http://user:pa?PASS@127.0.0.1:1"},
           {"HTTPS_PROXY", "http://user:pa#PASS@127.0.0.1:1"},
           {"HTTPS_PROXY", "http://user:pa PASS@127.0.0.1:1"},
           {"HTTPS_PROXY", "http://user:pa\tPASS@127.0.0.1:1"}}) {
    const Env env{{"TOUCAN_API_KEY", kApiKey}, {variable, proxy}};
    const std::vector<std::string> url{"--base-url", "https://bi.example.com", "--verbose"};
    std::vector<std::string> single{"-u", "u1"};
    single.insert(single.end(), url.begin(), url.end());
    std::vector<std::string> batch{"batch"};
    batch.insert(batch.end(), url.begin(), url.end());
    for (const auto& [args, input] :
         std::vector<std::pair<std::vector<std::string>, std::optional<std::string>>>{
             {single, std::nullopt}, {batch, std::string("u1\nu2\n")}}) {
      const RunResult result = RunChecked(args, env, input);
      EXPECT_EQ(result.exit_code, 2) << variable << ": " << result.err;
      EXPECT_EQ(result.out.find("PASS"), std::string::npos) << result.out;
      EXPECT_EQ(result.err.find("PASS"), std::string::npos) << result.err;
      EXPECT_NE(result.err.find(variable + " is not a usable proxy URL"), std::string::npos)
          << result.err;
      EXPECT_NE(result.err.find("://***@127.0.0.1"), std::string::npos) << result.err;
      EXPECT_EQ(result.err.find("--base-url"), std::string::npos) << result.err;
      EXPECT_EQ(result.err.find("retrying"), std::string::npos) << result.err;
      if (input) {
        EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 2) << result.out;
        EXPECT_NE(result.out.find(variable + " is not a usable proxy URL"), std::string::npos)
            << result.out;
      }
    }
  }
}

TEST(Failure, LoopbackIsNeverReachedThroughAProxy) {
  // A plain-http proxy would carry the key across the network in clear.
  TestServer server(TokenReply());
  ClosedPortHolder dead;
  const std::string dead_proxy = "http://127.0.0.1:" + std::to_string(dead.port());
  const Env proxies{{"ALL_PROXY", dead_proxy},
                    {"all_proxy", dead_proxy},
                    {"http_proxy", dead_proxy},
                    {"HTTPS_PROXY", dead_proxy},
                    {"https_proxy", dead_proxy}};
  EXPECT_EQ(Mint(server.url(), {}, proxies).exit_code, 0);
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Failure, VerboseShowsProgressButNoSecret) {
  TestServer server(Sequence({Reply(503, "busy", "text/plain"), TokenReply()}));
  const RunResult result = Mint(server.url(), {"-v"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* says :
       {"POST ", "/embed/generate-token (request 1, attempt 1 of 3)", "\"x-api-key\":\"***\"",
        "request body: {\"user\"", "attempt 1: HTTP 503 after ", "retrying request 1 in ",
        "attempt 2: HTTP 200 after "}) {
    EXPECT_NE(result.err.find(says), std::string::npos) << says << "\n" << result.err;
  }
  EXPECT_EQ(result.err.find(kToken), std::string::npos) << "the token belongs on stdout only";
}

// ---- TLS with a private test CA -------------------------------------------------------------

TestServer::Tls ServerCert() { return {Certs("server.pem"), Certs("server.key"), ""}; }

TEST(Tls, UntrustedWithoutCacert) {
  TestServer server(TokenReply(), ServerCert());
  const RunResult result = Mint(server.url(), {"-v"});
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_NE(result.err.find("issuer this machine does not trust"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("with --cacert (or TOUCAN_CA_BUNDLE)"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("attempt 2"), std::string::npos) << "TLS failures are not retried";
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Tls, TrustedWithCacert) {
  TestServer server(TokenReply(), ServerCert());
  const RunResult result = Mint(server.url(), {"--cacert", Certs("ca.pem")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["token"], kToken);
  EXPECT_EQ(server.requests().at(0).Header("x-api-key"), kApiKey);
}

TEST(Tls, TrustedWithCaBundleVariableAndLocalhostName) {
  TestServer server(TokenReply(), ServerCert());
  const std::string url = "https://localhost:" + std::to_string(server.port());
  const RunResult result = Mint(url, {}, {{"TOUCAN_CA_BUNDLE", Certs("ca.pem")}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
}

// Runs the tool in a private mount namespace whose /etc/ssl/certs (libcurl's built-in CA file
// and folder) trusts only the test CA, so a test can tell "the bundle replaces the system store"
// from "the bundle adds to it". Needs root (or user namespaces) for unshare and mount.
RunResult MintWithTestCaAsSystemStore(const std::string& url, const std::vector<std::string>& args,
                                      const Env& env = {}) {
  const std::string script = R"(set -e
store=$WORK/store; other=$WORK/other
rm -rf "$WORK"; mkdir -p "$store" "$other"
cp "$CA" "$store/ca-certificates.crt"
cp "$CA" "$store/$(openssl x509 -hash -noout -in "$CA").0"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-ca \
  -days 2 -keyout "$other/key.pem" -out "$other/ca.pem" 2>/dev/null
mount --bind "$store" /etc/ssl/certs
case "$MODE" in
  flag) set -- "$@" --cacert "$other/ca.pem" ;;
  env) TOUCAN_CA_BUNDLE=$other/ca.pem; export TOUCAN_CA_BUNDLE ;;
esac
exec "$@")";
  std::vector<std::string> argv{"-m", "/bin/sh",           "-c", script,
                                "sh", TOUCAN_TOKEN_BINARY, "-u", "u1"};
  argv.insert(argv.end(), args.begin(), args.end());
  Env full = KeyAndUrl(url);
  full["CA"] = Certs("ca.pem");
  const std::string work = ::testing::TempDir() + "toucan-store-" + std::to_string(::getpid());
  full["WORK"] = work;
  for (const auto& [name, value] : env) full[name] = value;
  RunResult result = RunTool(argv, full, std::nullopt, "/usr/bin/unshare");
  std::filesystem::remove_all(work);
  EXPECT_EQ(key_forms::FindKeyForm(result.out + result.err, kApiKey), std::nullopt);
  return result;
}

TEST(Tls, CacertReplacesTheSystemStore) {
  if (RunTool({"-m", "mount", "--bind", "/tmp", "/mnt"}, {}, std::nullopt, "/usr/bin/unshare")
          .exit_code != 0) {
    GTEST_SKIP() << "needs unshare -m and mount (root): cannot stand in for the system store";
  }
  TestServer server(TokenReply(), ServerCert());
  // Without a bundle, the (stand-in) system store trusts the server: the setup works.
  const RunResult system_store = MintWithTestCaAsSystemStore(server.url(), {});
  ASSERT_EQ(system_store.exit_code, 0) << system_store.err;
  // A bundle that does not hold the server's CA fails, though the system store would trust it.
  for (const char* mode : {"flag", "env"}) {
    const RunResult other = MintWithTestCaAsSystemStore(server.url(), {}, {{"MODE", mode}});
    EXPECT_EQ(other.exit_code, 6) << mode << "\n" << other.err;
    EXPECT_NE(other.err.find("does not trust"), std::string::npos) << other.err;
    EXPECT_NE(other.err.find("checked against the CA bundle"), std::string::npos) << other.err;
  }
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Tls, HostnameIsChecked) {
  TestServer server(TokenReply(),
                    TestServer::Tls{Certs("wrong-host.pem"), Certs("wrong-host.key"), ""});
  const RunResult result = Mint(server.url(), {"--cacert", Certs("ca.pem")});
  EXPECT_EQ(result.exit_code, 6);
  ExpectOneErrorLine(result, "TLS with 127.0.0.1:");
  EXPECT_NE(result.err.find("its certificate does not name 127.0.0.1"), std::string::npos)
      << result.err;
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Tls, CertificateOutsideItsValidityNamesTheReason) {
  for (const auto& [name, says] :
       {std::pair<std::string, std::string>{"expired", "its certificate has expired"},
        {"not-yet-valid", "its certificate is not yet valid"}}) {
    TestServer server(TokenReply(),
                      TestServer::Tls{Certs(name + ".pem"), Certs(name + ".key"), ""});
    const RunResult result = Mint(server.url(), {"--cacert", Certs("ca.pem"), "-v"});
    EXPECT_EQ(result.exit_code, 6) << name;
    EXPECT_NE(result.err.find(says), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("attempt 2"), std::string::npos) << "not retried";
    EXPECT_EQ(server.request_count(), 0u);
  }
}

TEST(Tls, PlainHttpServerAddressedAsHttps) {
  TestServer server(TokenReply());
  const RunResult result =
      Mint("https://127.0.0.1:" + std::to_string(server.port()), {"--cacert", Certs("ca.pem")});
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_EQ(server.request_count(), 0u);
}

// Redaction covers what servers and libcurl say, not the tool's own words: a one-letter key must
// not turn "check" into "chec***".
TEST(Failure, ShortKeyLeavesOwnWordsAlone) {
  ClosedPortHolder closed;
  const RunResult result = RunTool({"-u", "u1", "--retries", "0"},
                                   {{"TOUCAN_API_KEY", "k"}, {"TOUCAN_BASE_URL", closed.url()}});
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_NE(result.err.find("check --base-url"), std::string::npos) << result.err;
}

TEST(Failure, ConnectionClosedWithoutReplyIsRetried) {
  RawServer server([](int fd, int) {
    ReadRequestHead(fd);
    // Closed without a byte of reply.
  });
  const RunResult result = RunChecked({"-u", "u1", "--retries", "2"}, KeyAndUrl(server.url()));
  EXPECT_EQ(result.exit_code, 6);
  ExpectOneErrorLine(result, "the connection to 127.0.0.1:");
  EXPECT_EQ(server.accepted(), 3);
}

TEST(Failure, ConnectionResetIsRetried) {
  RawServer server([](int fd, int) {
    ReadRequestHead(fd);
    linger hard{1, 0};  // close with RST
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  });
  const RunResult result = RunChecked({"-u", "u1", "--retries", "1"}, KeyAndUrl(server.url()));
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_EQ(server.accepted(), 2);
}

TEST(Failure, ReplyThatIsNotHttp) {
  RawServer server([](int fd, int) {
    ReadRequestHead(fd);
    const std::string garbage = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
    [[maybe_unused]] const auto sent = ::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
  });
  const RunResult result = RunChecked({"-u", "u1"}, KeyAndUrl(server.url()));
  EXPECT_EQ(result.exit_code, 7);
  ExpectOneErrorLine(result, "is not HTTP");
  EXPECT_EQ(server.accepted(), 1);
}

// A listener whose accept queue is full and never drained: the kernel drops further SYNs, so a
// connection attempt hangs until --connect-timeout.
TEST(Failure, ConnectTimeout) {
  sockaddr_in address{};
  const int listener = BindLoopback(address);
  ASSERT_EQ(::listen(listener, 0), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {  // fill the queue; non-blocking so a dropped SYN does not hang us
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    fillers.push_back(fd);
  }
  // Readiness, not a sleep: once a filler's handshake completes the queue is full.
  std::vector<pollfd> pending;
  for (const int fd : fillers) pending.push_back({fd, POLLOUT, 0});
  ASSERT_GT(::poll(pending.data(), pending.size(), 10'000), 0) << "no filler connected";
  const RunResult result =
      RunChecked({"-u", "u1", "--connect-timeout", "0.5", "--timeout", "60", "--retries", "0"},
                 KeyAndUrl("http://127.0.0.1:" + std::to_string(ntohs(address.sin_port))));
  for (const int fd : fillers) ::close(fd);
  ::close(listener);
  EXPECT_EQ(result.exit_code, 6);
  ExpectOneErrorLine(result, "timed out talking to 127.0.0.1:");
  EXPECT_NE(result.err.find("--connect-timeout 0.5 s"), std::string::npos) << result.err;
  EXPECT_LT(result.seconds, 10.0);
}

}  // namespace
}  // namespace toucan::test
