#include "outcome.hpp"

// For the CURLcode values and curl_getdate, a pure function: no transfer is made here.
#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <vector>

namespace toucan {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// " after 1 attempt", " after 3 attempts"
std::string After(const RequestContext& context) {
  return " after " + std::to_string(context.attempts) +
         (context.attempts == 1 ? " attempt" : " attempts");
}

std::string ReplyText(const RequestContext& context, const ReplyFacts& reply) {
  const std::string said = ServerMessageExcerpt(reply.body, context.redactor);
  return "HTTP " + std::to_string(reply.status) +
         (said.empty() ? std::string() : ": \"" + said + "\"");
}

Verdict Failed(ErrorKind kind, const std::string& message, long status = 0,
               Cause cause = Cause::kNone, std::vector<std::string> facts = {}) {
  Verdict verdict;
  verdict.status = status;
  verdict.error = status ? Error(kind, message, status) : Error(kind, message);
  verdict.error->About(cause, std::move(facts));
  return verdict;
}

Verdict Everywhere(Verdict verdict) {
  verdict.fails_every_request = true;
  return verdict;
}

Verdict JudgeSuccess(const RequestContext& context, const ReplyFacts& reply) {
  if (reply.body_too_large) {
    return Failed(ErrorKind::kBadResponse,
                  "the reply from " + context.endpoint.host +
                      " is larger than 1 MiB; a token reply is a few KiB",
                  reply.status, Cause::kEndpoint);
  }
  Verdict verdict;
  verdict.status = reply.status;
  try {
    verdict.response = ParseTokenResponse(reply.body, reply.received_at, context.redactor);
  } catch (const Error& e) {
    return Failed(ErrorKind::kBadResponse,
                  "bad reply from " + context.endpoint.host + " (HTTP " +
                      std::to_string(reply.status) + "): " + e.what(),
                  reply.status, Cause::kEndpoint);
  }
  return verdict;
}

Verdict JudgeRedirect(const RequestContext& context, const ReplyFacts& reply) {
  std::string target = "another place";
  if (reply.location && !Trim(*reply.location).empty()) {
    target = "'" + RedactedExcerpt(*reply.location, context.redactor) + "'";
  }
  return Failed(ErrorKind::kRejected,
                "the server answered " + std::to_string(reply.status) + " redirecting to " +
                    target + "; redirects are not followed so the key never goes elsewhere",
                reply.status, Cause::kRedirect);
}

Verdict JudgeTransient(const RequestContext& context, const ReplyFacts& reply) {
  const std::string what = reply.status == 429 ? "rate limited" : "service unavailable";
  Verdict verdict =
      Failed(ErrorKind::kUnavailable,
             what + " (" + ReplyText(context, reply) + ")" + After(context) + ": try again later",
             reply.status, Cause::kRetriesSpent);
  if (reply.retry_after)
    verdict.retry_after = ParseRetryAfter(*reply.retry_after, reply.received_at);
  verdict.retryable = !verdict.retry_after || !verdict.retry_after->too_long;
  if (verdict.retryable) return verdict;
  const RetryAfter& wait = *verdict.retry_after;
  verdict.error =
      Error(ErrorKind::kUnavailable,
            what + " (HTTP " + std::to_string(reply.status) + "): the server asks to retry after " +
                wait.said + ", more than the 60 s this tool waits; try again at " + wait.until,
            reply.status);
  return verdict;
}

Verdict JudgeClientError(const RequestContext& context, const ReplyFacts& reply) {
  const std::string text = ReplyText(context, reply);
  if (reply.status == 401 || reply.status == 403) {
    return Everywhere(
        Failed(ErrorKind::kCredentials,
               "credentials rejected (" + text + "): check " + context.options.api_key_source +
                   " and that the key belongs to the instance at " + context.endpoint.host,
               reply.status));
  }
  const std::string message = "request rejected (" + text + ")";
  if (reply.status == 404) {
    return Everywhere(
        Failed(ErrorKind::kRejected, message, 404, Cause::kEndpoint, {context.endpoint.url}));
  }
  if (reply.status == 400 || reply.status == 422) {
    return Failed(ErrorKind::kRejected,
                  message + ": check the distinct id, role, attributes and permissions",
                  reply.status);
  }
  return Failed(ErrorKind::kRejected, message, reply.status, Cause::kRequestRefused);
}

// X509 verification results (OpenSSL's X509_V_ERR_*) in plain words.
std::string CertificateProblem(const RequestContext& context, const TransportFacts& facts) {
  const long verify = facts.tls_verify_result;
  if (verify == 9) return "its certificate is not yet valid (check this machine's clock)";
  if (verify == 10) return "its certificate has expired";
  if (verify == 2 || (verify >= 18 && verify <= 21)) {
    return "its certificate is signed by an issuer this machine does not trust";
  }
  if (verify == 62 || facts.detail.find("subject name") != std::string::npos ||
      facts.detail.find("does not match") != std::string::npos) {
    return "its certificate does not name " + context.endpoint.host;
  }
  return "its certificate could not be verified";
}

Verdict Retryable(Verdict verdict) {
  verdict.retryable = true;
  verdict.fresh_connection = true;
  return verdict;
}

// What only libcurl's text tells of the proxy.
std::optional<Verdict> JudgeProxy(const RequestContext& context, std::string_view raw,
                                  const std::string& detail) {
  // libcurl's "Unsupported proxy syntax in '…'" shares CURLE_COULDNT_RESOLVE_PROXY with a real
  // DNS failure, and "Unsupported proxy scheme" is a CURLE_COULDNT_CONNECT: only the text tells
  // a setting no retry can mend from the network.
  if (raw.rfind("Unsupported proxy", 0) == 0) {
    const std::string variable =
        context.proxy_variable.empty() ? std::string("the proxy setting") : context.proxy_variable;
    return Everywhere(Failed(ErrorKind::kUsage, variable + " is not a usable proxy URL (" + detail +
                                                    "): write it as http://host:port, or unset " +
                                                    variable));
  }
  // "CONNECT tunnel failed, response 403": the proxy said no, not the service. Only a proxy's
  // 502/503/504 is worth another attempt.
  constexpr std::string_view kMarker = "CONNECT tunnel failed, response ";
  const auto at = raw.find(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view code = raw.substr(at + kMarker.size(), 3);
  const bool transient = code == "502" || code == "503" || code == "504";
  Verdict verdict = Failed(ErrorKind::kNetwork,
                           "the proxy would not open a tunnel to " + context.endpoint.host + " (" +
                               detail + ")" + After(context) + (transient ? "" : " (not retried)") +
                               ": check HTTPS_PROXY / ALL_PROXY and the proxy's credentials, or "
                               "name the host in NO_PROXY to reach it directly");
  return transient ? Retryable(verdict) : Everywhere(verdict);
}

// Failures of the network or the connection: transient, retried over a fresh connection.
std::optional<Verdict> JudgeConnectionFailure(const RequestContext& context, int code,
                                              const std::string& detail) {
  const std::string said = " (" + detail + ")" + After(context);
  const auto failed = [](const std::string& message, Cause cause = Cause::kNone,
                         std::vector<std::string> facts = {}) {
    return Retryable(Failed(ErrorKind::kNetwork, message, 0, cause, std::move(facts)));
  };
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return Everywhere(failed("could not resolve the host of " + context.endpoint.url + said,
                               Cause::kUnknownHost));
    case CURLE_COULDNT_RESOLVE_PROXY:
      return Everywhere(
          failed("could not resolve the proxy" + said + ": check HTTPS_PROXY / ALL_PROXY"));
    case CURLE_COULDNT_CONNECT:
      return failed("could not connect to " + context.endpoint.host + said, Cause::kNoConnection);
    case CURLE_OPERATION_TIMEDOUT:
      return failed(
          "timed out talking to " + context.endpoint.host + said, Cause::kTimeout,
          {Seconds(context.options.connect_timeout, "%g"), Seconds(context.options.timeout, "%g")});
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:  // a reset or close mid-handshake: the network, not trust
      return failed("the connection to " + context.endpoint.host + " failed" + said +
                    "; check the network and the service");
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string Seconds(std::chrono::duration<double> value, const char* format) {
  char text[32];
  std::snprintf(text, sizeof text, format, value.count());
  return text;
}

Verdict JudgeTransport(const RequestContext& context, const TransportFacts& facts) {
  const std::string detail = RedactedExcerpt(facts.detail, context.redactor);
  if (facts.headers_too_large) {
    return Failed(ErrorKind::kBadResponse,
                  "the reply from " + context.endpoint.host + " has more than 100 KiB of headers");
  }
  if (facts.code == CURLE_FILESIZE_EXCEEDED) {
    return Failed(ErrorKind::kBadResponse,
                  "the reply from " + context.endpoint.host + " is larger than 1 MiB");
  }
  if (facts.client_certificate_requested ||
      facts.detail.find("certificate required") != std::string::npos ||
      facts.detail.find("peer did not return a certificate") != std::string::npos) {
    return Failed(
        ErrorKind::kNetwork,
        "the server at " + context.endpoint.host +
            " demands a client certificate, which toucan-token does not send (" + detail + ")" +
            After(context) +
            " (not retried); an embed-token endpoint authenticates with the API key only");
  }
  if (auto verdict = JudgeProxy(context, facts.detail, detail)) return *verdict;
  if (auto verdict = JudgeConnectionFailure(context, facts.code, detail)) return *verdict;
  switch (facts.code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
      return Everywhere(Failed(ErrorKind::kNetwork,
                               "TLS with " + context.endpoint.host + " failed" + After(context) +
                                   " (not retried): " + CertificateProblem(context, facts) + " (" +
                                   detail + "; checked against " +
                                   (context.options.ca_bundle.empty()
                                        ? std::string("the system store")
                                        : "the CA bundle '" + context.options.ca_bundle + "'") +
                                   ")",
                               0, Cause::kUntrusted));
    case CURLE_SSL_CACERT_BADFILE:
      return Failed(ErrorKind::kUsage, "the CA bundle '" + context.options.ca_bundle +
                                           "' cannot be used (" + detail +
                                           "): give a PEM file of CA certificates");
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:  // the URL was checked before: this is the reply (HTTP/0.9)
      return Failed(ErrorKind::kBadResponse,
                    "the reply from " + context.endpoint.host + " is not HTTP (" + detail + ")", 0,
                    Cause::kNotHttp);
    case CURLE_URL_MALFORMAT:
      return Failed(ErrorKind::kUsage, "cannot use " + context.endpoint.url + " (" + detail + ")");
    default:
      return Failed(ErrorKind::kNetwork, "the request to " + context.endpoint.host + " failed (" +
                                             detail + ")" + After(context));
  }
}

Verdict JudgeReply(const RequestContext& context, const ReplyFacts& reply) {
  const long status = reply.status;
  if (status >= 200 && status < 300) return JudgeSuccess(context, reply);
  if (status >= 300 && status < 400) return JudgeRedirect(context, reply);
  if (status == 429 || status == 502 || status == 503 || status == 504) {
    return JudgeTransient(context, reply);
  }
  if (status >= 400 && status < 500) return JudgeClientError(context, reply);
  if (status >= 500 && status < 600) {
    return Failed(
        ErrorKind::kUnavailable,
        "server error (" + ReplyText(context, reply) + "): the service at " +
            context.endpoint.host + " failed" + After(context) +
            (status == 500 ? " (a 500 is not retried)" : " (only 502, 503 and 504 are retried)") +
            "; try again later",
        status);
  }
  return Failed(
      ErrorKind::kBadResponse,
      "unexpected reply (" + ReplyText(context, reply) + ") from " + context.endpoint.host, status);
}

milliseconds RetryDelay(const Verdict& verdict, int attempts, double unit) {
  if (verdict.retry_after) return verdict.retry_after->wait;
  // Full jitter: a uniform wait up to the exponential bound, so that clients that failed
  // together do not retry together.
  const double exponent = std::min(std::max(attempts - 1, 0), 40);
  const double bound = std::min(20'000.0, 500.0 * std::pow(2.0, exponent));
  return milliseconds(static_cast<milliseconds::rep>(std::clamp(unit, 0.0, 1.0) * bound));
}

// ---- Retry-After ---------------------------------------------------------------------------

namespace {

// Longer waits get no date: no one will wait them out. 10^24 s is under 2^64 days.
constexpr std::size_t kMaxDigits = 24;
constexpr unsigned long long kDay = 86400;

// RFC 3339 UTC of a day count from 1970 and a second of that day, by Howard Hinnant's
// civil_from_days on 64 bits: any wait a server can write gets its real date. RFC 3339 years have
// four digits; later years use ISO 8601's expanded form rather than lie.
std::string FormatDay(unsigned long long days, unsigned long long second) {
  const unsigned long long z = days + 719468, era = z / 146097, doe = z % 146097;
  const unsigned long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  const unsigned long long month = mp < 10 ? mp + 3 : mp - 9;
  const unsigned long long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char text[160];  // what the compiler proves each field could take, so no build warns
  std::snprintf(text, sizeof text,
                year > 9999 ? "+%llu-%02llu-%02lluT%02llu:%02llu:%02lluZ"
                            : "%04llu-%02llu-%02lluT%02llu:%02llu:%02lluZ",
                year, month, doy - (153 * mp + 2) / 5 + 1, second / 3600, second / 60 % 60,
                second % 60);
  return text;
}

// libcurl reads much that is no HTTP date ("10:00 GMT", "30 Feb", a wrong weekday): a date
// counts only when it is one of RFC 9110's three forms of the moment libcurl read.
bool IsHttpDate(std::string_view text, std::time_t when) {
  std::tm utc{};
  if (gmtime_r(&when, &utc) == nullptr) return false;
  for (const char* form :
       {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    char written[64];
    if (std::strftime(written, sizeof written, form, &utc) != 0 && text == written) return true;
  }
  return false;
}

}  // namespace

std::optional<RetryAfter> ParseRetryAfter(std::string_view value,
                                          std::chrono::system_clock::time_point now) {
  value = Trim(value);
  const std::int64_t now_seconds =
      std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  RetryAfter result;
  unsigned long long days = 0, second = 0;  // the wait
  if (!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos) {
    const auto digits = value.substr(std::min(value.find_first_not_of('0'), value.size()));
    if (digits.size() > kMaxDigits) {
      days = 1;
      result.until = "a date more than 10^24 s away";
    } else {
      for (const char c : digits) {
        const unsigned long long shifted = second * 10 + static_cast<unsigned>(c - '0');
        days = days * 10 + shifted / kDay;
        second = shifted % kDay;
      }
    }
    result.said = std::string(value.substr(0, 40)) + (value.size() > 40 ? "..." : "") + " s";
  } else {
    const std::time_t date = curl_getdate(std::string(value).c_str(), nullptr);
    // A date already past (often a server clock behind ours) asks for no particular wait: the
    // normal backoff applies rather than an immediate retry.
    if (date == -1 || date <= now_seconds || !IsHttpDate(value, date)) return std::nullopt;
    days = static_cast<unsigned long long>(date - now_seconds) / kDay;
    second = static_cast<unsigned long long>(date - now_seconds) % kDay;
    result.said = "\"" + std::string(value) + "\"";
  }
  result.too_long = days > 0 || second > static_cast<unsigned>(kMaxRetryAfter.count());
  result.wait = result.too_long ? kMaxRetryAfter + seconds(1) : seconds(static_cast<int>(second));
  if (result.until.empty()) {
    second += static_cast<unsigned long long>(now_seconds) % kDay;
    days += static_cast<unsigned long long>(now_seconds) / kDay + second / kDay;
    result.until = FormatDay(days, second % kDay);
  }
  return result;
}

}  // namespace toucan
