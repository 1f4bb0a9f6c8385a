#pragma once
// Shared by client.cpp, endpoint.cpp and outcome.cpp; not public. What a finished attempt means
// and when to try again: plain data in, decisions out, so every row of the table is unit-tested
// without a server.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "toucan/client.hpp"

namespace toucan {

struct Endpoint {
  std::string url;
  std::string host;  // host[:port], for messages
  bool https = true;
  bool loopback = false;
};

// ResolveEndpointUrl, and what the client needs of the result.
Endpoint ResolveEndpoint(std::string_view base_url, std::string_view endpoint_path);

// The one table of request headers, for the real request and (key as "***") for display.
std::vector<std::pair<std::string, std::string>> RequestHeaders(std::string_view api_key);

// What messages name.
struct RequestContext {
  ClientOptions options;
  Endpoint endpoint;
  std::string proxy_variable;  // where libcurl takes the proxy from (HTTPS_PROXY, …), if anywhere
  int attempts = 1;            // this one included
  Redactor redactor{""};
};

struct ReplyFacts {
  long status = 0;
  std::string_view body;
  bool body_too_large = false;
  std::optional<std::string> location;  // the headers, raw
  std::optional<std::string> retry_after;
  std::chrono::system_clock::time_point received_at = std::chrono::system_clock::now();
};

// A transfer that ended without a judgeable reply.
struct TransportFacts {
  int code = 0;                // CURLcode, so that this header needs no libcurl
  std::string detail;          // libcurl's error text
  long tls_verify_result = 0;  // X509_V_ERR_*
  bool headers_too_large = false;
  bool client_certificate_requested = false;  // the server asked for one during the handshake
};

struct RetryAfter {
  std::chrono::seconds wait{0};
  bool too_long = false;  // over kMaxRetryAfter (`wait` is then just over it)
  std::string said;       // the seconds as the server wrote them, or the date
  std::string until;      // RFC 3339 UTC of the end of the wait
};

struct Verdict {
  std::optional<TokenResponse> response;
  std::optional<Error> error;
  bool retryable = false;         // not when the server asks for a wait over kMaxRetryAfter
  bool fresh_connection = false;  // the connection died: a retry must not reuse it
  std::optional<RetryAfter> retry_after;
  long status = 0;  // 0: no HTTP reply
  // The key, the URL, the certificate, a name that does not resolve, a proxy's refusal: a batch
  // stops at the first. A 500 or a timeout may be one request's bad luck.
  bool fails_every_request = false;
};

inline constexpr auto kMaxRetryAfter = std::chrono::seconds(60);
inline constexpr std::size_t kMaxHeaderBytes = std::size_t{100} * 1024;

Verdict JudgeReply(const RequestContext& context, const ReplyFacts& reply);
Verdict JudgeTransport(const RequestContext& context, const TransportFacts& facts);

// Seconds or an RFC 9110 date; empty when it does not parse, so that the normal backoff applies.
// Not CURLINFO_RETRY_AFTER: it reads garbage, a date past or an overflow as 0 ("retry now").
std::optional<RetryAfter> ParseRetryAfter(std::string_view value,
                                          std::chrono::system_clock::time_point now);

std::string Seconds(std::chrono::duration<double> value, const char* format = "%.3f");

// The Retry-After wait, else exponential backoff from 500 ms with full jitter, capped at 20 s.
// `unit` is a uniform draw in [0, 1).
std::chrono::milliseconds RetryDelay(const Verdict& verdict, int attempts, double unit);

}  // namespace toucan
