// A hostile server and hostile input through the real binary: a server that echoes the key in
// every form it can, replies and inputs nested far past the limit, invalid UTF-8 in what reaches
// a message, batch input that can be read only once, and diagnostics with stderr closed.
#include <fcntl.h>
#include <gtest/gtest-spi.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;

// A second key for the cases where JSON escaping matters: it holds `"` and `\`.
constexpr const char* kQuoteKey = "tk_test\"Quote\\Back_0123456789";

// ---- checks --------------------------------------------------------------------------------

// Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool ValidUtf8(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t extra = 0;
    std::uint32_t code = 0, least = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1, code = c & 0x1Fu, least = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, code = c & 0x0Fu, least = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, code = c & 0x07u, least = 0x10000;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3Fu);
    }
    if (code < least || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

// Every stderr line is valid UTF-8 with no raw control character (server text is escaped).
void ExpectCleanStderr(const std::string& err) {
  for (const std::string& line : Lines(err)) {
    EXPECT_TRUE(ValidUtf8(line)) << "stderr line is not valid UTF-8: " << line;
    for (const char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      EXPECT_FALSE(byte < 0x20 || byte == 0x7F)
          << "raw control character " << static_cast<int>(byte) << " on stderr: " << line;
    }
  }
}

void CollectStrings(const json& value, std::vector<std::string>& out) {
  if (value.is_string()) out.push_back(value.get<std::string>());
  if (value.is_object()) {
    for (const auto& [name, inner] : value.items()) {
      out.push_back(name);
      CollectStrings(inner, out);
    }
  }
  if (value.is_array()) {
    for (const auto& inner : value) CollectStrings(inner, out);
  }
}

// The key in no form on either stream, nor in any string of a JSON output line once decoded
// (a batch row's message is escaped twice: the server's JSON, then the row's).
void ExpectNoKey(const RunResult& result, const std::string& key) {
  EXPECT_EQ(key_forms::FindKeyForm(result.out, key), std::nullopt)
      << "the API key (in some form) on stdout: " << result.out;
  EXPECT_EQ(key_forms::FindKeyForm(result.err, key), std::nullopt)
      << "the API key (in some form) on stderr: " << result.err;
  for (const std::string& line : Lines(result.out)) {
    const json parsed = json::parse(line, nullptr, false);
    if (parsed.is_discarded()) continue;
    std::vector<std::string> strings;
    CollectStrings(parsed, strings);
    for (const std::string& text : strings) {
      EXPECT_EQ(key_forms::FindKeyForm(text, key), std::nullopt)
          << "the API key (in some form) in a printed string: " << text;
    }
  }
}

// Runs the tool with `key` as TOUCAN_API_KEY against `url`: RunChecked (the fixture's key and
// the stderr prefix), the key in use in no form, and clean stderr lines.
RunResult RunWithKey(const std::vector<std::string>& args, const std::string& key,
                     const std::string& url,
                     const std::optional<std::string>& input = std::nullopt) {
  const RunResult result =
      RunChecked(args, {{"TOUCAN_API_KEY", key}, {"TOUCAN_BASE_URL", url}}, input);
  ExpectNoKey(result, key);
  ExpectCleanStderr(result.err);
  EXPECT_FALSE(result.signaled) << "killed by signal " << result.exit_code - 128 << "\n"
                                << result.err;
  EXPECT_LT(result.seconds, 20.0);
  return result;
}

// Every stdout line a valid UTF-8 JSON object, the rows in input order (blank lines keep their
// numbers, so these need not be consecutive).
std::vector<json> Rows(const std::string& out) {
  std::vector<json> rows;
  for (const std::string& line : Lines(out)) {
    EXPECT_TRUE(ValidUtf8(line)) << "row is not valid UTF-8: " << line;
    const json row = json::parse(line, nullptr, false);
    EXPECT_FALSE(row.is_discarded()) << "row is not JSON: " << line;
    EXPECT_TRUE(row.is_object()) << line;
    if (row.is_object()) rows.push_back(row);
  }
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_LT(rows[i - 1]["line"], rows[i]["line"]) << "rows out of input order";
  }
  return rows;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

// ---- forms of the key ----------------------------------------------------------------------

std::string Lower(std::string text) {
  for (char& c : text) c = key_forms::LowerAscii(c);
  return text;
}

std::string Html(const std::string& key) {
  return "<!DOCTYPE html>\n<html><head><title>Forbidden: " + key +
         "</title></head>\n<body><h1>Error</h1><p>The key <code>" + key +
         "</code> is not valid here.</p>\n</body></html>\n";
}

std::string TokenJson(const json& extra) {
  json reply = {{"token", kToken}, {"expiresIn", 3600}};
  for (const auto& [name, value] : extra.items()) reply[name] = value;
  return reply.dump();
}

// ---- servers -----------------------------------------------------------------------------

// A loopback server that records every byte each connection sends and answers each whole
// request with `reply`, one thread per connection, reading on until the client closes: anything
// written to a socket after a reply arrives too.
class RecordingServer {
 public:
  explicit RecordingServer(std::string reply) : reply_(std::move(reply)) {
    sockaddr_in address{};
    listener_ = BindLoopback(address);
    if (::listen(listener_, 64) != 0) throw std::runtime_error("cannot listen");
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] {
      for (;;) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) return;  // shut down
        std::lock_guard lock(mutex_);
        ++accepted_;
        connections_.emplace_back([this, fd] {
          Serve(fd);
          ::close(fd);
        });
      }
    });
  }
  ~RecordingServer() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    for (auto& connection : connections_) connection.join();
  }
  RecordingServer(const RecordingServer&) = delete;
  RecordingServer& operator=(const RecordingServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  int answered() const {
    std::lock_guard lock(mutex_);
    return answered_;
  }
  std::string received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  void Serve(int fd) {
    timeval limit{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    std::string pending;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      pending.append(buffer, static_cast<std::size_t>(n));
      {
        std::lock_guard lock(mutex_);
        received_.append(buffer, static_cast<std::size_t>(n));
      }
      for (;;) {  // every whole request in `pending` gets its reply
        const auto head = pending.find("\r\n\r\n");
        if (head == std::string::npos) break;
        std::size_t length = 0;
        const std::string lower = Lower(pending.substr(0, head));
        if (const auto at = lower.find("content-length:"); at != std::string::npos) {
          length = std::stoul(lower.substr(at + 15));
        }
        if (pending.size() < head + 4 + length) break;
        pending.erase(0, head + 4 + length);
        [[maybe_unused]] const auto sent = ::send(fd, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        std::lock_guard lock(mutex_);
        ++answered_;
      }
    }
  }

  std::string reply_;
  int listener_ = -1;
  int port_ = 0;
  mutable std::mutex mutex_;
  int accepted_ = 0;
  int answered_ = 0;
  std::string received_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;
};

// What the checks in `check` report, intercepted: the checks below must be able to fail.
template <typename Check>
std::string FailuresOf(Check check) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    check();
  }
  std::string messages;
  for (int i = 0; i < results.size(); ++i) {
    messages += std::string(results.GetTestPartResult(i).message()) + "\n";
  }
  return messages;
}

TEST(HostileServer, ChecksRejectWhatTheyMust) {
  for (const char* bad :
       {"\xff", "a\xc3(", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    EXPECT_FALSE(ValidUtf8(bad)) << bad;
  }
  EXPECT_TRUE(ValidUtf8("caf\xc3\xa9 \xef\xbf\xbd \xf0\x9f\x90\xa6"));
  const auto fails = [](const std::string& failures, const std::string& says) {
    EXPECT_NE(failures.find(says), std::string::npos) << "expected \"" << says << "\", got:\n"
                                                      << failures;
  };
  fails(FailuresOf([] { ExpectCleanStderr("toucan-token: bad \x01 byte\n"); }),
        "control character");
  fails(FailuresOf([] { ExpectCleanStderr("toucan-token: bad \xff byte\n"); }), "not valid UTF-8");
  fails(FailuresOf([] { Rows("{\"line\":1}\n{\"line\":2,\"x\":\"\xff\"}\n"); }), "not valid UTF-8");
  fails(FailuresOf([] { Rows("{\"line\":1}\n{\"line\":2\n"); }), "not JSON");
  fails(FailuresOf([] { Rows("{\"line\":2}\n{\"line\":1}\n"); }), "input order");
  // A key that a batch row's message escapes twice is still found.
  RunResult row;
  row.out = json{{"error", {{"message", R"(HTTP 401: {"detail":"tk_test\"Quote")"}}}}.dump() + "\n";
  fails(FailuresOf([&] { ExpectNoKey(row, kQuoteKey); }), "in a printed string");
  RunResult plain;
  plain.err = "toucan-token: k=" + key_forms::PercentEncoded(kApiKey, false, false) + "\n";
  fails(FailuresOf([&] { ExpectNoKey(plain, kApiKey); }), "on stderr");
}

// ---- 1. the key echoed back ----------------------------------------------------------------

struct EchoCase {
  std::string name;
  std::string key;
  Handler handler;
  int exit_code;  // as the exit-status table says
  int status;
  std::vector<std::string> extra_args = {};
  // For a success: fields that must be printed as given here (the key replaced by "***").
  json expected_fields = json::object();
};

void ExpectFields(const json& printed, const json& expected) {
  for (const auto& [name, value] : expected.items()) {
    ASSERT_TRUE(printed.contains(name)) << "field " << name << " dropped: " << printed.dump();
    EXPECT_EQ(printed[name], value) << name;
  }
}

// Each case in single mode and as a batch of three lines, with and without --verbose.
void RunEchoCase(const EchoCase& c) {
  SCOPED_TRACE(c.name);
  TestServer server(c.handler);
  for (const bool verbose : {false, true}) {
    SCOPED_TRACE(verbose ? "--verbose" : "quiet");
    std::vector<std::string> common{"--retries", "0"};
    if (verbose) common.emplace_back("-v");
    common.insert(common.end(), c.extra_args.begin(), c.extra_args.end());

    std::vector<std::string> single{"-u", "u1"};
    single.insert(single.end(), common.begin(), common.end());
    const RunResult one = RunWithKey(single, c.key, server.url());
    EXPECT_EQ(one.exit_code, c.exit_code) << one.err;
    if (c.exit_code == 0) {
      const json printed = json::parse(one.out, nullptr, false);
      ASSERT_FALSE(printed.is_discarded()) << one.out;
      EXPECT_EQ(printed.value("token", ""), kToken);
      ExpectFields(printed, c.expected_fields);
    } else {
      EXPECT_EQ(one.out, "");
      if (!verbose) ExpectOneErrorLine(one, "");
    }

    std::vector<std::string> batch{"batch"};
    batch.insert(batch.end(), common.begin(), common.end());
    const RunResult many = RunWithKey(batch, c.key, server.url(), "u1\nu2\nu3\n");
    EXPECT_EQ(many.exit_code, c.exit_code) << many.err;
    const auto rows = Rows(many.out);
    ASSERT_EQ(rows.size(), 3u) << many.out;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(rows[i]["distinctId"], "u" + std::to_string(i + 1));
      if (c.exit_code == 0) {
        EXPECT_EQ(rows[i].value("token", ""), kToken) << rows[i].dump();
        ExpectFields(rows[i], c.expected_fields);
      } else {
        ASSERT_TRUE(rows[i].contains("error")) << rows[i].dump();
        EXPECT_EQ(rows[i]["error"]["exit"], c.exit_code) << rows[i].dump();
        EXPECT_EQ(rows[i]["error"]["status"], c.status) << rows[i].dump();
      }
    }
  }
}

TEST(HostileServer, KeyInANonJsonSuccessBodyIsNeverShown) {
  const std::string key = kApiKey;
  for (const EchoCase& c : std::vector<EchoCase>{
           {"plain text", key, Reply(200, "welcome, holder of " + key + "!", "text/plain"), 7, 200},
           {"broken JSON", key, Reply(200, R"({"token": )" + key + ", oops"), 7, 200},
           {"JSON without token", key, Reply(200, json{{"apiKey", key}}.dump()), 7, 200},
           {"quote key in broken JSON", kQuoteKey,
            Reply(200, std::string(R"({"token":)") + kQuoteKey + "}"), 7, 200},
       }) {
    RunEchoCase(c);
  }
}

TEST(HostileServer, KeyInAnHtmlErrorPageIsNeverShown) {
  const std::string key = kApiKey;
  for (const EchoCase& c : std::vector<EchoCase>{
           {"500", key, Reply(500, Html(key), "text/html"), 5, 500},
           {"404", key, Reply(404, Html(key), "text/html"), 4, 404},
           {"404 lower-cased", key, Reply(404, Html(Lower(key)), "text/html"), 4, 404},
           {"500 quote key", kQuoteKey, Reply(500, Html(kQuoteKey), "text/html"), 5, 500},
       }) {
    RunEchoCase(c);
  }
}

TEST(HostileServer, KeyWithQuoteAndBackslashInAJsonErrorWithoutMessageIsNeverShown) {
  const std::string key = kQuoteKey;
  const std::string detail = json{{"detail", "unknown key " + key}, {"code", 17}}.dump();
  ASSERT_NE(detail.find(R"(tk_test\"Quote\\Back)"), std::string::npos) << "JSON-escaped";
  for (const EchoCase& c : std::vector<EchoCase>{
           {"401 detail", key, Reply(401, detail), 3, 401},
           {"403 nested", key,
            Reply(403, json{{"errors", json::array({json{{"key", key}}})}}.dump()), 3, 403},
           {"422 detail", key, Reply(422, detail), 4, 422},
           {"400 error object", key,
            Reply(400, json{{"error", {{"given", key}, {"why", "revoked"}}}}.dump()), 4, 400},
           {"401 error string", key, Reply(401, json{{"error", "bad key " + key}}.dump()), 3, 401},
           {"401 message, \\u escapes", key,
            Reply(401, R"({"message":"bad key tk_test\u0022Quote\u005cBack_0123456789"})"), 3, 401},
       }) {
    RunEchoCase(c);
  }
}

TEST(HostileServer, KeyAcrossTheExcerptCutIsNeverShown) {
  std::vector<EchoCase> cases;
  for (const std::size_t filler : {280u, 290u, 292u, 293u, 296u, 299u, 300u}) {
    const std::string name = std::to_string(filler) + " filler";
    cases.push_back({name + " plain", kApiKey,
                     Reply(400, std::string(filler, 'x') + kApiKey + " tail", "text/plain"), 4,
                     400});
    cases.push_back({name + " message", kApiKey,
                     Reply(401, json{{"message", std::string(filler, 'm') + kApiKey}}.dump()), 3,
                     401});
    cases.push_back({name + " quote key message", kQuoteKey,
                     Reply(422, json{{"message", std::string(filler, 'q') + kQuoteKey}}.dump()), 4,
                     422});
  }
  // Escaping lengthens the text before the cut: control characters then the key.
  cases.push_back(
      {"control filler", kApiKey,
       Reply(500, std::string(60, '\x01') + std::string(230, 'y') + kApiKey + "z", "text/plain"), 5,
       500});
  cases.push_back({"newline filler quote key", kQuoteKey,
                   Reply(404, std::string(250, '\n') + kQuoteKey + "z", "text/plain"), 4, 404});
  for (const EchoCase& c : cases) RunEchoCase(c);
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

TEST(HostileServer, KeyInOtherFormsAndFragmentsInABodyIsNeverShown) {
  const std::string key = kApiKey;
  const std::string tail = key.substr(key.size() - 12);  // "key ending in ..."
  const std::string head = key.substr(0, 10);
  std::vector<EchoCase> cases = {
      {"\\u-escaped message", key,
       Reply(401, R"({"message":"bad key )" + key_forms::UnicodeEscaped(key) + R"("})"), 3, 401},
      {"\\u-escaped quote key", kQuoteKey,
       Reply(401, R"({"message":"bad key )" + key_forms::UnicodeEscaped(kQuoteKey) + R"("})"), 3,
       401},
      {"percent-encoded in a message", key,
       Reply(400, json{{"message", "k=" + key_forms::PercentEncoded(key, true, true)}}.dump()), 4,
       400},
      {"percent-encoded lower in plain text", key,
       Reply(404, "k=" + key_forms::PercentEncoded(key, false, false), "text/plain"), 4, 404},
      {"lower-cased in a message", key, Reply(403, json{{"message", Lower(key)}}.dump()), 3, 403},
      {"upper-cased in a message", key, Reply(403, json{{"message", Upper(key)}}.dump()), 3, 403},
      {"last 12 characters", key,
       Reply(401, json{{"message", "key ending in " + tail + " is revoked"}}.dump()), 3, 401},
      {"first 10 characters", key, Reply(500, "key " + head + "... unknown", "text/plain"), 5, 500},
      {"\\u-escaped in a 2xx that is not a token", key,
       Reply(200, R"({"error":")" + key_forms::UnicodeEscaped(key) + R"("})"), 7, 200},
      {"\\u-escaped in an extra field",
       key,
       Reply(200, TokenJson(json::object())
                      .insert(1, R"("note":")" + key_forms::UnicodeEscaped(key) + R"(",)")),
       0,
       200,
       {},
       {{"note", "***"}}},
  };
  for (const std::size_t filler : {250u, 290u, 296u}) {
    cases.push_back({std::to_string(filler) + " filler in a 2xx that is not JSON", key,
                     Reply(200, std::string(filler, 'w') + key + " end", "text/html"), 7, 200});
  }
  for (const EchoCase& c : cases) RunEchoCase(c);
}

TEST(HostileServer, KeyInARedirectLocationIsNeverShown) {
  const std::string key = kApiKey;
  const auto redirect = [](int status, const std::string& location) {
    return Reply(status, "", "text/plain", {{"Location", location}});
  };
  for (const EchoCase& c : std::vector<EchoCase>{
           {"verbatim", key, redirect(302, "https://evil.example/cb?k=" + key), 4, 302},
           {"percent upper", key,
            redirect(302,
                     "https://evil.example/cb?k=" + key_forms::PercentEncoded(key, true, true)),
            4, 302},
           {"percent lower", key,
            redirect(301,
                     "https://evil.example/cb?k=" + key_forms::PercentEncoded(key, false, true)),
            4, 301},
           {"percent minimal upper", key,
            redirect(307,
                     "https://evil.example/cb?k=" + key_forms::PercentEncoded(key, true, false)),
            4, 307},
           {"percent minimal lower", key,
            redirect(308,
                     "https://evil.example/cb?k=" + key_forms::PercentEncoded(key, false, false)),
            4, 308},
           {"lower-cased host", key, redirect(302, "https://" + Lower(key) + ".evil.example/"), 4,
            302},
           {"all at once", key,
            redirect(303, "https://" + Lower(key) + ".evil.example/a/" +
                              key_forms::PercentEncoded(key, true, true) +
                              "?l=" + key_forms::PercentEncoded(key, false, true)),
            4, 303},
           {"quote key percent", kQuoteKey,
            redirect(302, "https://evil.example/?k=" +
                              key_forms::PercentEncoded(kQuoteKey, true, false)),
            4, 302},
       }) {
    RunEchoCase(c);
  }
}

TEST(HostileServer, KeyInAFieldOfASuccessfulReplyIsPrintedAsStars) {
  const std::string key = kApiKey;
  for (const EchoCase& c : std::vector<EchoCase>{
           {"note",
            key,
            Reply(200, TokenJson({{"note", "issued for " + key + " today"}})),
            0,
            200,
            {},
            {{"note", "issued for *** today"}}},
           {"whole value",
            key,
            Reply(200, TokenJson({{"apiKey", key}})),
            0,
            200,
            {},
            {{"apiKey", "***"}}},
           {"quote key",
            kQuoteKey,
            Reply(200, TokenJson({{"note", std::string("for ") + kQuoteKey + "."}})),
            0,
            200,
            {},
            {{"note", "for ***."}}},
           {"nested",
            key,
            Reply(200, TokenJson({{"meta", {{"keys", json::array({key, "other"})}, {"n", 1}}}})),
            0,
            200,
            {},
            json::parse(R"({"meta":{"keys":["***","other"],"n":1}})")},
           {"lower-cased",
            key,
            Reply(200, TokenJson({{"note", Lower(key)}})),
            0,
            200,
            {},
            json::object()},
           {"percent-encoded",
            key,
            Reply(200, TokenJson({{"link", "https://x.example/?k=" +
                                               key_forms::PercentEncoded(key, true, true)},
                                  {"link2", "https://x.example/?k=" +
                                                key_forms::PercentEncoded(key, false, true)}})),
            0,
            200,
            {},
            json::object()},
           {"key as a field name",
            key,
            Reply(200, TokenJson({{key, "v"}, {"kept", "yes"}})),
            0,
            200,
            {},
            {{"kept", "yes"}}},
       }) {
    RunEchoCase(c);
  }
  // The field that says *** is really there in the plain output too, not dropped.
  TestServer server(Reply(200, TokenJson({{"note", "issued for " + key + " today"}})));
  const RunResult result = RunWithKey({"-u", "u1"}, key, server.url());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find(R"("note":"issued for *** today")"), std::string::npos) << result.out;
}

TEST(HostileServer, KeyInReplyHeadersIsNeverShownInVerboseMode) {
  const std::string key = kApiKey;
  const std::multimap<std::string, std::string> echo = {
      {"X-Echo-Key", key},
      {"X-Echo-Lower", Lower(key)},
      {"X-Echo-Percent", key_forms::PercentEncoded(key, true, true)},
      {"Set-Cookie", "k=" + key_forms::PercentEncoded(key, false, true) + "; Path=/"}};
  auto with = [&](std::multimap<std::string, std::string> headers,
                  const std::multimap<std::string, std::string>& more) {
    headers.insert(more.begin(), more.end());
    return headers;
  };
  for (const EchoCase& c : std::vector<EchoCase>{
           {"200", key, Reply(200, TokenJson(json::object()), "application/json", echo), 0, 200},
           {"401 WWW-Authenticate", key,
            Reply(401, "", "text/plain",
                  with(echo,
                       {{"WWW-Authenticate", "Bearer error=\"invalid\", key=\"" + key + "\""}})),
            3, 401},
           {"503 Retry-After", key,
            Reply(503, "", "text/plain", with(echo, {{"Retry-After", key}})), 5, 503},
           {"429 Retry-After", key,
            Reply(429, "", "text/plain",
                  with(echo, {{"Retry-After", key_forms::PercentEncoded(key, true, true)}})),
            5, 429},
           {"quote key", kQuoteKey,
            Reply(400, "", "text/plain",
                  {{"X-Echo-Key", kQuoteKey},
                   {"X-Echo-Percent", key_forms::PercentEncoded(kQuoteKey, true, true)}}),
            4, 400},
       }) {
    RunEchoCase(c);
  }
}

TEST(HostileServer, TokenHoldingTheKeyIsRefusedInEveryOutputMode) {
  const std::string key = kApiKey;
  for (const std::string& token : {key, "abc." + key + ".def", "abc." + Lower(key),
                                   "abc." + key_forms::PercentEncoded(key, true, false),
                                   "abc." + key.substr(8, 12) + ".def"}) {
    SCOPED_TRACE(token);
    TestServer server(Reply(200, json{{"token", token}, {"expiresIn", 60}}.dump()));
    for (const char* output : {"json", "token", "env", "header"}) {
      const RunResult result = RunWithKey({"-u", "u1", "-o", output}, key, server.url());
      EXPECT_EQ(result.exit_code, 7) << output << "\n" << result.out << result.err;
      ExpectOneErrorLine(result, "");
    }
    const RunResult batch = RunWithKey({"batch"}, key, server.url(), "u1\nu2\n");
    EXPECT_EQ(batch.exit_code, 7) << batch.out;
    for (const json& row : Rows(batch.out)) EXPECT_EQ(row["error"]["exit"], 7) << row.dump();
  }
  // A key in expiresIn: no usable expiry, and the warning does not quote it.
  TestServer server(Reply(200, json{{"token", kToken}, {"expiresIn", "1h" + key}}.dump()));
  const RunResult result = RunWithKey({"-u", "u1"}, key, server.url());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["expiresIn"], nullptr);
}

// ---- 2. deep JSON --------------------------------------------------------------------------

std::string DeepArrays(std::size_t depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

std::string DeepObjects(std::size_t depth) {
  std::string text;
  text.reserve(depth * 6 + 2);
  for (std::size_t i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text.append(depth, '}');
  return text;
}

TEST(HostileServer, DeepAttributesThroughTheBinaryAreAnInputError) {
  TestServer server(TokenReply());
  const std::string arrays = TempFile("deep-arrays.json", "{\"a\":" + DeepArrays(100000) + "}");
  const std::string objects = TempFile("deep-objects.json", DeepObjects(100000));
  for (const std::vector<std::string>& args : {
           std::vector<std::string>{"--attributes", "@" + arrays},
           {"--attributes", "@" + objects},
           {"--permissions", "@" + objects},
           // One argument is limited to 128 KiB by the kernel: 60,000 levels still fit.
           {"-a", "deep:=" + DeepArrays(60000)},
       }) {
    SCOPED_TRACE(args[0] + " " + args[1].substr(0, 40));
    const RunResult result = RunWithKey({"-u", "u1", args[0], args[1]}, kApiKey, server.url());
    EXPECT_EQ(result.exit_code, 2) << result.err;
    ExpectOneErrorLine(result, "deeper than 64");
  }
  const RunResult piped = RunWithKey({"-u", "u1", "--attributes", "-"}, kApiKey, server.url(),
                                     "{\"a\":" + DeepArrays(100000) + "}");
  EXPECT_EQ(piped.exit_code, 2) << piped.err;
  ExpectOneErrorLine(piped, "deeper than 64");
  std::remove(arrays.c_str());
  std::remove(objects.c_str());
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(HostileServer, DeepBatchLineIsAnErrorRowAndTheOthersAreMinted) {
  TestServer server(TokenReply());
  for (const std::string& deep :
       {"{\"distinctId\":\"u2\",\"attributes\":{\"a\":" + DeepArrays(100000) + "}}",
        "{\"distinctId\":\"u2\",\"permissions\":" + DeepObjects(100000) + "}",
        "{\"distinctId\":\"u2\",\"attributes\":" + std::string(100000, '[')}) {
    const std::size_t before = server.request_count();
    const RunResult result = RunWithKey({"batch"}, kApiKey, server.url(), "u1\n" + deep + "\nu3\n");
    EXPECT_EQ(result.exit_code, 2) << result.err;
    const auto rows = Rows(result.out);
    ASSERT_EQ(rows.size(), 3u) << result.out.substr(0, 2000);
    EXPECT_EQ(rows[0].value("token", ""), kToken);
    ASSERT_TRUE(rows[1].contains("error")) << rows[1].dump();
    EXPECT_EQ(rows[1]["error"]["exit"], 2);
    EXPECT_EQ(rows[1]["error"]["status"], nullptr);
    EXPECT_EQ(rows[2].value("token", ""), kToken);
    EXPECT_EQ(rows[2]["distinctId"], "u3");
    EXPECT_LT(rows[1].dump().size(), 4096u) << "the message quotes the line whole";
    EXPECT_EQ(server.request_count() - before, 2u);
  }
}

TEST(HostileServer, DeepReplyIsABadResponse) {
  for (const std::string& body : {
           std::string(R"({"token":"t","x":)") + DeepArrays(400000) + "}",  // ~800 KB
           DeepArrays(400000),
           std::string(800000, '['),
           std::string(R"({"token":"t","x":)") + DeepObjects(130000) + "}",
       }) {
    SCOPED_TRACE(body.substr(0, 30) + "... " + std::to_string(body.size()) + " bytes");
    ASSERT_LT(body.size(), 1024u * 1024u);
    TestServer server(Reply(200, body));
    const RunResult one = RunWithKey({"-u", "u1"}, kApiKey, server.url());
    EXPECT_EQ(one.exit_code, 7) << one.err;
    ExpectOneErrorLine(one, "");
    EXPECT_LT(one.seconds, 5.0);
    const RunResult many = RunWithKey({"batch"}, kApiKey, server.url(), "u1\nu2\n");
    EXPECT_EQ(many.exit_code, 7) << many.err;
    const auto rows = Rows(many.out);
    ASSERT_EQ(rows.size(), 2u);
    for (const json& row : rows) EXPECT_EQ(row["error"]["exit"], 7) << row.dump();
  }
}

// ---- 3. invalid UTF-8 in messages ----------------------------------------------------------

TEST(HostileServer, InvalidUtf8InABatchLineIsAnErrorRowAndTheBatchGoesOn) {
  TestServer server(TokenReply());
  const std::string input =
      "u1\n"
      "{\"distinctId\":\"u2\",\"role\":tru\xc3\xa9}\n"
      "u3\n";
  const RunResult result = RunWithKey({"batch"}, kApiKey, server.url(), input);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 3u) << result.out;
  EXPECT_EQ(rows[0].value("token", ""), kToken);
  EXPECT_EQ(rows[1]["error"]["exit"], 2) << rows[1].dump();
  EXPECT_EQ(rows[2].value("token", ""), kToken) << rows[2].dump();
  EXPECT_EQ(server.request_count(), 2u);

  // Invalid bytes and control characters in the places a message may quote.
  const std::string worse =
      "u1\n"
      "{\"distinctId\":\"u2\",\"role\":tru\xc3\xa9}\n"
      "{\"distinctId\":\"u\xff\x01x\"}\n"
      "{\"distinctId\":\"u4\",\"attr\xfe\x01ibutes\":{}}\n"
      "bare\xfeid\x01\n"
      "{\"distinctId\":\"u6\",\"attributes\":{\"k\xc0\xaf\":\"v\"}}\n"
      "u7\n";
  const RunResult more = RunWithKey({"batch"}, kApiKey, server.url(), worse);
  EXPECT_EQ(more.exit_code, 2) << more.err;
  rows = Rows(more.out);
  ASSERT_EQ(rows.size(), 7u) << more.out;
  for (const std::size_t i : {0u, 6u}) EXPECT_EQ(rows[i].value("token", ""), kToken);
  for (const std::size_t i : {1u, 2u, 3u, 4u, 5u}) {
    EXPECT_EQ(rows[i]["error"]["exit"], 2) << rows[i].dump();
    const std::string message = rows[i]["error"].value("message", "");
    EXPECT_FALSE(message.empty());
    for (const char c : message) {
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20) << "raw control character: " << message;
    }
  }
}

TEST(HostileServer, InvalidUtf8AndControlsInALocationAreEscaped) {
  const RecordingServer server(
      "HTTP/1.1 302 Found\r\nLocation: http://x/\xff\x01\r\nContent-Length: 0\r\n\r\n");
  const RunResult result = RunWithKey({"-u", "u1"}, kApiKey, server.url());
  EXPECT_EQ(result.exit_code, 4) << result.err;
  ExpectOneErrorLine(result, "302");
  EXPECT_EQ(result.err.find('\x01'), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\xff'), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("\xef\xbf\xbd"), std::string::npos) << "U+FFFD: " << result.err;
  EXPECT_NE(result.err.find("http://x/"), std::string::npos) << result.err;

  const RunResult batch = RunWithKey({"batch"}, kApiKey, server.url(), "u1\nu2\n");
  EXPECT_EQ(batch.exit_code, 4) << batch.err;
  const auto rows = Rows(batch.out);
  ASSERT_EQ(rows.size(), 2u);
  for (const json& row : rows) {
    EXPECT_EQ(row["error"]["exit"], 4);
    EXPECT_EQ(row["error"]["status"], 302);
    const std::string message = row["error"].value("message", "");
    EXPECT_EQ(message.find('\x01'), std::string::npos) << row.dump();
    EXPECT_NE(message.find("\xef\xbf\xbd"), std::string::npos) << row.dump();
  }
}

TEST(HostileServer, ExcerptCutNeverSplitsACharacterAndBadBytesAreReplaced) {
  std::vector<std::string> bodies;
  for (const std::size_t filler : {296u, 297u, 298u, 299u, 300u}) {
    bodies.push_back(std::string(filler, 'x') +
                     "\xe2\x82\xac\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xc3\xa9 end");
  }
  std::string euros;
  for (int i = 0; i < 400; ++i) euros += "\xe2\x82\xac";
  bodies.push_back(euros);
  bodies.push_back(std::string(299, 'x') + "\xf0\x9f\x98");  // cut short by the server
  bodies.push_back("a\xff" + std::string("b\x01\x1b[31mc\xed\xa0\x80\xc0\xaf"));
  for (const std::string& body : bodies) {
    SCOPED_TRACE(std::to_string(body.size()) + " bytes");
    TestServer server(Reply(400, body, "text/plain"));
    const RunResult one = RunWithKey({"-u", "u1"}, kApiKey, server.url());
    EXPECT_EQ(one.exit_code, 4);
    ExpectOneErrorLine(one, "HTTP 400");
    const RunResult batch = RunWithKey({"batch"}, kApiKey, server.url(), "u1\nu2\n");
    EXPECT_EQ(batch.exit_code, 4);
    EXPECT_EQ(Rows(batch.out).size(), 2u);
  }
  // Invalid UTF-8 in a field of a 2xx: a bad reply, quoted cleanly.
  for (const std::string& note : {std::string("a\xff"
                                              "b\x01"
                                              "c"),
                                  std::string("\xed\xa0\x80")}) {
    TestServer server(
        Reply(200, std::string(R"({"token":"t","expiresIn":60,"note":")") + note + "\"}"));
    const RunResult one = RunWithKey({"-u", "u1"}, kApiKey, server.url());
    EXPECT_EQ(one.exit_code, 7) << one.out;
    ExpectOneErrorLine(one, "");
    const RunResult batch = RunWithKey({"batch"}, kApiKey, server.url(), "u1\n");
    EXPECT_EQ(batch.exit_code, 7);
    EXPECT_EQ(Rows(batch.out).size(), 1u);
  }
}

// ---- 4. inputs that can be read only once --------------------------------------------------

// A FIFO and a writer that gives it `content` once, as soon as a reader opens it. Should the
// tool open it a second time, that open would block for ever: after `patience` the feeder
// releases it with an empty write end (EOF) and records that it had to.
class FifoFeeder {
 public:
  FifoFeeder(const std::string& name, std::string content,
             std::chrono::seconds patience = std::chrono::seconds(10))
      : path_(TempPath(name)) {
    std::remove(path_.c_str());
    if (::mkfifo(path_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
    thread_ = std::thread([this, content = std::move(content), patience] {
      const auto deadline = std::chrono::steady_clock::now() + patience;
      while (!stop_ && std::chrono::steady_clock::now() < deadline) {
        // Succeeds once a reader has the FIFO open (or is blocked opening it).
        const int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          continue;
        }
        ::fcntl(fd, F_SETFL, 0);
        for (std::size_t written = 0; written < content.size();) {
          const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
          if (n <= 0) break;
          written += static_cast<std::size_t>(n);
        }
        ::close(fd);
        fed_ = true;
        break;
      }
      while (!stop_ && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (stop_) return;
      // Still running at the deadline: release a reader stuck in a second open.
      const int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        released_ = true;
        ::close(fd);
      }
    });
  }
  ~FifoFeeder() {
    Stop();
    std::remove(path_.c_str());
  }
  FifoFeeder(const FifoFeeder&) = delete;
  FifoFeeder& operator=(const FifoFeeder&) = delete;

  // Call once the tool has ended.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& path() const { return path_; }
  bool fed() const { return fed_; }
  bool released() const { return released_; }

 private:
  std::string path_;
  std::atomic<bool> stop_{false}, fed_{false}, released_{false};
  std::thread thread_;
};

// `command` run by sh under script(1), so that the tool's stderr is a terminal; what the
// terminal showed comes back in `out`.
RunResult OnATerminal(const std::string& command, const std::string& url) {
  Env env = KeyAndUrl(url);
  env["TERM"] = "dumb";
  return RunTool({"-qec", command, "/dev/null"}, env, std::nullopt, "/usr/bin/script");
}

void ExpectThreeMinted(const RunResult& terminal, const std::string& rows_text) {
  EXPECT_EQ(terminal.exit_code, 0) << terminal.out << terminal.err;
  EXPECT_EQ(key_forms::FindKeyForm(terminal.out + terminal.err + rows_text, kApiKey), std::nullopt);
  EXPECT_NE(terminal.out.find("toucan-token: 3 minted, 0 failed in "), std::string::npos)
      << terminal.out;
  const auto rows = Rows(rows_text);
  ASSERT_EQ(rows.size(), 3u) << rows_text;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["distinctId"], "u" + std::to_string(i + 1));
    EXPECT_EQ(rows[i].value("token", ""), kToken) << rows[i].dump();
  }
}

TEST(HostileServer, BatchFromAFifoWithATerminalIsReadOnce) {
  TestServer server(TokenReply());
  FifoFeeder fifo("batch.fifo", "u1\n\nu2\nu3\n");
  const std::string out = TempPath("fifo.out");
  const RunResult result = OnATerminal(
      std::string(TOUCAN_TOKEN_BINARY) + " batch " + fifo.path() + " > " + out, server.url());
  fifo.Stop();
  EXPECT_TRUE(fifo.fed());
  EXPECT_FALSE(fifo.released()) << "the FIFO was opened a second time";
  ExpectThreeMinted(result, ReadFile(out));
  EXPECT_EQ(server.request_count(), 3u);
  std::remove(out.c_str());
}

TEST(HostileServer, BatchFromDevStdinWithATerminalIsReadOnce) {
  TestServer server(TokenReply());
  const std::string out = TempPath("stdin.out");
  const std::string tool = TOUCAN_TOKEN_BINARY;
  {
    SCOPED_TRACE("a pipe");
    const RunResult result = OnATerminal(
        "printf 'u1\\n\\nu2\\nu3\\n' | " + tool + " batch /dev/stdin > " + out, server.url());
    ExpectThreeMinted(result, ReadFile(out));
  }
  {
    SCOPED_TRACE("a FIFO on standard input");
    FifoFeeder fifo("stdin.fifo", "u1\nu2\n\nu3\n");
    const RunResult result =
        OnATerminal(tool + " batch /dev/stdin < " + fifo.path() + " > " + out, server.url());
    fifo.Stop();
    EXPECT_TRUE(fifo.fed());
    EXPECT_FALSE(fifo.released());
    ExpectThreeMinted(result, ReadFile(out));
  }
  {
    SCOPED_TRACE("standard input by default");
    const RunResult result =
        OnATerminal("printf 'u1\\nu2\\nu3\\n' | " + tool + " batch - > " + out, server.url());
    ExpectThreeMinted(result, ReadFile(out));
  }
  EXPECT_EQ(server.request_count(), 9u);
  std::remove(out.c_str());
}

TEST(HostileServer, AttributesAndKeyFileFromAFifoAreReadOnce) {
  TestServer server(TokenReply());
  {
    FifoFeeder fifo("attrs.fifo", R"({"region":"EU","year":2024})");
    const RunResult result = Mint(server.url(), {"--attributes", "@" + fifo.path()});
    fifo.Stop();
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_TRUE(fifo.fed());
    EXPECT_FALSE(fifo.released()) << "the FIFO was opened a second time";
    ASSERT_EQ(server.request_count(), 1u);
    EXPECT_EQ(json::parse(server.requests()[0].body)["user"]["attributes"],
              json({{"region", "EU"}, {"year", 2024}}));
  }
  {
    FifoFeeder fifo("perms.fifo", R"({"scope":["a"]})");
    const RunResult result = Mint(server.url(), {"--permissions", "@" + fifo.path()});
    fifo.Stop();
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_FALSE(fifo.released());
    ASSERT_EQ(server.request_count(), 2u);
    EXPECT_EQ(json::parse(server.requests()[1].body)["permissions"],
              json::parse(R"({"scope":["a"]})"));
  }
  {
    FifoFeeder fifo("key.fifo", std::string(kApiKey) + "\nsecond line\n");
    const RunResult result = RunChecked({"-u", "u1", "--api-key-file", fifo.path()},
                                        {{"TOUCAN_BASE_URL", server.url()}});
    fifo.Stop();
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_TRUE(fifo.fed());
    EXPECT_FALSE(fifo.released()) << "the FIFO was opened a second time";
    ASSERT_EQ(server.request_count(), 3u);
    EXPECT_EQ(server.requests()[2].Header("x-api-key"), kApiKey);
  }
  {
    // A key file FIFO that never ends after its first line: one line is all that is read.
    FifoFeeder fifo("key-batch.fifo", std::string(kApiKey) + "\n");
    const RunResult result = RunChecked({"batch", "--api-key-file", fifo.path()},
                                        {{"TOUCAN_BASE_URL", server.url()}}, "u1\nu2\n");
    fifo.Stop();
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_FALSE(fifo.released());
    EXPECT_EQ(Rows(result.out).size(), 2u);
    ASSERT_EQ(server.request_count(), 5u);
    EXPECT_EQ(server.requests()[4].Header("x-api-key"), kApiKey);
  }
}

// ---- 5. closed stderr ----------------------------------------------------------------------

TEST(HostileServer, ClosedStderrKeepsDiagnosticsOutOfTheSockets) {
  struct Case {
    std::string name;
    std::string reply;
    std::vector<std::string> args;
    std::optional<std::string> input;
    int exit_code;
  };
  const std::string unauthorized =
      "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
      "\r\n{\"message\":\"no\"}";
  const std::string unavailable =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 4\r\n\r\nbusy";
  const std::string ok_reply = TokenJson(json::object());
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(ok_reply.size()) + "\r\n\r\n" + ok_reply;
  for (const Case& c : std::vector<Case>{
           {"401", unauthorized, {"-u", "u1", "-v"}, std::nullopt, 3},
           {"503 retried", unavailable, {"-u", "u1", "-v", "--retries", "2"}, std::nullopt, 5},
           {"200 without expiry warning",
            "HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n"
            "{\"token\":\"tok-en_1.2\"}",
            {"-u", "u1", "-v"},
            std::nullopt,
            0},
           {"batch 401", unauthorized, {"batch", "-v", "--concurrency", "2"}, "u1\nu2\nu3\n", 3},
           {"batch with bad lines",
            ok,
            {"batch", "-v"},
            "u1\n{\"nope\":1}\n{\"distinctId\":\"u3\",\"role\":tru\xc3\xa9}\nu4\n",
            2},
       }) {
    SCOPED_TRACE(c.name);
    RecordingServer server(c.reply);
    const RunResult result = Shell("2>&-", c.args, KeyAndUrl(server.url()), c.input);
    EXPECT_EQ(result.exit_code, c.exit_code) << result.out;
    EXPECT_GE(server.accepted(), 1);
    const std::string received = server.received();
    EXPECT_NE(received.find("POST "), std::string::npos) << received;
    EXPECT_EQ(received.find("toucan-token:"), std::string::npos)
        << "a diagnostic reached the server:\n"
        << received;
    EXPECT_EQ(received.find("minted"), std::string::npos) << received;
    EXPECT_EQ(result.err, "");
  }
}

}  // namespace
}  // namespace toucan::test
