// A hostile environment and a careless user: closed and full output, signals mid-batch, odd
// option values, unsafe URLs, bad CA bundles, garbage Retry-After, resets mid-handshake.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;

std::vector<json> Rows(const std::string& out) {
  std::vector<json> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  return rows;
}

Handler SlowToken(int delay_ms) {
  return [delay_ms](const httplib::Request& request, httplib::Response& response, int index) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    TokenReply()(request, response, index);
  };
}

// ---- Retry-After ---------------------------------------------------------------------------

TEST(Hostile, RetryAfterThatDoesNotParseKeepsTheBackoff) {
  for (const char* value : {"-5", "0.5", "soon", "+0", "5abc", "1e3"}) {
    TestServer server(Reply(503, "busy", "text/plain", {{"Retry-After", value}}));
    const RunResult result = Mint(server.url(), {"--retries", "1", "-v"});
    EXPECT_EQ(result.exit_code, 5) << value;
    EXPECT_EQ(server.request_count(), 2u) << value;
    EXPECT_NE(result.err.find("retrying request 1 in 0."), std::string::npos)
        << value << ": the first backoff is under 0.5 s\n"
        << result.err;
    EXPECT_EQ(result.err.find("(Retry-After)"), std::string::npos) << value << result.err;
  }
}

TEST(Hostile, RetryAfterTooLargeToRepresentEndsTheRunWithARealDate) {
  TestServer server(Reply(429, "", "text/plain", {{"Retry-After", "99999999999999999999"}}));
  const RunResult result = Mint(server.url(), {"--retries", "5"});
  EXPECT_EQ(result.exit_code, 5);
  EXPECT_EQ(server.request_count(), 1u);
  ExpectOneErrorLine(result, "try again at +3168873852");
}

// ---- CA bundles ----------------------------------------------------------------------------

TEST(Hostile, CaBundleThatHoldsNoCertificateIsAUsageError) {
  TestServer server(TokenReply(), TestServer::Tls{Certs("server.pem"), Certs("server.key"), ""});
  for (const std::string& bundle :
       {::testing::TempDir(), std::string("/dev/null"), TempFile("garbage.pem", "garbage\n"),
        Certs("ca.key"), TempFile("empty.pem", "")}) {
    const RunResult result = Mint(server.url(), {"--cacert", bundle});
    EXPECT_EQ(result.exit_code, 2) << bundle << "\n" << result.err;
    EXPECT_NE(result.err.find(bundle), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("TLS with"), std::string::npos) << result.err;
  }
  for (const bool batch : {false, true}) {  // a dry run checks the bundle as a real run does
    const RunResult dry =
        batch ? RunChecked({"batch", "--dry-run", "--cacert", "/nonexistent/ca.pem"},
                           KeyAndUrl(server.url()), std::string("u1\n"))
              : Mint(server.url(), {"--cacert", "/nonexistent/ca.pem", "--dry-run"});
    EXPECT_EQ(dry.exit_code, 2) << dry.err;
    ExpectOneErrorLine(dry, "/nonexistent/ca.pem");
  }
  const RunResult empty = Mint(server.url(), {"--cacert", ""});
  EXPECT_EQ(empty.exit_code, 2);
  ExpectOneErrorLine(empty, "--cacert is empty");
  // An unset variable in --endpoint-path "$P" would send the key to the instance's root.
  const RunResult no_path = Mint(server.url(), {"--endpoint-path", "", "--dry-run"});
  EXPECT_EQ(no_path.exit_code, 2);
  ExpectOneErrorLine(no_path, "--endpoint-path is empty");
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Hostile, TheKeyInTheUsersOwnInputIsNotShownInADryRunOrVerboseLine) {
  TestServer server(TokenReply());
  // An attribute set from the wrong variable: sent as given, never shown.
  const RunResult dry = Mint(server.url(), {"-a", std::string("note=") + kApiKey, "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(json::parse(dry.out)["body"]["user"]["attributes"]["note"], "***");
  const RunResult verbose = Mint(server.url(), {"-a", std::string("note=") + kApiKey, "-v"});
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_NE(verbose.err.find("\"note\":\"***\""), std::string::npos) << verbose.err;
  ASSERT_EQ(server.request_count(), 1u);
  EXPECT_EQ(json::parse(server.requests().at(0).body)["user"]["attributes"]["note"], kApiKey);
}

// A key's run of digits in a number: masking the text alone would print `"x":***`, not JSON.
TEST(Hostile, OutputStaysJsonWhenANumberShowsTheKey) {
  TestServer server(TokenReply(R"("expiresIn":3600,"n":9123456780)"));
  const Env env{{"TOUCAN_API_KEY", "tk_12345678_live"}, {"TOUCAN_BASE_URL", server.url()}};
  const RunResult dry = RunChecked({"-u", "u1", "-a", "x:=[123456789]", "--dry-run"}, env);
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(json::parse(dry.out)["body"]["user"]["attributes"]["x"], json::array({"***"}));
  const RunResult rows = RunChecked({"batch", "--dry-run", "-a", "x:=123456789"}, env, "u1\n");
  ASSERT_EQ(rows.exit_code, 0) << rows.err;
  EXPECT_EQ(json::parse(rows.out)["body"]["user"]["attributes"]["x"], "***");
  const RunResult config = RunChecked({"config", "--min-ttl", "12345678"}, env);
  EXPECT_EQ(Rows(config.out).size(), std::ranges::count(config.out, '\n')) << config.out;
  const RunResult minted = RunChecked({"-u", "u1", "-o", "json"}, env);
  ASSERT_EQ(minted.exit_code, 0) << minted.err;
  EXPECT_EQ(json::parse(minted.out)["n"], "***");
}

TEST(Hostile, EmptyApiKeyFileIsAUsageErrorNotTheEnvironmentsKey) {
  TestServer server(TokenReply());
  const RunResult result = Mint(server.url(), {"--api-key-file", ""});
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, "--api-key-file is empty");
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Hostile, ResetDuringTheTlsHandshakeIsRetriedAndNotATrustProblem) {
  RawServer server([](int fd, int) {
    char buffer[512];
    [[maybe_unused]] const auto n = ::recv(fd, buffer, sizeof buffer, 0);  // the ClientHello
    linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  });
  const std::string url = "https" + server.url().substr(4);
  const RunResult result = Mint(url, {"--retries", "2"});
  EXPECT_EQ(result.exit_code, 6);
  ExpectOneErrorLine(result, "after 3 attempts");
  EXPECT_EQ(result.err.find("--cacert"), std::string::npos) << result.err;
  EXPECT_EQ(server.accepted(), 3);
}

TEST(Hostile, ServerDemandingAClientCertificateIsFinalAndSaysSo) {
  TestServer server(TokenReply(),
                    TestServer::Tls{Certs("server.pem"), Certs("server.key"), Certs("ca.pem")});
  const RunResult result = Mint(server.url(), {"--cacert", Certs("ca.pem"), "-v"});
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_NE(result.err.find("demands a client certificate"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("attempt 2"), std::string::npos) << "not retried\n" << result.err;
  EXPECT_EQ(server.request_count(), 0u);
}

// ---- oversized headers ---------------------------------------------------------------------

TEST(Hostile, HeaderBlockOver100KiBIsABadResponseNotRetried) {
  RawServer server([](int fd, int) {
    ReadRequestHead(fd);
    std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
    for (int i = 0; i < 150; ++i)
      reply += "X-Filler-" + std::to_string(i) + ": " + std::string(1000, 'x') + "\r\n";
    reply += "Content-Length: 2\r\n\r\n{}";
    [[maybe_unused]] const auto n = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  });
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 7) << result.err;
  ExpectOneErrorLine(result, "more than 100 KiB of headers");
  EXPECT_EQ(server.accepted(), 1);
  // One header line of 1 MiB: libcurl refuses it before our count does; still exit 7.
  RawServer giant([](int fd, int) {
    ReadRequestHead(fd);
    const std::string reply = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(1024 * 1024, 'a') +
                              "\r\nContent-Length: 2\r\n\r\n{}";
    [[maybe_unused]] const auto n = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  });
  const RunResult one = Mint(giant.url());
  EXPECT_EQ(one.exit_code, 7) << one.err;
  EXPECT_EQ(giant.accepted(), 1);
}

// A proxy that refuses the tunnel: the message names the proxy, and a 403 is not retried.
TEST(Hostile, ProxyRefusingTheTunnelIsNamedAndNotRetried) {
  RawServer proxy([](int fd, int) {
    ReadRequestHead(fd);
    const std::string reply = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    [[maybe_unused]] const auto n = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  });
  const RunResult result =
      Mint("https://toucan.example", {}, {{"HTTPS_PROXY", proxy.url()}, {"NO_PROXY", ""}});
  EXPECT_EQ(result.exit_code, 6) << result.err;
  ExpectOneErrorLine(result, "the proxy would not open a tunnel to toucan.example");
  EXPECT_EQ(proxy.accepted(), 1);
}

// ---- closed and full standard streams ------------------------------------------------------

TEST(Hostile, ClosedStdoutIsAWriteErrorNotALostToken) {
  TestServer server(TokenReply());
  const RunResult result = Shell(">&-", {"-u", "u1"}, KeyAndUrl(server.url()));
  EXPECT_EQ(result.exit_code, 8) << result.err;
  EXPECT_NE(result.err.find("cannot write to standard output"), std::string::npos) << result.err;
}

TEST(Hostile, ClosedStderrStillGivesTheExitStatus) {
  TestServer server(Reply(401, R"({"message":"no"})"));
  const RunResult result = Shell("2>&-", {"-u", "u1"}, KeyAndUrl(server.url()));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.out, "");
}

TEST(Hostile, HelpAndVersionOnAFullDiskAreExitEight) {
  for (const char* flag : {"--version", "--help"}) {
    EXPECT_EQ(Shell(">/dev/full", {flag}, {}).exit_code, 8) << flag;
  }
}

bool HasOpen(pid_t pid, const std::string& path) {
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    if (std::filesystem::read_symlink(entry.path(), error) == path) return true;
  }
  return false;
}

TEST(Hostile, BatchOfAnEndlessLineStopsOnASignal) {
  std::thread signaller;
  const auto watch = [&](pid_t pid, const std::string&) {
    if (signaller.joinable()) return;
    // Readiness: the batch has /dev/zero open, so its signal handling is in place.
    signaller = std::thread([pid] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (std::chrono::steady_clock::now() < deadline && !HasOpen(pid, "/dev/zero")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      ::kill(pid, SIGTERM);
    });
  };
  const RunResult result =
      RunTool({"batch", "/dev/zero", "--dry-run"}, {}, std::nullopt, TOUCAN_TOKEN_BINARY, watch);
  signaller.join();
  EXPECT_EQ(result.exit_code, 143);
  EXPECT_FALSE(result.signaled) << "the first signal winds down, it does not kill";
  EXPECT_NE(result.err.find("toucan-token: interrupted: "), std::string::npos) << result.err;
}

// A FIFO without a writer blocks the open itself, and a CSV header not yet ended blocks its
// read: a signal there is an interrupt, not an error.
TEST(Hostile, SignalWhileABatchWaitsForItsInputIsAnInterrupt) {
  const std::string fifo = TempPath("batch.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto run = [&](long call, int signal, const std::vector<std::string>& args) {
    std::thread signaller;
    const auto watch = [&](pid_t pid, const std::string&) {
      if (signaller.joinable()) return;
      signaller = std::thread([pid, call, signal] {  // readiness: blocked in `call`
        const std::string blocked = std::to_string(call) + " ";
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        for (std::string text;
             std::chrono::steady_clock::now() < deadline && text.rfind(blocked, 0) != 0;) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/syscall"), text);
        }
        ::kill(pid, signal);
      });
    };
    const RunResult result = RunTool(args, {}, std::nullopt, TOUCAN_TOKEN_BINARY, watch);
    signaller.join();
    return result;
  };
  const RunResult opening = run(SYS_openat, SIGTERM, {"batch", fifo, "--dry-run"});
  EXPECT_EQ(opening.exit_code, 143) << opening.err;
  EXPECT_NE(opening.err.find("interrupted while opening the batch file"), std::string::npos)
      << opening.err;
  const int writer = ::open(fifo.c_str(), O_RDWR);  // a writer that never ends the header
  ASSERT_EQ(::write(writer, "distinctId,re", 13), 13);
  const RunResult header = run(SYS_read, SIGINT, {"batch", "--csv", fifo, "--dry-run"});
  ::close(writer);
  std::remove(fifo.c_str());
  EXPECT_EQ(header.exit_code, 130) << header.err;
  EXPECT_NE(header.err.find("interrupted while reading the CSV header"), std::string::npos)
      << header.err;
}

TEST(Hostile, BatchWithStdinClosedIsAnInputError) {
  TestServer server(TokenReply());
  const RunResult result = Shell("<&-", {"batch"}, KeyAndUrl(server.url()));
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Hostile, FullDiskIsExitEightWithCounts) {
  TestServer server(TokenReply());
  const RunResult single = Shell(">/dev/full", {"-u", "u1"}, KeyAndUrl(server.url()));
  EXPECT_EQ(single.exit_code, 8) << single.err;
  const std::string input = TempFile("full.jsonl", "a\nb\nc\nd\n");
  const std::size_t before = server.request_count();
  const RunResult batch =
      Shell(">/dev/full", {"batch", input, "--concurrency", "1"}, KeyAndUrl(server.url()));
  EXPECT_EQ(batch.exit_code, 8) << batch.err;
  EXPECT_NE(batch.err.find("0 rows written, 1 token minted"), std::string::npos) << batch.err;
  EXPECT_EQ(server.request_count() - before, 1u) << "no request starts after a failed write";
}

// ---- signals -------------------------------------------------------------------------------

struct Interrupted {
  RunResult result;
  std::vector<json> rows;
};

// A batch of 100 against a server that takes 300 ms a token; `signals` are sent once the
// first row is out.
Interrupted InterruptBatch(TestServer& server, std::vector<int> signals) {
  std::string input;
  for (int i = 1; i <= 100; ++i) input += "u" + std::to_string(i) + "\n";
  const std::string path = TempFile("signals.jsonl", input);
  bool sent = false;
  Interrupted run;
  run.result = RunTool({"batch", path, "--concurrency", "4"}, KeyAndUrl(server.url()), std::nullopt,
                       TOUCAN_TOKEN_BINARY, [&](pid_t pid, const std::string& out) {
                         if (sent || out.find('\n') == std::string::npos) return;
                         sent = true;
                         for (const int signal : signals) ::kill(pid, signal);
                       });
  EXPECT_TRUE(sent);
  EXPECT_FALSE(run.result.out.empty());
  EXPECT_EQ(run.result.out.back(), '\n') << "the last row is whole";
  run.rows = Rows(run.result.out);
  for (std::size_t i = 0; i < run.rows.size(); ++i) {
    EXPECT_EQ(run.rows[i]["line"], i + 1);
    EXPECT_EQ(run.rows[i]["distinctId"], "u" + std::to_string(i + 1));
  }
  return run;
}

TEST(Hostile, SigintMidBatchFinishesRequestsInFlightAndSaysWhatIsLeft) {
  TestServer server(SlowToken(300));
  const Interrupted run = InterruptBatch(server, {SIGINT});
  EXPECT_EQ(run.result.exit_code, 130) << run.result.err;
  std::size_t minted = 0;
  for (const json& row : run.rows) minted += row.contains("token") ? 1 : 0;
  EXPECT_EQ(minted, server.request_count()) << "every token the server minted has its row";
  EXPECT_LT(run.rows.size(), 100u);
  EXPECT_NE(
      run.result.err.find("toucan-token: interrupted: " + std::to_string(minted) +
                          " minted, 0 failed, " + std::to_string(100 - minted) + " not attempted"),
      std::string::npos)
      << run.result.err;
}

TEST(Hostile, SigtermMidBatchIsExit143) {
  TestServer server(SlowToken(300));
  const Interrupted run = InterruptBatch(server, {SIGTERM});
  EXPECT_EQ(run.result.exit_code, 143) << run.result.err;
  EXPECT_NE(run.result.err.find("interrupted: "), std::string::npos) << run.result.err;
}

TEST(Hostile, SecondSignalEndsTheBatchAtOnce) {
  TestServer* self = nullptr;
  TestServer server([&](const httplib::Request& request, httplib::Response& response, int index) {
    if (json::parse(request.body)["user"]["distinctId"] == "u1") {
      return TokenReply()(request, response, index);
    }
    self->WaitForRelease();  // every other request hangs
  });
  self = &server;
  std::string input;
  for (int i = 1; i <= 20; ++i) input += "u" + std::to_string(i) + "\n";
  std::atomic<bool> done{false};
  std::thread signaller;
  // Once the first row is out, SIGINT every 50 ms: two signals sent at once could merge into
  // one, but the first that lands after the first was handled must end the program.
  const RunResult result = RunTool(
      {"batch", TempFile("second.jsonl", input), "--concurrency", "4"}, KeyAndUrl(server.url()),
      std::nullopt, TOUCAN_TOKEN_BINARY, [&](pid_t pid, const std::string& out) {
        if (signaller.joinable() || out.find('\n') == std::string::npos) return;
        signaller = std::thread([&done, pid] {
          while (!done) {
            ::kill(pid, SIGINT);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        });
      });
  done = true;
  if (signaller.joinable()) signaller.join();
  EXPECT_TRUE(result.signaled) << "ended by the signal itself\n" << result.err;
  EXPECT_EQ(result.exit_code, 130);
  EXPECT_EQ(result.out.find("\n"), result.out.size() - 1) << "one whole row: " << result.out;
  EXPECT_EQ(result.err.find("interrupted:"), std::string::npos) << "did not wind down gracefully";
}

TEST(Hostile, SignalInSingleModeEndsAtOnceWithNothingOnStdout) {
  TestServer* self = nullptr;
  TestServer server(
      [&](const httplib::Request&, httplib::Response&, int) { self->WaitForRelease(); });
  self = &server;
  std::thread killer;
  // The child is signalled once the server holds its request: a readiness wait on the server.
  const RunResult result = RunTool({"-u", "u1"}, KeyAndUrl(server.url()), std::nullopt,
                                   TOUCAN_TOKEN_BINARY, [&](pid_t pid, const std::string&) {
                                     if (killer.joinable()) return;
                                     killer = std::thread([&server, pid] {
                                       while (server.request_count() == 0)
                                         std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                       ::kill(pid, SIGTERM);
                                     });
                                   });
  killer.join();
  EXPECT_EQ(result.exit_code, 143) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_LT(result.seconds, 30.0);
}

// ---- option values -------------------------------------------------------------------------

TEST(Hostile, IntegerOptionsArePlainDecimal) {
  TestServer server(Reply(503, "busy", "text/plain", {{"Retry-After", "0"}}));
  const RunResult ten = Mint(server.url(), {"--retries", "010", "-v"});
  EXPECT_NE(ten.err.find("attempt 1 of 11"), std::string::npos) << "010 is ten, not octal";
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--retries", "0x10"},
                                              {"--retries", "-1"},
                                              {"--retries", " 1"},
                                              {"--retries", "1.0"},
                                              {"--timeout", "  5"},
                                              {"--timeout", "5 "},
                                              {"--timeout", "1e1"},
                                              {"--timeout", "0x10"},
                                              {"--timeout", "5s"},
                                              {"--connect-timeout", ".5"},
                                              {"--timeout", "0"}}) {
    const RunResult result = Mint(server.url(), bad);
    EXPECT_EQ(result.exit_code, 2) << bad[0] << " '" << bad[1] << "'";
  }
  TestServer batch_server(TokenReply());
  const RunResult concurrency =
      RunChecked({"batch", "--concurrency", "0x10"}, KeyAndUrl(batch_server.url()), "u1\n");
  EXPECT_EQ(concurrency.exit_code, 2);
  EXPECT_EQ(Mint(server.url(), {"--timeout", "2.5", "--retries", "0"}).exit_code, 5);
}

TEST(Hostile, BlankToucanVariablesCountAsUnset) {
  const RunResult result = RunChecked({"-u", "u1", "--dry-run"},
                                      {{"TOUCAN_BASE_URL", "   "}, {"TOUCAN_CA_BUNDLE", " \t"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["url"], "https://toucanai.cloud/embed/generate-token");
}

// ---- URLs ----------------------------------------------------------------------------------

TEST(Hostile, EndpointPathCannotClimbOrCarryOddCharacters) {
  TestServer server(TokenReply());
  for (const char* path :
       {"/../x", "/a/./b", "..", "/%2e%2e/x", "/sp ace", "/tab\tx", "/x?y=1", "/x#f", "/nl\nx",
        "/a%2f..%2fb", "/a/%2E%2e%2F", "/a%5c..%5cb", "/a\\..\\b", "/a%00b",
        // Read as `..` by servlet containers (`;parameters` dropped), after a second decoding,
        // or as an overlong UTF-8 dot.
        "/..;/admin", "/..;jsessionid=x/admin", "/.;/x", "/..%3b/x", "/%252e%252e/x",
        "/%25%32%65%25%32%65/x", "/..%09", "/.%00.", "/%c0%ae%c0%ae/admin", "/%e0%80%ae%e0%80%ae",
        "/a%252fb"}) {
    for (const bool dry : {true, false}) {
      std::vector<std::string> args{"--endpoint-path", path};
      if (dry) args.emplace_back("--dry-run");
      const RunResult result = Mint(server.url() + "/s/ok", args);
      EXPECT_EQ(result.exit_code, 2) << path << (dry ? " (dry run)" : "");
    }
  }
  EXPECT_EQ(server.request_count(), 0u);
  // A segment that only holds `;` or dots is a name like any other.
  const RunResult parameter =
      Mint(server.url(), {"--endpoint-path", "/v1;x/a..b/...", "--dry-run"});
  EXPECT_EQ(parameter.exit_code, 0) << parameter.err;
  // What the dry run shows is exactly what is sent.
  const RunResult dry = Mint(server.url() + "/s/ok/", {"--endpoint-path", "x/y", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  ASSERT_EQ(Mint(server.url() + "/s/ok/", {"--endpoint-path", "x/y"}).exit_code, 0);
  EXPECT_EQ(json::parse(dry.out)["url"], server.url() + server.requests().at(0).path);
  EXPECT_EQ(server.requests().at(0).path, "/s/ok/x/y");
  // Non-ASCII is percent-encoded the same way in both.
  const RunResult dry_utf8 = Mint(server.url(), {"--endpoint-path", "/\xc3\xbc", "--dry-run"});
  ASSERT_EQ(Mint(server.url(), {"--endpoint-path", "/\xc3\xbc"}).exit_code, 0);
  EXPECT_EQ(json::parse(dry_utf8.out)["url"], server.url() + "/%c3%bc");
  EXPECT_EQ(server.requests().at(1).target, "/%c3%bc");
  // So is the base URL's own path prefix.
  const std::string base = server.url() + "/\xc3\xa9";
  const RunResult dry_base = Mint(base, {"--endpoint-path", "/\xc3\xbc", "--dry-run"});
  ASSERT_EQ(Mint(base, {"--endpoint-path", "/\xc3\xbc"}).exit_code, 0);
  EXPECT_EQ(json::parse(dry_base.out)["url"], server.url() + "/%c3%a9/%c3%bc");
  EXPECT_EQ(server.requests().at(2).target, "/%c3%a9/%c3%bc");
}

TEST(Hostile, UserinfoInTheBaseUrlIsRefusedAndNeverRepeated) {
  for (const char* url :
       {"https://:hunter2pw@example.com", "https://alice:hunter2pw@example.com",
        "https://hunter2pw@example.com/x", "http://hunter2pw:@127.0.0.1:1",
        // Malformed around the userinfo: still never repeated.
        "https:///alice:hunter2pw@example.com", "https:/alice:hunter2pw@example.com",
        "//alice:hunter2pw@example.com", "alice:hunter2pw@example.com",
        "https://a@b:hunter2pw@example.com", "  https://hunter2pw@example.com?q",
        "https://alice:hunter2pw%40example.com", "https://alice:hunter2pw%40ex@ample.com"}) {
    for (const bool dry : {true, false}) {
      const RunResult result =
          RunChecked(dry ? std::vector<std::string>{"-u", "u1", "--dry-run", "-v"}
                         : std::vector<std::string>{"-u", "u1", "-v"},
                     KeyAndUrl(url));
      EXPECT_EQ(result.exit_code, 2) << url;
      EXPECT_EQ(result.err.find("hunter2pw"), std::string::npos) << result.err;
      EXPECT_EQ(result.err.find("alice"), std::string::npos) << result.err;
      EXPECT_TRUE(result.err.find("***@") != std::string::npos ||
                  result.err.find("***%40") != std::string::npos)
          << result.err;
      EXPECT_EQ(result.out, "");
    }
  }
}

// ---- inputs --------------------------------------------------------------------------------

TEST(Hostile, EndlessOrOddInputFilesAreRefusedQuickly) {
  TestServer server(TokenReply());
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--attributes", "@/dev/zero"},
        {"--permissions", "@/dev/zero"},
        {"--api-key-file", "/dev/zero"},
        {"--attributes", "@" + ::testing::TempDir()},
        {"--api-key-file", ::testing::TempDir()},
        {"--attributes", ""},
        {"--attributes", "@/nonexistent/attrs.json"}}) {
    const RunResult result = Mint(server.url(), args);
    EXPECT_EQ(result.exit_code, 2) << args[0] << " " << args[1] << "\n" << result.err;
    EXPECT_LT(result.seconds, 20.0);
  }
  EXPECT_EQ(server.request_count(), 0u);
}

// About 1 MiB of short keys, wherever they come in, costs about what reading them costs. Set a
// key at a time, an insertion-ordered object (or a schema) is scanned for each: 25-36 s of CPU
// for --attributes. The bound is relative to the same object as --permissions in the same build,
// so a sanitizer build, several times slower throughout, keeps the same margin.
TEST(Hostile, ManyKeysCostNearLinearTimeWhereverTheyComeIn) {
  const auto object = [](int keys, const std::string& value) {
    std::string text = "{";
    for (int i = 0; i < keys; ++i) text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + value;
    return text + "}";
  };
  std::string folder = (std::filesystem::temp_directory_path() / "toucan-keys-XXXXXX").string();
  ASSERT_NE(::mkdtemp(folder.data()), nullptr);  // 0700, as a config file's folder must be
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(folder + "/" + name, std::ios::binary) << text;
    return folder + "/" + name;
  };
  const std::string attributes = write("attributes.json", object(90'000, "1"));
  const std::string declared_text = object(50'000, "1");
  const std::string declared = write("declared.json", declared_text);
  const std::string schema_json = write("schema.json", object(50'000, "\"integer\""));
  std::string toml;
  for (int i = 0; i < 50'000; ++i) toml += "k" + std::to_string(i) + " = \"integer\"\n";
  const std::string schema_toml = write("schema.toml", toml);
  std::string config = "[profile.default.attributes]\n";
  for (int i = 0; i < 90'000; ++i) config += "k" + std::to_string(i) + " = 1\n";
  const Env with_profile{{"TOUCAN_CONFIG", write("config.toml", config)}};
  std::vector<std::string> each_a{"--dry-run"};  // as many as the argument list holds
  for (int i = 0; i < 60'000; ++i)
    each_a.insert(each_a.end(), {"-a", "k" + std::to_string(i) + "=v"});
  const std::string url = "https://bi.example.com";
  const RunResult baseline = Mint(url, {"--permissions", "@" + attributes, "--dry-run"});
  ASSERT_EQ(baseline.exit_code, 0) << baseline.err;
  const double bound = 2.0 + 5 * baseline.cpu_seconds;
  const std::vector<std::pair<std::string, RunResult>> runs{
      {"--attributes", Mint(url, {"--attributes", "@" + attributes, "--dry-run"})},
      {"-a", Mint(url, each_a)},
      {"a profile's attributes", Mint(url, {"--dry-run"}, with_profile)},
      {"a JSON schema",
       Mint(url, {"--schema", schema_json, "--attributes", "@" + declared, "--dry-run"})},
      {"a TOML schema", Mint(url, {"--schema", schema_toml, "-a", "k7=7", "--dry-run"})},
      {"a batch line", RunChecked({"batch", "--dry-run", "--schema", schema_json}, KeyAndUrl(url),
                                  R"({"distinctId":"u1","attributes":)" + declared_text + "}\n")}};
  for (const auto& [what, result] : runs) {
    EXPECT_EQ(result.exit_code, 0) << what << ": " << result.err.substr(0, 300);
    EXPECT_LT(result.cpu_seconds, bound) << what << " (baseline " << baseline.cpu_seconds << " s)";
  }
  std::filesystem::remove_all(folder);
}

// U+009B is CSI to some terminals, U+0085 a line break to some readers: no name holds one, as no
// name holds a NUL or a tab.
TEST(Hostile, C1ControlsAreRefusedInBareIdsAndAttributeKeys) {
  TestServer server(TokenReply());
  const RunResult batch =
      RunChecked({"batch"}, KeyAndUrl(server.url()), "a\xc2\x9bz\nx\xc2\x85\nu1\n");
  EXPECT_EQ(batch.exit_code, 2);
  const std::vector<json> rows = Rows(batch.out);
  ASSERT_EQ(rows.size(), 3u) << batch.out;
  for (const std::size_t i : {0u, 1u}) {
    EXPECT_EQ(rows[i]["error"]["exit"], 2) << rows[i];
    EXPECT_NE(rows[i]["error"]["message"].get<std::string>().find("control character"),
              std::string::npos);
  }
  EXPECT_EQ(rows[2]["token"], kToken);
  for (const std::string key : {"a\xc2\x9bz", "a\xc2\x85", "a\x01z", "a\x7f"}) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"-a", key + "=1"},
          {"--attributes", json{{key, 1}}.dump()},
          {"--attributes", json{{key, 1}}.dump(), "--dry-run"}}) {
      const RunResult result = Mint(server.url(), args);
      EXPECT_EQ(result.exit_code, 2) << json(key);
      ExpectOneErrorLine(result, "holds a control character");
    }
    const json line{{"distinctId", "u2"}, {"attributes", {{key, 1}}}};
    const RunResult row = RunChecked({"batch"}, KeyAndUrl(server.url()), line.dump() + "\n");
    EXPECT_EQ(row.exit_code, 2) << row.out;
    EXPECT_NE(row.out.find("holds a control character"), std::string::npos) << row.out;
  }
  EXPECT_EQ(server.request_count(), 1u);
}

// A schema's names may be 30 KB each; the list of them is cut as server text is.
TEST(Hostile, UnknownAttributeMessageIsCut) {
  json schema = json::object();
  for (int i = 0; i < 10; ++i)
    schema["n" + std::to_string(i) + std::string(30'000, 'x')] = "string";
  const std::string path = TempFile("long-names.json", schema.dump());
  const RunResult result =
      Mint("https://bi.example.com", {"--schema", path, "-a", std::string(500, 'y') + "=1"});
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, "the schema declares 'n0xxx");
  EXPECT_LT(result.err.size(), 600u) << result.err.substr(0, 1000);
}

TEST(Hostile, StandardInputUnderAnotherNameStillCountsOnce) {
  TestServer server(TokenReply());
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"batch", "--api-key-file", "/dev/stdin"},
        {"batch", "/dev/stdin", "--attributes", "@-"},
        {"batch", "--attributes", "@/proc/self/fd/0"},
        {"batch", "/dev/fd/0", "--permissions", "-"}}) {
    const RunResult result = RunChecked(args, KeyAndUrl(server.url()), "u1\n");
    EXPECT_EQ(result.exit_code, 2) << args[1];
    ExpectOneErrorLine(result, "only one input may read it");
  }
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Hostile, OversizedBatchLineIsAnErrorRowAndTheRestRuns) {
  TestServer server(TokenReply());
  const std::string input = std::string(3 * 1024 * 1024, 'x') + "\nu2\n";
  const RunResult result = RunChecked({"batch"}, KeyAndUrl(server.url()), input);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["error"]["exit"], 2);
  EXPECT_NE(rows[0]["error"]["message"].get<std::string>().find("longer than 1 MiB"),
            std::string::npos);
  EXPECT_EQ(rows[1]["distinctId"], "u2");
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Hostile, ServerFieldsCannotOverwriteARowsOwn) {
  TestServer server(
      TokenReply(R"("expiresIn":60,"line":99,"distinctId":"mallory","error":"x","plan":"pro")"));
  const RunResult result = RunChecked({"batch"}, KeyAndUrl(server.url()), "u1\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["line"], 1);
  EXPECT_EQ(rows[0]["distinctId"], "u1");
  EXPECT_FALSE(rows[0].contains("error"));
  EXPECT_EQ(rows[0]["plan"], "pro");
}

TEST(Hostile, EnvOutputRefusesWhatAShellWouldExpand) {
  TestServer server(Reply(200, R"({"token":"~root/x","expiresIn":60})"));
  const RunResult result = Mint(server.url(), {"-o", "env"});
  EXPECT_EQ(result.exit_code, 7);
  EXPECT_EQ(result.out, "");
}

TEST(Hostile, KeyOfOneStarDoesNotHangRedaction) {
  TestServer server(Reply(401, R"({"message":"key * is wrong ***"})"));
  const RunResult result =
      RunChecked({"-u", "u1"}, {{"TOUCAN_API_KEY", "*"}, {"TOUCAN_BASE_URL", server.url()}});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_LT(result.seconds, 20.0);
}

// ---- the key where the user's own input goes (third attack pass) ---------------------------

// A key pasted where a variable name, a path, a URL or an attribute goes: every message that
// quotes the input hides it (RunChecked looks for every form of it).
TEST(Hostile, TheKeyPastedWhereANameOrPathGoesIsNeverShown) {
  TestServer server(TokenReply());
  const std::string key = kApiKey;
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--api-key-env", key},
                                                {"--api-key-file", key},
                                                {"--api-key-env", "TOUCAN_API_KEY=" + key},
                                                {"-a", "x:=" + key},
                                                {"-a", key},
                                                {"--base-url", "ftp://" + key},
                                                {"--base-url", "http://" + key + ".example.com"},
                                                {"--endpoint-path", "/x?" + key},
                                                {"--endpoint-path", "/" + key + "/../x"}}) {
    const RunResult result = Mint(server.url(), extra);
    EXPECT_EQ(result.exit_code, 2) << extra[0] << ": " << result.err;
    EXPECT_NE(result.err.find("***"), std::string::npos) << result.err;
  }
  EXPECT_EQ(server.request_count(), 0u);
}

// The key sent comes from OTHER_KEY; TOUCAN_API_KEY, also known, is pasted into an attribute
// and echoed back in a successful reply's field.
TEST(Hostile, AnotherKnownKeyEchoedInASuccessfulReplyIsMasked) {
  TestServer server([](const httplib::Request& request, httplib::Response& response, int) {
    response.set_content(
        std::string(R"({"token":"t0k","expiresIn":60,"echo":)") + request.body + "}",
        "application/json");
  });
  const RunResult result =
      Mint(server.url(), {"--api-key-env", "OTHER_KEY", "-a", std::string("note=") + kApiKey},
           {{"OTHER_KEY", "sk_other_0123456789abcdef"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["echo"]["user"]["attributes"]["note"], "***");
}

TEST(Hostile, TheKeyInTheBaseUrlIsNotShownInTheVerboseLineOrThe404Message) {
  TestServer server(Reply(404, "not here"));
  const RunResult result = Mint(server.url() + "/" + kApiKey, {"-v", "--retries", "0"});
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("POST http://127.0.0.1:" + std::to_string(server.port()) + "/***/"),
            std::string::npos)
      << result.err;
  // A 404 stops a batch: the summary quotes the URL as the rows do (RunChecked finds the key).
  const RunResult batch =
      RunChecked({"batch", "--retries", "0"}, KeyAndUrl(server.url() + "/" + kApiKey), "a\nb\n");
  EXPECT_EQ(batch.exit_code, 4) << batch.err;
  EXPECT_NE(batch.err.find("stopped at line "), std::string::npos) << batch.err;
}

// A key as a distinct id, quoted by a bad line's error, or in a dry-run row: rows hide it too.
TEST(Hostile, BatchRowsNeverShowTheKey) {
  TestServer server(TokenReply());
  const std::string input = std::string(kApiKey) + "\n" + R"({"distinctId":"u2","role":)" +
                            kApiKey + "}\n" + R"({"distinctId":"u3","attributes":{"k":")" +
                            kApiKey + "\"}}\n";
  const RunResult minted = RunChecked({"batch"}, KeyAndUrl(server.url()), input);
  EXPECT_EQ(minted.exit_code, 2) << minted.err;
  auto rows = Rows(minted.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["distinctId"], "***");
  EXPECT_TRUE(rows[0].contains("token"));
  EXPECT_EQ(rows[1]["error"]["exit"], 2);
  EXPECT_TRUE(rows[2].contains("token"));
  const RunResult dry = RunChecked({"batch", "--dry-run"}, KeyAndUrl(server.url()), input);
  EXPECT_EQ(dry.exit_code, 2) << dry.err;
  rows = Rows(dry.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["body"]["user"]["attributes"]["k"], "***");
}

// Files joined with cat: a byte-order mark starts a later line too, and must not turn a user
// object into a distinct id.
TEST(Hostile, ByteOrderMarkOnAnyLineIsDropped) {
  TestServer server(TokenReply());
  const RunResult result =
      RunChecked({"batch", "--dry-run"}, KeyAndUrl(server.url()),
                 "\xEF\xBB\xBFu1\n\xEF\xBB\xBF{\"distinctId\":\"u2\",\"role\":\"r2\"}\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["body"]["user"]["distinctId"], "u1");
  EXPECT_EQ(rows[1]["body"]["user"]["distinctId"], "u2");
  EXPECT_EQ(rows[1]["body"]["user"]["role"], "r2");
}

// Two values for one key: one would be dropped without a word.
TEST(Hostile, RepeatedKeysInUserJsonAreRefused) {
  TestServer server(TokenReply());
  const RunResult batch =
      RunChecked({"batch"}, KeyAndUrl(server.url()),
                 "{\"distinctId\":\"u1\",\"distinctId\":\"u1b\"}\n"
                 "{\"distinctId\":\"u2\",\"attributes\":{\"a\":1},\"attributes\":{\"b\":2}}\n");
  EXPECT_EQ(batch.exit_code, 2) << batch.err;
  const auto rows = Rows(batch.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(
      rows[0]["error"]["message"].get<std::string>().find("a key is given twice at /distinctId"),
      std::string::npos)
      << rows[0];
  EXPECT_EQ(rows[1]["distinctId"], nullptr);
  const RunResult single = Mint(server.url(), {"--attributes", R"({"a":1,"a":2})"});
  EXPECT_EQ(single.exit_code, 2);
  ExpectOneErrorLine(single, "--attributes: a key is given twice at /a");
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Hostile, StandardInputUnderAnyPathStillCountsOnce) {
  TestServer server(TokenReply());
  const std::string link = ::testing::TempDir() + "/toucan-hostile-stdin-link";
  std::filesystem::remove(link);
  std::filesystem::create_symlink("/dev/stdin", link);
  for (const std::string& path : {std::string("/dev/./stdin"), std::string("//dev/stdin"), link}) {
    const RunResult result =
        RunChecked({"batch", "-", "--api-key-file", path}, KeyAndUrl(server.url()), "u1\nu2\n");
    EXPECT_EQ(result.exit_code, 2) << path << ": " << result.err;
    ExpectOneErrorLine(result, "only one input may read it");
  }
  std::filesystem::remove(link);
  EXPECT_EQ(server.request_count(), 0u);
}

// U+202E would reorder the line on a terminal ("Trojan Source"); U+0085 is a C1 control.
TEST(Hostile, BidirectionalControlsFromTheServerAreEscaped) {
  TestServer server(Reply(401,
                          "{\"message\":\"abc\xE2\x80\xAE"
                          "def\xC2\x85\"}"));
  const RunResult result = Mint(server.url());
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("abc\\u202edef\\u0085"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("\xE2\x80\xAE"), std::string::npos);
}

TEST(Hostile, BaseUrlWithoutSchemeSuggestsOneWithoutExtraSlashes) {
  const RunResult result = RunChecked({"-u", "u1", "--base-url", "//x.example", "--dry-run"}, {});
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneErrorLine(result, "write it as https://x.example");
  const RunResult tab = RunChecked({"-u", "u1", "--base-url", "h\tx", "--dry-run"}, {});
  EXPECT_EQ(tab.exit_code, 2);
  ExpectOneErrorLine(tab, "write it as https://h\\tx");
}

}  // namespace
}  // namespace toucan::test
