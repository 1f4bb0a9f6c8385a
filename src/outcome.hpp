#pragma once
// What a finished attempt means and when to try again. Plain data in, decisions out: no libcurl
// calls here, so every row of the table is unit-tested without a server.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "toucan/client.hpp"

namespace toucan {

// Where a request goes and how it was configured: what messages name.
struct RequestContext {
  std::string url;
  std::string host;        // host[:port], for messages
  std::string key_source;  // named in "credentials rejected" messages, never the key
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::string ca_bundle;       // empty: the system store
  std::string proxy_variable;  // where libcurl takes the proxy from (HTTPS_PROXY, …), if anywhere
  int attempts = 1;            // attempts made so far, this one included
  // Removes every form of the API key from server text, once, before anything is quoted.
  std::shared_ptr<const Redactor> redactor = std::make_shared<const Redactor>("");
};

// An HTTP reply as received, capped.
struct ReplyFacts {
  long status = 0;
  std::string_view body;
  bool body_too_large = false;
  std::optional<std::string> location;     // Location header, raw
  std::optional<std::string> retry_after;  // Retry-After header, raw
  std::chrono::system_clock::time_point received_at = std::chrono::system_clock::now();
};

// A transfer that ended without a judgeable reply. `code` is libcurl's CURLcode as an int, so
// this header needs no libcurl; `tls_verify_result` is OpenSSL's X509 verification result.
struct TransportFacts {
  int code = 0;
  std::string detail;  // libcurl's error text
  long tls_verify_result = 0;
  bool headers_too_large = false;
  bool body_too_large = false;
  bool client_certificate_requested = false;  // the server asked for one during the handshake
};

// How long the server asked to wait. `too_long` when it is over kMaxRetryAfter or too large to
// represent (`wait` is then saturated); `until` says when the wait ends, for the message.
struct RetryAfter {
  std::chrono::seconds wait{0};
  bool too_long = false;
  std::string said;   // the seconds as the server wrote them, or the date
  std::string until;  // RFC 3339 UTC of the end of the wait
};

// The verdict on one attempt.
struct Verdict {
  std::optional<TokenResponse> response;
  std::optional<Error> error;
  bool retryable = false;
  bool fresh_connection = false;  // the connection died: a retry must not reuse it
  std::optional<RetryAfter> retry_after;
  long status = 0;             // 0: no HTTP reply
  int curl_code = 0;           // without a reply: libcurl's CURLcode
  bool proxy_refused = false;  // the proxy would not open a tunnel, for good
};

inline constexpr auto kMaxRetryAfter = std::chrono::seconds(60);
inline constexpr std::size_t kMaxHeaderBytes = std::size_t{100} * 1024;

Verdict JudgeReply(const RequestContext& context, const ReplyFacts& reply);
Verdict JudgeTransport(const RequestContext& context, const TransportFacts& facts);

// A final failure that every other request would meet too, whatever its user: the key (401,
// 403), the URL (404), the certificate, a host or proxy name that does not resolve, a proxy that
// refuses the tunnel. A batch stops at the first rather than repeat it for every line; a 500, a
// timeout or a refused connection may be one request's bad luck.
bool FailsEveryRequest(const Verdict& verdict);

// Retry-After as seconds (digits only) or an HTTP date in one of RFC 9110's three forms; empty
// when it does not parse, so that the normal backoff applies (garbage must never mean "retry
// now"). Not libcurl's CURLINFO_RETRY_AFTER: it reads garbage, a date past or an overflow as 0,
// "5abc" as 5, and keeps neither what the server said nor a date beyond 2^63 s.
std::optional<RetryAfter> ParseRetryAfter(std::string_view value,
                                          std::chrono::system_clock::time_point now);

// Retry policy: exponential backoff with full jitter, capped. `unit` is a uniform draw in
// [0, 1) supplied by the caller, so tests pick it.
struct RetryPolicy {
  int retries = 2;
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds cap{20'000};

  bool ShouldRetry(const Verdict& verdict, int attempts) const;
  std::chrono::milliseconds Backoff(int attempts, double unit) const;
  // The wait before the next attempt: the server's Retry-After when it gave one, else backoff.
  std::chrono::milliseconds Delay(const Verdict& verdict, int attempts, double unit) const;
  // A 429 speaks for the whole client, not one request: no request starts before the retry of
  // the rate-limited one (`retry_at`). Returns when the shared pause ends; other verdicts leave
  // `paused_until` as it is, and a pause is never shortened.
  static std::chrono::steady_clock::time_point SharedPause(
      const Verdict& verdict, std::chrono::steady_clock::time_point paused_until,
      std::chrono::steady_clock::time_point retry_at);
};

// The error that ends a run whose server asked for a wait over kMaxRetryAfter.
Error RetryAfterTooLong(const Verdict& verdict);

// "1 attempt", "3 attempts".
std::string Attempts(int count);

}  // namespace toucan
