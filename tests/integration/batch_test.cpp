// `toucan-token batch`: order, per-line errors, defaults and overrides, shared backoff, reuse.
#include <signal.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::vector<json> Rows(const std::string& out) {
  std::vector<json> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  return rows;
}

std::string DistinctId(const httplib::Request& request) {
  return json::parse(request.body)["user"]["distinctId"];
}

// Mints "tok-<distinctId>" after an optional delay; ids listed in `rejected` get a 401.
Handler PerUser(std::function<int(const std::string&)> delay_ms = nullptr,
                std::set<std::string> rejected = {}) {
  return [=](const httplib::Request& request, httplib::Response& response, int) {
    const std::string id = DistinctId(request);
    if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(id)));
    if (rejected.count(id)) {
      response.status = 401;
      response.set_content(R"({"message":"no"})", "application/json");
      return;
    }
    std::string token = "tok-";
    for (const char c : id) token += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    response.set_content(json{{"token", token}, {"expiresIn", 60}}.dump(), "application/json");
  };
}

RunResult Batch(const std::string& url, const std::string& input,
                std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"batch"};
  args.insert(args.end(), extra.begin(), extra.end());
  return RunChecked(args, KeyAndUrl(url), input);
}

TEST(Batch, KeepsInputOrderUnderConcurrency) {
  // Later lines answer sooner, so completion order is the reverse of input order.
  TestServer server(
      PerUser([](const std::string& id) { return 200 - 8 * std::stoi(id.substr(1)); }));
  std::string input;
  for (int i = 1; i <= 24; ++i) input += "u" + std::to_string(i) + "\n";
  const RunResult result = Batch(server.url(), input, {"--concurrency", "8"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 24u);
  for (int i = 1; i <= 24; ++i) {
    const json& row = rows[static_cast<std::size_t>(i - 1)];
    EXPECT_EQ(row["line"], i);
    EXPECT_EQ(row["distinctId"], "u" + std::to_string(i));
    EXPECT_EQ(row["token"], "tok-u" + std::to_string(i));
    EXPECT_EQ(row["expiresIn"], 60);
    EXPECT_TRUE(row["expiresAt"].is_string());
  }
  EXPECT_EQ(server.request_count(), 24u);
  EXPECT_NE(result.err.find("toucan-token: 24 minted, 0 failed in "), std::string::npos)
      << result.err;
}

TEST(Batch, LineFormsDefaultsAndOverrides) {
  TestServer server(PerUser());
  const std::string input =
      "bare-1\n"
      "\n"
      "  \"quoted \\\"2\\\"\"\n"
      R"({"distinctId":"obj-4","role":"viewer","attributes":{"tier":"pro"},"permissions":{"p":2}})"
      "\n"
      "   \n"
      R"({"distinctId":"obj-6"})"
      "\n";
  const RunResult result =
      Batch(server.url(), input,
            {"-r", "analyst", "-a", "region=EU", "-a", "tier=free", "--permissions", R"({"p":1})"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0]["line"], 1);
  EXPECT_EQ(rows[0]["distinctId"], "bare-1");
  EXPECT_EQ(rows[1]["line"], 3);
  EXPECT_EQ(rows[1]["distinctId"], "quoted \"2\"");
  EXPECT_EQ(rows[2]["line"], 4);
  EXPECT_EQ(rows[3]["line"], 6);
  std::map<std::string, json> bodies;
  for (const auto& request : server.requests()) {
    const json body = json::parse(request.body);
    bodies[body["user"]["distinctId"]] = body;
    EXPECT_EQ(request.Header("x-api-key"), kApiKey);
  }
  EXPECT_EQ(bodies["bare-1"], json::parse(R"({"user":{"distinctId":"bare-1","role":"analyst",
      "attributes":{"region":"EU","tier":"free"}},"permissions":{"p":1}})"));
  EXPECT_EQ(bodies["obj-4"], json::parse(R"({"user":{"distinctId":"obj-4","role":"viewer",
      "attributes":{"region":"EU","tier":"pro"}},"permissions":{"p":2}})"));
  EXPECT_EQ(bodies["obj-6"], json::parse(R"({"user":{"distinctId":"obj-6","role":"analyst",
      "attributes":{"region":"EU","tier":"free"}},"permissions":{"p":1}})"));
}

TEST(Batch, PerLineErrorsAndTheFirstFailureDecidesTheExit) {
  TestServer server(PerUser(nullptr, {"rejected"}));
  const std::string input =
      "ok-1\nrejected\n"
      R"({"distinctId":"typo","atributes":{}})"
      "\n"
      "caf\xc3\n"
      "ok-5\n";
  // --keep-going: a 401 would otherwise stop the batch before line 5.
  const RunResult result = Batch(server.url(), input, {"--concurrency", "2", "--keep-going"});
  EXPECT_EQ(result.exit_code, 3) << result.err;  // line 2 is the first failure
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0]["token"], "tok-ok_1");
  EXPECT_EQ(rows[1]["distinctId"], "rejected");
  EXPECT_EQ(rows[1]["error"]["exit"], 3);
  EXPECT_EQ(rows[1]["error"]["status"], 401);
  EXPECT_NE(rows[1]["error"]["message"].get<std::string>().find("credentials rejected"),
            std::string::npos);
  EXPECT_EQ(rows[2]["distinctId"], "typo");
  EXPECT_EQ(rows[2]["error"]["exit"], 2);
  EXPECT_TRUE(rows[2]["error"]["status"].is_null());
  EXPECT_NE(rows[2]["error"]["message"].get<std::string>().find("unknown field \"atributes\""),
            std::string::npos);
  EXPECT_TRUE(rows[3]["distinctId"].is_null());
  EXPECT_EQ(rows[3]["error"]["exit"], 2);
  EXPECT_EQ(rows[4]["token"], "tok-ok_5");
  EXPECT_EQ(server.request_count(), 3u);  // invalid lines are never sent
  EXPECT_NE(result.err.find("2 minted, 3 failed in "), std::string::npos);
}

TEST(Batch, InvalidLineFirstExitsTwo) {
  TestServer server(PerUser(nullptr, {"rejected"}));
  const RunResult result = Batch(server.url(), "{\"distinctId\":1}\nrejected\n");
  EXPECT_EQ(result.exit_code, 2);
}

TEST(Batch, ReusesConnections) {
  TestServer server(PerUser());
  std::string input;
  for (int i = 0; i < 200; ++i) input += "user-" + std::to_string(i) + "\n";
  const RunResult result = Batch(server.url(), input, {"--concurrency", "4"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Rows(result.out).size(), 200u);
  EXPECT_EQ(server.request_count(), 200u);
  EXPECT_LE(server.connection_count(), 8u)
      << "200 tokens at concurrency 4 opened " << server.connection_count() << " connections";
}

TEST(Batch, ReusesTlsConnections) {
  TestServer server(PerUser(), TestServer::Tls{Certs("server.pem"), Certs("server.key"), ""});
  std::string input;
  for (int i = 0; i < 60; ++i) input += "user-" + std::to_string(i) + "\n";
  const RunResult result =
      Batch(server.url(), input, {"--concurrency", "3", "--cacert", Certs("ca.pem")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_LE(server.connection_count(), 6u);
}

// A 429 pauses every request, not only the one that got it. Nothing here assumes how fast the
// client reacts: the first request gets the 429, the other three first requests are held by the
// server until the client has said (--verbose) that it will retry after the pause, so their
// replies can only reach it during or after the pause. The lower bound checked is exact: the
// client saw the 429 after the server received its request, so no request started after it
// can arrive sooner than Retry-After later. A slow machine only makes requests later.
// Without the shared pause, the first held reply frees a slot and line e starts at once,
// well inside the Retry-After: the check fails (simulated by answering 503, which only waits
// for its own retry).
TEST(Batch, RateLimitSlowsTheWholeBatch) {
  constexpr auto kRetryAfter = std::chrono::seconds(2);
  std::mutex mutex;
  std::condition_variable announced_cv;
  bool announced = false;  // the client has logged its retry of the 429
  std::string limited;     // the distinct id that got the 429
  std::map<int, std::pair<std::string, Clock::time_point>> arrived;
  TestServer server([&](const httplib::Request& request, httplib::Response& response, int index) {
    const std::string id = DistinctId(request);
    std::unique_lock lock(mutex);
    arrived[index] = {id, Clock::now()};
    if (index == 0) {
      limited = id;
      response.status = 429;
      response.set_header("Retry-After", std::to_string(kRetryAfter.count()));
      return;
    }
    // The bound only keeps a broken client from hanging the test; it is checked below.
    if (id != limited) {
      announced_cv.wait_for(lock, std::chrono::seconds(120), [&] { return announced; });
    }
    lock.unlock();
    PerUser()(request, response, index);
  });
  // stderr joins stdout, so that the watcher sees the client's retry announcement as it comes.
  const auto watch = [&](pid_t, const std::string& output) {
    if (output.find("toucan-token: retrying request ") == std::string::npos) return;
    std::lock_guard lock(mutex);
    if (!announced) {
      announced = true;
      announced_cv.notify_all();
    }
  };
  const RunResult result = RunTool(
      {"-c", "exec \"$0\" \"$@\" 2>&1", TOUCAN_TOKEN_BINARY, "batch", "--concurrency", "4", "-v"},
      KeyAndUrl(server.url()), "a\nb\nc\nd\ne\nf\ng\nh\n", "/bin/sh", watch);
  ASSERT_EQ(result.exit_code, 0) << result.out;
  EXPECT_EQ(key_forms::FindKeyForm(result.out, kApiKey), std::nullopt) << result.out;
  std::vector<json> rows;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("{", 0) == 0) {
      rows.push_back(json::parse(line));
    } else {
      EXPECT_EQ(line.rfind("toucan-token: ", 0), 0u) << line;
    }
  }
  ASSERT_EQ(rows.size(), 8u) << result.out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["token"], "tok-" + std::string(1, static_cast<char>('a' + i))) << rows[i];
  }
  std::lock_guard lock(mutex);
  ASSERT_EQ(arrived.size(), 9u) << "8 lines and one retry";
  EXPECT_TRUE(announced) << result.out;
  const Clock::time_point limited_at = arrived.at(0).second;
  // Lines e to h start only after a held reply; the limited line's retry after its own wait.
  int seen_limited = 0;
  for (const auto& [index, request] : arrived) {
    const auto& [id, at] = request;
    const bool retry = id == limited && ++seen_limited == 2;
    if (!retry && id < "e") continue;
    EXPECT_GE(at - limited_at, kRetryAfter)
        << "request " << index << " (" << id << ") went out during the pause, "
        << std::chrono::duration<double>(at - limited_at).count() << " s after the 429";
  }
  EXPECT_EQ(seen_limited, 2);
}

TEST(Batch, LongRetryAfterStopsTheBatch) {
  TestServer server(Reply(429, "", "text/plain", {{"Retry-After", "600"}}));
  const RunResult result =
      Batch(server.url(), "u1\nu2\n{\"distinctId\":\"u3\"}\n", {"--concurrency", "1"});
  EXPECT_EQ(result.exit_code, 5);
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i]["line"], i + 1);
    EXPECT_EQ(rows[i]["error"]["exit"], 5);
    EXPECT_NE(rows[i]["error"]["message"].get<std::string>().find("retry after 600 s"),
              std::string::npos);
  }
  EXPECT_EQ(rows[0]["error"]["status"], 429);
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_TRUE(rows[i]["error"]["status"].is_null()) << rows[i];  // never sent: no reply
    EXPECT_EQ(rows[i]["error"]["message"].get<std::string>().rfind("not sent: ", 0), 0u) << rows[i];
  }
  EXPECT_EQ(rows[2]["distinctId"], "u3");
  EXPECT_EQ(server.request_count(), 1u);
  EXPECT_LT(result.seconds, 20.0);
}

// Set by one thread, awaited by a server handler: fixes the order in which replies reach the
// client without sleeping. The bound only keeps a broken client from hanging the test.
class Flag {
 public:
  void Set() {
    {
      std::lock_guard lock(mutex_);
      set_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::seconds(60), [this] { return set_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

// `status` with a Retry-After; `sent` is set once the whole reply is on the socket: httplib
// writes the headers before it calls the content provider, and the sink writes straight out.
void ReplyThenSet(httplib::Response& response, int status, const std::string& retry_after,
                  Flag& sent) {
  response.status = status;
  response.set_header("Retry-After", retry_after);
  const std::string body = status == 429 ? "slow down" : "busy";
  response.set_content_provider(
      body.size(), "text/plain",
      [body, &sent](std::size_t offset, std::size_t, httplib::DataSink& sink) {
        sink.write(body.data() + offset, body.size() - offset);
        sent.Set();
        return true;
      });
}

std::multiset<std::string> SentIds(const TestServer& server) {
  std::multiset<std::string> ids;
  for (const auto& request : server.requests()) {
    ids.insert(json::parse(request.body)["user"]["distinctId"].get<std::string>());
  }
  return ids;
}

// A batch whose line 1 gets the long Retry-After. Its row is written when the client judged
// that reply, so the stop is in force once `row_one` is set: handlers that wait for it answer
// only then (whatever the load, no request can finish earlier and make room for another).
RunResult BatchAfterRowOne(const std::string& url, const std::string& input,
                           const std::string& concurrency, Flag& row_one) {
  bool seen = false;
  RunResult result = RunTool({"batch", "--concurrency", concurrency}, KeyAndUrl(url), input,
                             TOUCAN_TOKEN_BINARY, [&](pid_t, const std::string& out) {
                               if (seen || out.find('\n') == std::string::npos) return;
                               seen = true;
                               row_one.Set();
                             });
  row_one.Set();  // a client that printed nothing must not leave handlers waiting
  EXPECT_EQ(key_forms::FindKeyForm(result.out + result.err, kApiKey), std::nullopt);
  return result;
}

// The server may have minted tokens for the requests in flight: they finish and their tokens
// are printed; only the lines never sent lose their turn.
TEST(Batch, LongRetryAfterLetsRequestsInFlightFinish) {
  Flag row_one;
  TestServer server([&](const httplib::Request& request, httplib::Response& response, int index) {
    const std::string id = DistinctId(request);
    if (id == "u1") {
      return Reply(429, "", "text/plain", {{"Retry-After", "3600"}})(request, response, index);
    }
    if (id == "u2") row_one.Wait();  // still in flight when the 429 arrives
    PerUser()(request, response, index);
  });
  const RunResult result = BatchAfterRowOne(server.url(), "u1\nu2\nu3\n", "2", row_one);
  EXPECT_EQ(result.exit_code, 5) << result.err;
  auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 3u) << result.out;
  EXPECT_EQ(rows[0]["error"]["exit"], 5);
  EXPECT_EQ(rows[0]["error"]["status"], 429);
  EXPECT_NE(rows[0]["error"]["message"].get<std::string>().find("retry after 3600 s"),
            std::string::npos)
      << rows[0];
  EXPECT_EQ(rows[1]["distinctId"], "u2");
  EXPECT_EQ(rows[1]["token"], "tok-u2") << rows[1];
  EXPECT_EQ(rows[2]["distinctId"], "u3");
  EXPECT_EQ(rows[2]["error"]["exit"], 5);
  EXPECT_TRUE(rows[2]["error"]["status"].is_null()) << rows[2];
  EXPECT_EQ(rows[2]["error"]["message"].get<std::string>().rfind(
                "not sent: the server asked to retry after 3600 s (at 20", 0),
            0u)
      << rows[2];
  EXPECT_EQ(SentIds(server), (std::multiset<std::string>{"u1", "u2"}));
  EXPECT_NE(result.err.find("toucan-token: 1 minted, 2 failed in "), std::string::npos)
      << result.err;
}

// A retry waiting its turn is not made: its row keeps the status of its last reply.
TEST(Batch, LongRetryAfterEndsRetriesWaitingTheirTurn) {
  Flag busy;
  Flag row_one;
  TestServer server([&](const httplib::Request& request, httplib::Response& response, int index) {
    const std::string id = DistinctId(request);
    if (id == "u1") {
      // After u2's 503: the client usually has u2's retry queued when this arrives (else u2 is
      // still in flight, and its row must say the same).
      busy.Wait();
      return Reply(429, "", "text/plain", {{"Retry-After", "3600"}})(request, response, index);
    }
    // u2's retry would wait 50 s, far longer than this test takes.
    if (id == "u2") return ReplyThenSet(response, 503, "50", busy);
    if (id == "u3") row_one.Wait();
    PerUser()(request, response, index);
  });
  const RunResult result = BatchAfterRowOne(server.url(), "u1\nu2\nu3\nu4\n", "3", row_one);
  EXPECT_EQ(result.exit_code, 5) << result.err;
  auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 4u) << result.out;
  EXPECT_EQ(rows[0]["error"]["status"], 429) << rows[0];
  EXPECT_EQ(rows[1]["error"]["exit"], 5) << rows[1];
  EXPECT_EQ(rows[1]["error"]["status"], 503) << rows[1];
  const std::string waiting = rows[1]["error"]["message"].dump();
  EXPECT_NE(waiting.find("the retry was not made: the server asked to retry after 3600 s (at 20"),
            std::string::npos)
      << waiting;
  EXPECT_NE(waiting.find("HTTP 503"), std::string::npos) << waiting;
  EXPECT_EQ(rows[2]["token"], "tok-u3") << rows[2];
  EXPECT_EQ(rows[3]["error"]["exit"], 5) << rows[3];
  EXPECT_TRUE(rows[3]["error"]["status"].is_null()) << rows[3];
  EXPECT_EQ(SentIds(server), (std::multiset<std::string>{"u1", "u2", "u3"}));
  EXPECT_NE(result.err.find("toucan-token: 1 minted, 3 failed in "), std::string::npos)
      << result.err;
  EXPECT_LT(result.seconds, 40.0) << "the retry's wait was not waited out";
}

// While requests in flight wind down after a long Retry-After, a signal still ends the batch
// within the 2 s grace, not after the request's --timeout.
TEST(Batch, SignalDuringTheWindDownStillEndsTheBatch) {
  TestServer* self = nullptr;
  TestServer server([&](const httplib::Request& request, httplib::Response& response, int index) {
    if (DistinctId(request) == "u1") {
      return Reply(429, "", "text/plain", {{"Retry-After", "3600"}})(request, response, index);
    }
    self->WaitForRelease();  // u2 hangs
  });
  self = &server;
  bool sent = false;
  // Readiness: line 1's row is out, so the 429 has been judged and the wind-down has begun.
  const RunResult result =
      RunTool({"batch", "--concurrency", "2", "--timeout", "200"}, KeyAndUrl(server.url()),
              "u1\nu2\nu3\n", TOUCAN_TOKEN_BINARY, [&](pid_t pid, const std::string& out) {
                if (sent || out.find('\n') == std::string::npos) return;
                sent = true;
                ::kill(pid, SIGINT);
              });
  EXPECT_TRUE(sent);
  EXPECT_EQ(result.exit_code, 130) << result.err;
  EXPECT_FALSE(result.signaled) << "the first signal winds down, it does not kill";
  EXPECT_NE(result.err.find("toucan-token: interrupted: 0 minted, "), std::string::npos)
      << result.err;
  auto rows = Rows(result.out);
  ASSERT_GE(rows.size(), 2u) << result.out;
  EXPECT_EQ(rows[0]["error"]["status"], 429);
  EXPECT_EQ(rows[1]["error"]["exit"], 130) << rows[1];
  EXPECT_LT(result.seconds, 60.0);
}

// Rows print numbers beyond a double's range as null and keep the token, like single mode.
TEST(Batch, NumbersBeyondADoubleInRepliesAreNull) {
  for (const auto& [fields, tail] : std::vector<std::pair<std::string, std::string>>{
           {R"("expiresIn":3600,"x":[1e400,-1e400],"y":1e400)",
            R"("expiresIn":3600,"expiresAt":")"},
           {R"("expiresIn":1e400,"x":[1e400,-1e400],"y":1e400)",
            R"("expiresIn":null,"expiresAt":null,"x":[null,null],"y":null})"}}) {
    SCOPED_TRACE(fields);
    TestServer server(TokenReply(fields));
    const RunResult result = Batch(server.url(), "u1\nu2\n");
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::istringstream lines(result.out);
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
      EXPECT_EQ(line.rfind(R"({"line":)" + std::to_string(count + 1) + R"(,"distinctId":"u)" +
                               std::to_string(count + 1) + R"(","token":")" + kToken + "\",",
                           0),
                0u)
          << line;
      EXPECT_NE(line.find(tail), std::string::npos) << line;
      const std::string end = R"(,"x":[null,null],"y":null})";
      EXPECT_EQ(line.substr(line.size() - end.size()), end) << line;
    }
    EXPECT_EQ(count, 2);
  }
}

TEST(Batch, ReadsAFileOrStandardInput) {
  TestServer server(PerUser());
  const std::string path =
      ::testing::TempDir() + "toucan-batch-" + std::to_string(getpid()) + ".jsonl";
  std::ofstream(path) << "f1\nf2";  // no final newline
  const RunResult from_file = RunChecked({"batch", path}, KeyAndUrl(server.url()));
  std::remove(path.c_str());
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(Rows(from_file.out).size(), 2u);
  EXPECT_EQ(RunChecked({"batch", "-"}, KeyAndUrl(server.url()), "s1\n").exit_code, 0);
  const RunResult empty = RunChecked({"batch"}, KeyAndUrl(server.url()), "");
  EXPECT_EQ(empty.exit_code, 0);
  EXPECT_EQ(empty.out, "");
  EXPECT_NE(empty.err.find("0 minted, 0 failed"), std::string::npos);
}

TEST(Batch, DryRunPrintsEachRequest) {
  TestServer server(PerUser());
  const RunResult result =
      RunChecked({"batch", "--dry-run", "-a", "r=1"}, {{"TOUCAN_BASE_URL", server.url()}},
                 "u1\n{\"distinctId\":\"u2\",\"bad\":1}\n");
  EXPECT_EQ(result.exit_code, 2);
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0],
            json::parse(R"({"line":1,"distinctId":"u1","method":"POST","url":")" + server.url() + R"(/embed/generate-token",
      "headers":{"x-api-key":"***","Content-Type":"application/json","Accept":"application/json",
      "User-Agent":"toucan-token/)" +
                        std::string(toucan::kVersion) + R"("},
      "body":{"user":{"distinctId":"u1","role":"explorer","attributes":{"r":"1"}}}})"));
  EXPECT_EQ(result.out.rfind(R"({"line":1,"distinctId":"u1","method":)", 0), 0u);  // as every row
  EXPECT_EQ(rows[1]["error"]["exit"], 2);
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(Batch, UsageErrors) {
  TestServer server(PerUser());
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"batch", "-u", "x"},
                                             {"batch", "-o", "token"},
                                             {"batch", "--concurrency", "0"},
                                             {"batch", "--concurrency", "257"},
                                             {"batch", "/nonexistent/users.jsonl"},
                                             {"batch", "--attributes", "-"},
                                             {"batch", "-", "--api-key-file", "-"},
                                             {"batch", "-a", "noequals"}}) {
    const RunResult result = RunChecked(args, KeyAndUrl(server.url()), "u1\n");
    EXPECT_EQ(result.exit_code, 2) << args.back();
    ExpectOneErrorLine(result, "");
  }
  EXPECT_EQ(server.request_count(), 0u);
}

// With stderr on a terminal (script(1) provides one), progress is redrawn in place; stdout,
// redirected to a file, still holds only the rows.
TEST(Batch, ProgressOnATerminal) {
  TestServer server(Reply(200, R"({"token":"t","expiresIn":60})"));
  const std::string dir = ::testing::TempDir() + "toucan-tty-" + std::to_string(getpid());
  const std::string out = dir + ".out";
  const std::string in = dir + ".in";
  std::ofstream(in) << "u1\n\nu2\nu3\n";
  const std::string command = std::string(TOUCAN_TOKEN_BINARY) + " batch " + in + " > " + out;
  Env env = KeyAndUrl(server.url());
  env["TERM"] = "dumb";
  const RunResult result =
      RunTool({"-qec", command, "/dev/null"}, env, std::nullopt, "/usr/bin/script");
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("\r\033[Ktoucan-token: "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("3/3 done, 0 failed, "), std::string::npos) << result.out;  // live line
  std::remove(in.c_str());
  EXPECT_NE(result.out.find("toucan-token: 3 minted, 0 failed in "), std::string::npos)
      << result.out;
  std::ifstream rows_file(out);
  std::stringstream rows;
  rows << rows_file.rdbuf();
  std::remove(out.c_str());
  EXPECT_EQ(Rows(rows.str()).size(), 3u);
  EXPECT_EQ(rows.str().find('\033'), std::string::npos);
  // Without a terminal there is only the summary.
  const RunResult piped = RunChecked({"batch"}, KeyAndUrl(server.url()), "u1\n");
  EXPECT_EQ(piped.err.find('\r'), std::string::npos);
}

}  // namespace
}  // namespace toucan::test
