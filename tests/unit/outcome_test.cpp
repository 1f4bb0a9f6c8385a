#include "outcome.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "cli/cli.hpp"

namespace toucan {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

// 2026-11-25T10:00:00Z
const system_clock::time_point kNow = system_clock::time_point(seconds(1795600800));

RequestContext Context() {
  RequestContext context;
  context.endpoint.url = "https://bi.example.com/embed/generate-token";
  context.endpoint.host = "bi.example.com";
  context.options.api_key_source = "TOUCAN_API_KEY";
  context.redactor = Redactor("SECRETKEY1");
  return context;
}

Verdict Reply(long status, std::string_view body = "",
              std::optional<std::string> retry_after = std::nullopt,
              std::optional<std::string> location = std::nullopt) {
  ReplyFacts reply;
  reply.status = status;
  reply.body = body;
  reply.retry_after = std::move(retry_after);
  reply.location = std::move(location);
  reply.received_at = kNow;
  return JudgeReply(Context(), reply);
}

Verdict Transport(int code, std::string detail = "", long verify = 0) {
  TransportFacts facts;
  facts.code = code;
  facts.detail = std::move(detail);
  facts.tls_verify_result = verify;
  return JudgeTransport(Context(), facts);
}

int Exit(const Verdict& verdict) { return verdict.error ? ExitCode(verdict.error->kind()) : 0; }
std::string Message(const Verdict& verdict) { return verdict.error ? verdict.error->what() : ""; }

TEST(JudgeReply, StatusTable) {
  struct Row {
    long status;
    int exit;
    bool retryable;
  };
  for (const Row row :
       {Row{401, 3, false}, Row{403, 3, false}, Row{400, 4, false}, Row{404, 4, false},
        Row{409, 4, false}, Row{422, 4, false}, Row{301, 4, false}, Row{307, 4, false},
        Row{429, 5, true}, Row{500, 5, false}, Row{501, 5, false}, Row{502, 5, true},
        Row{503, 5, true}, Row{504, 5, true}, Row{100, 7, false}, Row{600, 7, false}}) {
    const Verdict verdict = Reply(row.status, "{}");
    EXPECT_EQ(Exit(verdict), row.exit) << row.status;
    EXPECT_EQ(verdict.retryable, row.retryable) << row.status;
    EXPECT_EQ(verdict.status, row.status);
    ASSERT_TRUE(verdict.error);
    EXPECT_EQ(verdict.error->http_status(), row.status);
  }
}

TEST(JudgeReply, SuccessParsesTheToken) {
  const Verdict verdict = Reply(200, R"({"token":"abc","expiresIn":60})");
  ASSERT_TRUE(verdict.response);
  EXPECT_EQ(verdict.response->token, "abc");
  EXPECT_EQ(verdict.response->expires_at, kNow + seconds(60));
  EXPECT_EQ(Exit(Reply(200, "not json")), 7);
  EXPECT_EQ(Exit(Reply(201, R"({"token":1})")), 7);
}

TEST(JudgeReply, OversizedSuccessIsABadResponse) {
  ReplyFacts reply;
  reply.status = 200;
  reply.body = R"({"token":"abc"})";
  reply.body_too_large = true;
  EXPECT_EQ(Exit(JudgeReply(Context(), reply)), 7);
}

TEST(JudgeReply, MessagesHintAndRedact) {
  EXPECT_NE(Message(Reply(401, R"({"message":"bad key SECRETKEY1"})")).find("check TOUCAN_API_KEY"),
            std::string::npos);
  EXPECT_EQ(Message(Reply(401, R"({"message":"bad key SECRETKEY1"})")).find("SECRET"),
            std::string::npos);
  EXPECT_EQ(Reply(404).error->cause(), Cause::kEndpoint);
  EXPECT_EQ(Reply(404).error->facts().at(0), "https://bi.example.com/embed/generate-token");
  const std::string redirect = Message(Reply(302, "", std::nullopt, "https://evil/?k=SECRETKEY1"));
  EXPECT_NE(redirect.find("redirects are not followed"), std::string::npos);
  EXPECT_EQ(redirect.find("SECRET"), std::string::npos) << redirect;
  EXPECT_NE(Message(Reply(500)).find("1 attempt"), std::string::npos);
}

TEST(JudgeReply, RetryAfterIsReadOnlyWhenItParses) {
  EXPECT_EQ(Reply(503, "", "7").retry_after->wait, seconds(7));
  EXPECT_FALSE(Reply(503, "", "soon").retry_after);
  EXPECT_TRUE(Reply(429, "", "3600").retry_after->too_long);
}

TEST(JudgeTransport, TransientFailuresAreRetriedOverAFreshConnection) {
  for (const int code :
       {CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,
        CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2,
        CURLE_HTTP2_STREAM, CURLE_SSL_CONNECT_ERROR}) {
    const Verdict verdict = Transport(code, "Connection reset by peer");
    EXPECT_EQ(Exit(verdict), 6) << code;
    EXPECT_TRUE(verdict.retryable) << code;
    EXPECT_TRUE(verdict.fresh_connection) << code;
    EXPECT_EQ(Message(verdict).find("--cacert"), std::string::npos) << code;
    EXPECT_NE(Message(verdict).find("after 1 attempt"), std::string::npos) << Message(verdict);
  }
}

TEST(JudgeTransport, CertificateFailuresNameTheReasonAndAreFinal) {
  struct Row {
    long verify;
    std::string detail;
    std::string says;
  };
  for (const Row& row :
       {Row{20, "unable to get local issuer certificate", "issuer this machine does not trust"},
        Row{10, "certificate has expired", "has expired"},
        Row{9, "certificate is not yet valid", "not yet valid"},
        Row{0, "SSL: no alternative certificate subject name matches target host name 'x'",
            "does not name bi.example.com"}}) {
    const Verdict verdict = Transport(CURLE_PEER_FAILED_VERIFICATION, row.detail, row.verify);
    EXPECT_EQ(Exit(verdict), 6);
    EXPECT_FALSE(verdict.retryable);
    EXPECT_NE(Message(verdict).find(row.says), std::string::npos) << Message(verdict);
    EXPECT_EQ(verdict.error->cause(), Cause::kUntrusted);
    EXPECT_NE(Message(verdict).find("after 1 attempt (not retried)"), std::string::npos)
        << Message(verdict);
  }
}

TEST(JudgeTransport, ClientCertificateDemandIsFinalAndSaysSo) {
  const Verdict verdict =
      Transport(CURLE_RECV_ERROR, "OpenSSL SSL_read: tlsv13 alert certificate required");
  EXPECT_EQ(Exit(verdict), 6);
  EXPECT_FALSE(verdict.retryable);
  EXPECT_NE(Message(verdict).find("demands a client certificate"), std::string::npos);
  EXPECT_NE(Message(verdict).find("after 1 attempt (not retried)"), std::string::npos)
      << Message(verdict);
}

// The proxy, not the service, refused: say so; only its 502/503/504 is retried.
TEST(JudgeTransport, ProxyRefusingTheTunnelIsNamed) {
  const Verdict refused = Transport(CURLE_RECV_ERROR, "CONNECT tunnel failed, response 403");
  EXPECT_EQ(Exit(refused), 6);
  EXPECT_FALSE(refused.retryable);
  EXPECT_NE(Message(refused).find("the proxy would not open a tunnel"), std::string::npos);
  EXPECT_NE(Message(refused).find("(not retried): check HTTPS_PROXY"), std::string::npos)
      << Message(refused);
  const Verdict busy = Transport(CURLE_COULDNT_CONNECT, "CONNECT tunnel failed, response 503");
  EXPECT_EQ(Exit(busy), 6);
  EXPECT_TRUE(busy.retryable);
  EXPECT_NE(Message(busy).find("the proxy would not open a tunnel"), std::string::npos);
}

// What stops a batch: failures every other line would meet too, and only those.
TEST(FailsEveryRequest, TheKeyTheUrlTheCertificateTheNameTheProxy) {
  for (const long status : {401L, 403L, 404L}) EXPECT_TRUE(Reply(status).fails_every_request);
  for (const long status : {200L, 302L, 400L, 409L, 422L, 429L, 500L, 503L}) {
    EXPECT_FALSE(Reply(status).fails_every_request) << status;
  }
  for (const int code : {CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY,
                         CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_ISSUER_ERROR}) {
    EXPECT_TRUE(Transport(code, "x", 20).fails_every_request) << code;
  }
  EXPECT_TRUE(
      Transport(CURLE_RECV_ERROR, "CONNECT tunnel failed, response 407").fails_every_request);
  EXPECT_FALSE(
      Transport(CURLE_COULDNT_CONNECT, "CONNECT tunnel failed, response 503").fails_every_request);
  for (const int code : {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR,
                         CURLE_SSL_CONNECT_ERROR, CURLE_GOT_NOTHING, CURLE_WEIRD_SERVER_REPLY}) {
    EXPECT_FALSE(Transport(code, "Connection reset by peer").fails_every_request) << code;
  }
  EXPECT_FALSE(Verdict{}.fails_every_request);  // a success
}

// The same CURLcode for a proxy URL that does not parse and a proxy host that does not resolve:
// the first is the user's setting (exit 2, final), the second the network (retried).
TEST(JudgeTransport, ProxySettingLibcurlCannotUseIsAUsageError) {
  for (const auto& [code, detail] : std::vector<std::pair<int, std::string>>{
           {CURLE_COULDNT_RESOLVE_PROXY, "Unsupported proxy syntax in 'http://***@h:99999'"},
           {CURLE_COULDNT_CONNECT, "Unsupported proxy scheme for 'gopher://***@h'"}}) {
    const Verdict verdict = Transport(code, detail);
    EXPECT_EQ(Exit(verdict), 2) << detail;
    EXPECT_FALSE(verdict.retryable);
    EXPECT_NE(Message(verdict).find("is not a usable proxy URL"), std::string::npos);
    EXPECT_EQ(Message(verdict).find("--base-url"), std::string::npos) << Message(verdict);
  }
  const Verdict dns = Transport(CURLE_COULDNT_RESOLVE_PROXY, "Could not resolve proxy: p.invalid");
  EXPECT_EQ(Exit(dns), 6);
  EXPECT_TRUE(dns.retryable);
}

TEST(JudgeReply, RedirectWithAnEmptyLocationNamesNoTarget) {
  for (const char* location : {"", "\r", " \t "}) {
    const std::string message = Message(Reply(302, "", std::nullopt, std::string(location)));
    EXPECT_NE(message.find("redirecting to another place"), std::string::npos) << message;
  }
  EXPECT_NE(Message(Reply(302, "", std::nullopt, "https://b.example/x"))
                .find("redirecting to 'https://b.example/x'"),
            std::string::npos);
}

TEST(JudgeReply, OtherServerErrorsSayWhichAreRetried) {
  EXPECT_NE(Message(Reply(500)).find("(a 500 is not retried)"), std::string::npos);
  EXPECT_NE(Message(Reply(501)).find("(only 502, 503 and 504 are retried)"), std::string::npos)
      << Message(Reply(501));
}

TEST(JudgeTransport, OtherKinds) {
  EXPECT_EQ(Exit(Transport(CURLE_WEIRD_SERVER_REPLY)), 7);
  EXPECT_EQ(Exit(Transport(CURLE_FILESIZE_EXCEEDED)), 7);
  EXPECT_EQ(Exit(Transport(CURLE_SSL_CACERT_BADFILE)), 2);
  EXPECT_EQ(Exit(Transport(CURLE_URL_MALFORMAT)), 2);
  TransportFacts headers;
  headers.code = CURLE_WRITE_ERROR;
  headers.headers_too_large = true;
  const Verdict verdict = JudgeTransport(Context(), headers);
  EXPECT_EQ(Exit(verdict), 7);
  EXPECT_FALSE(verdict.retryable);
  EXPECT_EQ(Message(Transport(CURLE_RECV_ERROR, "echo SECRETKEY1")).find("SECRET"),
            std::string::npos);
}

TEST(RetryAfter, Seconds) {
  EXPECT_EQ(ParseRetryAfter("0", kNow)->wait, seconds(0));
  EXPECT_EQ(ParseRetryAfter(" 60 ", kNow)->wait, seconds(60));
  EXPECT_FALSE(ParseRetryAfter("60", kNow)->too_long);
  EXPECT_TRUE(ParseRetryAfter("61", kNow)->too_long);
  EXPECT_EQ(ParseRetryAfter("3600", kNow)->until, "2026-11-25T11:00:00Z");
}

TEST(RetryAfter, GarbageDoesNotParse) {
  for (const char* value : {"", "-5", "0.5", "soon", "+0", "5abc", "1e3", "0x10", " ", "5 s",
                            "Wed, 32 Nov 2026 10:00:00 GMT", "Wed, 25 Nov 2026 10:00 GMT",
                            // No such day, or not that day's weekday:
                            "Wed, 30 Feb 2026 10:00:00 GMT", "Mon, 29 Feb 2027 10:00:00 GMT",
                            "Xyz, 25 Nov 2026 10:00:30 GMT", "Thu, 25 Nov 2026 10:00:30 GMT",
                            "Thursday, 25-Nov-26 10:00:30 GMT", "Thu Nov 25 10:00:30 2026"}) {
    EXPECT_FALSE(ParseRetryAfter(value, kNow)) << value;
  }
}

TEST(RetryAfter, HugeValuesEndTheRunWithACorrectDate) {
  const auto huge = ParseRetryAfter("99999999999999999999", kNow);
  ASSERT_TRUE(huge);
  EXPECT_TRUE(huge->too_long);
  // 10^20 s after 2026: year 3,168,873,852,xxx — a date, not an overflow into the past.
  EXPECT_EQ(huge->until.rfind("+3168873852", 0), 0u) << huge->until;
  const auto endless = ParseRetryAfter(std::string(5000, '9'), kNow);
  ASSERT_TRUE(endless);
  EXPECT_TRUE(endless->too_long);
  EXPECT_LT(endless->said.size(), 60u);
}

TEST(RetryAfter, HttpDatesInEveryForm) {
  EXPECT_EQ(ParseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", kNow)->wait, seconds(30));
  EXPECT_EQ(ParseRetryAfter("Wednesday, 25-Nov-26 10:00:30 GMT", kNow)->wait, seconds(30));
  EXPECT_EQ(ParseRetryAfter("Wed Nov 25 10:00:30 2026", kNow)->wait, seconds(30));
  EXPECT_EQ(ParseRetryAfter("Sun, 29 Feb 2032 10:00:30 GMT", kNow)->until, "2032-02-29T10:00:30Z");
  EXPECT_FALSE(ParseRetryAfter("Wed, 25 Nov 2020 10:00:30 GMT", kNow))
      << "a date already past leaves the normal backoff in place, not an immediate retry";
  EXPECT_FALSE(ParseRetryAfter("Wed, 25 Nov 2026 10:00:00 GMT", kNow)) << "now is past too";
  const auto far = ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", kNow);
  ASSERT_TRUE(far);
  EXPECT_TRUE(far->too_long);
  EXPECT_EQ(far->until, "9999-12-31T23:59:59Z");
}

TEST(RetryAfter, DatesPastYear9999UseTheExpandedYear) {
  EXPECT_EQ(ParseRetryAfter("251606699999", kNow)->until, "9999-12-31T23:59:59Z");
  EXPECT_EQ(ParseRetryAfter("251606700000", kNow)->until, "+10000-01-01T00:00:00Z");
  EXPECT_EQ(ParseRetryAfter(std::string(25, '9'), kNow)->until, "a date more than 10^24 s away");
}

// The library names none of the CLI's flags; the CLI adds its hint from the cause.
TEST(Hints, TheLibraryNamesNoFlagAndTheCliAddsItsHint) {
  const std::vector<std::pair<Verdict, std::string>> cases = {
      {Reply(404), "): check --base-url and --endpoint-path (the URL was https://bi.example.com/"},
      {Reply(307, "", std::nullopt, "https://b.example/"), ": point --base-url at the final"},
      {Reply(503), "after 1 attempt: try again later, or raise --retries"},
      {Reply(409), "): check the request with --dry-run"},
      {Reply(200, "not json"), ": check --base-url and --endpoint-path"},
      {Transport(CURLE_COULDNT_RESOLVE_HOST, "x"), ": check --base-url, DNS and proxy settings"},
      {Transport(CURLE_COULDNT_CONNECT, "x"), ": check --base-url and that the service is up"},
      {Transport(CURLE_WEIRD_SERVER_REPLY, "x"), "is not HTTP (x); check --base-url"},
      {Transport(CURLE_OPERATION_TIMEDOUT, "x"),
       "; limits: --connect-timeout 10 s, --timeout 30 s"},
      {Transport(CURLE_PEER_FAILED_VERIFICATION, "x", 20),
       "system store). If the server uses a private CA or a TLS-inspecting proxy, pass that CA "
       "with --cacert (or TOUCAN_CA_BUNDLE)"}};
  for (const auto& [verdict, hint] : cases) {
    const std::string message = Message(verdict);
    EXPECT_EQ(message.find("--"), std::string::npos) << message;
    const std::string hinted = cli::WithHint(*verdict.error);
    EXPECT_NE(hinted.find(hint), std::string::npos) << hinted;
  }
}

TEST(RetryPolicy, BackoffIsFullJitterUnderAnExponentialCap) {
  const Verdict busy = Reply(503);  // 500 ms base, 20 s cap
  EXPECT_EQ(RetryDelay(busy, 1, 0.0), milliseconds(0));
  EXPECT_EQ(RetryDelay(busy, 1, 0.999999), milliseconds(499));
  EXPECT_EQ(RetryDelay(busy, 2, 0.5), milliseconds(500));
  EXPECT_EQ(RetryDelay(busy, 3, 0.5), milliseconds(1000));
  EXPECT_EQ(RetryDelay(busy, 10, 1.0), milliseconds(20'000));
  EXPECT_EQ(RetryDelay(busy, 1000, 1.0), milliseconds(20'000));
  EXPECT_EQ(RetryDelay(busy, 3, 7.0), milliseconds(2000)) << "draws are clamped to [0, 1]";
}

TEST(RetryPolicy, RetriesOnlyRetryableVerdicts) {
  EXPECT_TRUE(Reply(503).retryable);
  EXPECT_FALSE(Reply(500).retryable);
  EXPECT_FALSE(Reply(429, "", "3600").retryable);
  EXPECT_EQ(RetryDelay(Reply(429, "", "7"), 1, 0.0), seconds(7));
  EXPECT_EQ(RetryDelay(Reply(429, "", "garbage"), 1, 0.5), milliseconds(250))
      << "an unparsable Retry-After leaves the backoff in place";
}

TEST(RetryPolicy, TooLongRetryAfterMessage) {
  const std::string message = Message(Reply(429, "", "3600"));
  EXPECT_NE(message.find("retry after 3600 s"), std::string::npos) << message;
  EXPECT_NE(message.find("2026-11-25T11:00:00Z"), std::string::npos) << message;
}

}  // namespace
}  // namespace toucan
