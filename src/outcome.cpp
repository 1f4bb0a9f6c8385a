// What a reply or a transport failure means, and when to try again: plain functions over plain
// data, so that the whole table is unit-tested without a server. client.cpp only moves bytes.
#include "outcome.hpp"

// For the CURLcode values only: nothing here calls libcurl.
#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "text.hpp"

namespace toucan {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

__extension__ typedef __int128 Wide;  // dates for any Retry-After a server can send

std::string SecondsSetting(milliseconds value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(value.count()) / 1000.0);
  return text;
}

std::string WideToString(Wide value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  std::string digits;
  for (; value != 0; value /= 10) {
    const auto digit = static_cast<int>(value % 10);
    digits.push_back(static_cast<char>('0' + (negative ? -digit : digit)));
  }
  if (negative) digits.push_back('-');
  return {digits.rbegin(), digits.rend()};
}

// Howard Hinnant's civil_from_days: proleptic Gregorian, exact for any count of days.
std::string FormatWideUtc(Wide epoch_seconds) {
  Wide days = epoch_seconds / 86400;
  Wide rest = epoch_seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  const Wide z = days + 719468;
  const Wide era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<long>(z - era * 146097);
  const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long mp = (5 * doy + 2) / 153;
  const long day = doy - (153 * mp + 2) / 5 + 1;
  const long month = mp < 10 ? mp + 3 : mp - 9;
  const Wide year = Wide{yoe} + era * 400 + (month <= 2 ? 1 : 0);
  std::string year_text = WideToString(year);
  // RFC 3339 years have four digits; later years use ISO 8601's expanded form rather than lie.
  if (year >= 0 && year < 1000) year_text.insert(0, 4 - year_text.size(), '0');
  if (year > 9999) year_text.insert(0, "+");
  char tail[96];
  std::snprintf(tail, sizeof tail, "-%02ld-%02ldT%02ld:%02ld:%02ldZ", month, day,
                static_cast<long>(rest / 3600), static_cast<long>(rest / 60 % 60),
                static_cast<long>(rest % 60));
  return year_text + tail;
}

std::string ReplyText(const RequestContext& context, long status, std::string_view body) {
  // Server text is redacted before it is read, so no form of the key can reach a message.
  const std::string said = ServerMessageExcerpt(body, *context.redactor);
  return "HTTP " + std::to_string(status) + (said.empty() ? std::string() : ": \"" + said + "\"");
}

Verdict Failed(ErrorKind kind, const std::string& message, long status = 0) {
  Verdict verdict;
  verdict.status = status;
  verdict.error = status ? Error(kind, message, status) : Error(kind, message);
  return verdict;
}

Verdict JudgeSuccess(const RequestContext& context, const ReplyFacts& reply) {
  if (reply.body_too_large) {
    return Failed(ErrorKind::kBadResponse,
                  "the reply from " + context.host +
                      " is larger than 1 MiB; a token reply is a few KiB: check --base-url and "
                      "--endpoint-path",
                  reply.status);
  }
  Verdict verdict;
  verdict.status = reply.status;
  try {
    verdict.response = ParseTokenResponse(reply.body, reply.received_at, *context.redactor);
  } catch (const Error& e) {
    return Failed(ErrorKind::kBadResponse,
                  "bad reply from " + context.host + " (HTTP " + std::to_string(reply.status) +
                      "): " + e.what() + "; check --base-url and --endpoint-path",
                  reply.status);
  }
  return verdict;
}

Verdict JudgeRedirect(const RequestContext& context, const ReplyFacts& reply) {
  std::string target = "another place";
  if (reply.location && !Trim(*reply.location).empty()) {
    target = "'" + RedactedExcerpt(*reply.location, *context.redactor) + "'";
  }
  return Failed(ErrorKind::kRejected,
                "the server answered " + std::to_string(reply.status) + " redirecting to " +
                    target +
                    "; redirects are not followed so the key never goes elsewhere: point "
                    "--base-url at the final address",
                reply.status);
}

Verdict JudgeTransient(const RequestContext& context, const ReplyFacts& reply) {
  Verdict verdict =
      Failed(ErrorKind::kUnavailable,
             std::string(reply.status == 429 ? "rate limited" : "service unavailable") + " (" +
                 ReplyText(context, reply.status, reply.body) + ") after " +
                 Attempts(context.attempts) + ": try again later, or raise --retries",
             reply.status);
  verdict.retryable = true;
  if (reply.retry_after)
    verdict.retry_after = ParseRetryAfter(*reply.retry_after, reply.received_at);
  return verdict;
}

Verdict JudgeClientError(const RequestContext& context, const ReplyFacts& reply) {
  const std::string text = ReplyText(context, reply.status, reply.body);
  if (reply.status == 401 || reply.status == 403) {
    return Failed(ErrorKind::kCredentials,
                  "credentials rejected (" + text + "): check " + context.key_source +
                      " and that the key belongs to the instance at " + context.host,
                  reply.status);
  }
  const std::string hint =
      reply.status == 404 ? "check --base-url and --endpoint-path (the URL was " + context.url + ")"
      : reply.status == 400 || reply.status == 422
          ? "check the distinct id, role, attributes and permissions"
          : "check the request with --dry-run";
  return Failed(ErrorKind::kRejected, "request rejected (" + text + "): " + hint, reply.status);
}

// X509 verification results (OpenSSL's X509_V_ERR_*) in plain words.
std::string CertificateProblem(const RequestContext& context, const TransportFacts& facts) {
  switch (facts.tls_verify_result) {
    case 9:
      return "its certificate is not yet valid (check this machine's clock)";
    case 10:
      return "its certificate has expired";
    case 62:
      return "its certificate does not name " + context.host;
    case 2:
    case 18:
    case 19:
    case 20:
    case 21:
      return "its certificate is signed by an issuer this machine does not trust";
    default:
      break;
  }
  if (facts.detail.find("subject name") != std::string::npos ||
      facts.detail.find("does not match") != std::string::npos) {
    return "its certificate does not name " + context.host;
  }
  return "its certificate could not be verified";
}

Verdict TlsVerificationFailed(const RequestContext& context, const TransportFacts& facts) {
  const std::string store = context.ca_bundle.empty() ? std::string("the system store")
                                                      : "the CA bundle '" + context.ca_bundle + "'";
  return Failed(ErrorKind::kNetwork,
                "TLS with " + context.host + " failed after " + Attempts(context.attempts) +
                    " (not retried): " + CertificateProblem(context, facts) + " (" +
                    RedactedExcerpt(facts.detail, *context.redactor) + "; checked against " +
                    store +
                    "). If the server uses a private CA or a TLS-inspecting proxy, pass that CA "
                    "with --cacert (or TOUCAN_CA_BUNDLE)");
}

bool DemandsClientCertificate(std::string_view detail) {
  return detail.find("certificate required") != std::string_view::npos ||
         detail.find("peer did not return a certificate") != std::string_view::npos;
}

Verdict Retryable(Verdict verdict) {
  verdict.retryable = true;
  verdict.fresh_connection = true;
  return verdict;
}

// libcurl's "CONNECT tunnel failed, response 403": the proxy said no, not the service. Only a
// proxy's 502/503/504 is worth another attempt.
std::optional<Verdict> JudgeProxyRefusal(const RequestContext& context, std::string_view raw,
                                         const std::string& detail) {
  constexpr std::string_view kMarker = "CONNECT tunnel failed, response ";
  const auto at = raw.find(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view code = raw.substr(at + kMarker.size(), 3);
  const bool transient = code == "502" || code == "503" || code == "504";
  Verdict verdict =
      Failed(ErrorKind::kNetwork,
             "the proxy would not open a tunnel to " + context.host + " (" + detail + ") after " +
                 Attempts(context.attempts) + (transient ? "" : " (not retried)") +
                 ": check HTTPS_PROXY / ALL_PROXY and the proxy's credentials, or "
                 "name the host in NO_PROXY to reach it directly");
  verdict.proxy_refused = !transient;
  return transient ? Retryable(verdict) : verdict;
}

// Failures of the network or the connection: transient, retried over a fresh connection.
std::optional<Verdict> JudgeConnectionFailure(const RequestContext& context, int code,
                                              const std::string& detail) {
  const std::string tries = " after " + Attempts(context.attempts);
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return Retryable(Failed(ErrorKind::kNetwork,
                              "could not resolve the host of " + context.url + " (" + detail + ")" +
                                  tries + ": check --base-url, DNS and proxy settings"));
    case CURLE_COULDNT_RESOLVE_PROXY:
      return Retryable(Failed(ErrorKind::kNetwork, "could not resolve the proxy (" + detail + ")" +
                                                       tries + ": check HTTPS_PROXY / ALL_PROXY"));
    case CURLE_COULDNT_CONNECT:
      return Retryable(Failed(ErrorKind::kNetwork,
                              "could not connect to " + context.host + " (" + detail + ")" + tries +
                                  ": check --base-url and that the service is up; for a proxy, "
                                  "check HTTPS_PROXY and NO_PROXY"));
    case CURLE_OPERATION_TIMEDOUT:
      return Retryable(Failed(ErrorKind::kNetwork,
                              "timed out talking to " + context.host + " (" + detail + ")" + tries +
                                  "; limits: --connect-timeout " +
                                  SecondsSetting(context.connect_timeout) + " s, --timeout " +
                                  SecondsSetting(context.timeout) + " s"));
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:  // a reset or close mid-handshake: the network, not trust
      return Retryable(Failed(ErrorKind::kNetwork, "the connection to " + context.host +
                                                       " failed (" + detail + ")" + tries +
                                                       "; check the network and the service"));
    default:
      return std::nullopt;
  }
}

Verdict JudgeFailure(const RequestContext& context, const TransportFacts& facts) {
  const std::string detail = RedactedExcerpt(facts.detail, *context.redactor);
  if (facts.headers_too_large) {
    return Failed(ErrorKind::kBadResponse,
                  "the reply from " + context.host + " has more than 100 KiB of headers");
  }
  if (facts.body_too_large || facts.code == CURLE_FILESIZE_EXCEEDED) {
    return Failed(ErrorKind::kBadResponse,
                  "the reply from " + context.host + " is larger than 1 MiB");
  }
  if (facts.client_certificate_requested || DemandsClientCertificate(facts.detail)) {
    return Failed(
        ErrorKind::kNetwork,
        "the server at " + context.host +
            " demands a client certificate, which toucan-token does not send (" + detail +
            ") after " + Attempts(context.attempts) +
            " (not retried); an embed-token endpoint authenticates with the API key only");
  }
  if (auto verdict = JudgeProxyRefusal(context, facts.detail, detail)) return *verdict;
  // libcurl's "Unsupported proxy syntax in '…'" shares CURLE_COULDNT_RESOLVE_PROXY with a real
  // DNS failure, and "Unsupported proxy scheme" is a CURLE_COULDNT_CONNECT: only the text tells
  // a setting no retry can mend from the network.
  if (facts.detail.rfind("Unsupported proxy", 0) == 0) {
    const std::string variable =
        context.proxy_variable.empty() ? std::string("the proxy setting") : context.proxy_variable;
    return Failed(ErrorKind::kUsage, variable + " is not a usable proxy URL (" + detail +
                                         "): write it as http://host:port, or unset " + variable);
  }
  if (auto verdict = JudgeConnectionFailure(context, facts.code, detail)) return *verdict;
  switch (facts.code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
      return TlsVerificationFailed(context, facts);
    case CURLE_SSL_CACERT_BADFILE:
      return Failed(ErrorKind::kUsage, "the CA bundle '" + context.ca_bundle +
                                           "' cannot be used (" + detail +
                                           "): give a PEM file of CA certificates");
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:  // the URL was checked before: this is the reply (HTTP/0.9)
      return Failed(ErrorKind::kBadResponse, "the reply from " + context.host + " is not HTTP (" +
                                                 detail + "); check --base-url");
    case CURLE_URL_MALFORMAT:
      return Failed(ErrorKind::kUsage, "cannot use " + context.url + " (" + detail + ")");
    default:
      return Failed(ErrorKind::kNetwork, "the request to " + context.host + " failed (" + detail +
                                             ") after " + Attempts(context.attempts));
  }
}

}  // namespace

std::string Attempts(int count) {
  return std::to_string(count) + (count == 1 ? " attempt" : " attempts");
}

std::string FormatUtc(std::int64_t epoch_seconds) { return FormatWideUtc(epoch_seconds); }

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
        "server error (" + ReplyText(context, status, reply.body) + "): the service at " +
            context.host + " failed after " + Attempts(context.attempts) +
            (status == 500 ? " (a 500 is not retried)" : " (only 502, 503 and 504 are retried)") +
            "; try again later",
        status);
  }
  return Failed(
      ErrorKind::kBadResponse,
      "unexpected reply (" + ReplyText(context, status, reply.body) + ") from " + context.host,
      status);
}

bool FailsEveryRequest(const Verdict& verdict) {
  if (!verdict.error) return false;
  switch (verdict.status) {
    case 401:
    case 403:
    case 404:
      return true;
    default:
      break;
  }
  switch (verdict.curl_code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
      return true;
    default:
      return verdict.proxy_refused;
  }
}

Verdict JudgeTransport(const RequestContext& context, const TransportFacts& facts) {
  Verdict verdict = JudgeFailure(context, facts);
  verdict.curl_code = facts.code;
  return verdict;
}

bool RetryPolicy::ShouldRetry(const Verdict& verdict, int attempts) const {
  if (!verdict.retryable || attempts > retries) return false;
  return !(verdict.retry_after && verdict.retry_after->too_long);
}

milliseconds RetryPolicy::Backoff(int attempts, double unit) const {
  // Full jitter: a uniform wait up to the exponential bound, so that clients that failed
  // together do not retry together.
  const double exponent = std::min(std::max(attempts - 1, 0), 40);
  const double bound = std::min(static_cast<double>(cap.count()),
                                static_cast<double>(base.count()) * std::pow(2.0, exponent));
  const double picked = std::clamp(unit, 0.0, 1.0) * bound;
  return milliseconds(static_cast<milliseconds::rep>(picked));
}

milliseconds RetryPolicy::Delay(const Verdict& verdict, int attempts, double unit) const {
  if (verdict.retry_after) return verdict.retry_after->wait;
  return Backoff(attempts, unit);
}

std::chrono::steady_clock::time_point RetryPolicy::SharedPause(
    const Verdict& verdict, std::chrono::steady_clock::time_point paused_until,
    std::chrono::steady_clock::time_point retry_at) {
  return verdict.status == 429 ? std::max(paused_until, retry_at) : paused_until;
}

Error RetryAfterTooLong(const Verdict& verdict) {
  const RetryAfter& wait = *verdict.retry_after;
  return Error(ErrorKind::kUnavailable,
               std::string(verdict.status == 429 ? "rate limited" : "service unavailable") +
                   " (HTTP " + std::to_string(verdict.status) +
                   "): the server asks to retry after " + wait.said +
                   ", more than the 60 s this tool waits; try again at " + wait.until,
               verdict.status);
}

}  // namespace toucan

// ---- Retry-After ---------------------------------------------------------------------------

namespace toucan {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Hinnant's days_from_civil.
std::int64_t DaysFromCivil(std::int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<int>(year - era * 400);
  const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

constexpr std::array<std::string_view, 7> kWeekdays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};

int DaysInMonth(std::int64_t year, int month) {
  if (month == 2) return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28;
  return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
}

// The weekday a date names must be its own ("Sun" or "Sunday"): "Wed, 30 Feb" is no date.
bool WeekdayMatches(std::string_view name, std::int64_t days_since_epoch) {
  const auto weekday = static_cast<std::size_t>(((days_since_epoch % 7) + 11) % 7);  // 0: Sunday
  const std::string_view full = kWeekdays[weekday];
  return name == full || name == full.substr(0, 3);
}

std::optional<int> Number(std::string_view text, std::size_t min_digits, std::size_t max_digits) {
  if (text.size() < min_digits || text.size() > max_digits) return std::nullopt;
  int value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::vector<std::string_view> Fields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ' ' || text[i] == ',' || text[i] == '-') {
      if (i > start) fields.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return fields;
}

struct DateParts {
  std::string_view weekday, day, month, year, time;
};

// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT",
// asctime "Sun Nov  6 08:49:37 1994" (RFC 9110, section 5.6.7).
std::optional<DateParts> SplitHttpDate(std::string_view text) {
  const auto fields = Fields(text);
  const bool gmt = fields.size() == 6 && fields[5] == "GMT";
  if (gmt) return DateParts{fields[0], fields[1], fields[2], fields[3], fields[4]};
  if (fields.size() == 5) return DateParts{fields[0], fields[2], fields[1], fields[4], fields[3]};
  return std::nullopt;
}

std::optional<std::int64_t> ParseHttpDate(std::string_view text) {
  const auto parts = SplitHttpDate(text);
  if (!parts) return std::nullopt;
  const auto month = std::find(kMonths.begin(), kMonths.end(), parts->month);
  auto year = Number(parts->year, 2, 4);
  const auto day = Number(parts->day, 1, 2);
  const auto& time = parts->time;
  if (month == kMonths.end() || !year || !day || time.size() != 8 || time[2] != ':' ||
      time[5] != ':') {
    return std::nullopt;
  }
  const auto hour = Number(time.substr(0, 2), 2, 2);
  const auto minute = Number(time.substr(3, 2), 2, 2);
  const auto second = Number(time.substr(6, 2), 2, 2);
  if (!hour || !minute || !second || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60) {
    return std::nullopt;
  }
  if (parts->year.size() == 2) *year += *year < 70 ? 2000 : 1900;
  const int month_number = static_cast<int>(month - kMonths.begin()) + 1;
  if (*day > DaysInMonth(*year, month_number)) return std::nullopt;
  const std::int64_t days = DaysFromCivil(*year, month_number, *day);
  if (!WeekdayMatches(parts->weekday, days)) return std::nullopt;
  return days * 86400 + *hour * 3600 + *minute * 60 + *second;
}

}  // namespace

std::optional<RetryAfter> ParseRetryAfter(std::string_view value,
                                          std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  const Wide now_seconds = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  RetryAfter result;
  if (!value.empty() &&
      std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // Saturate: past 10^30 s no date is worth computing, and the wait is "too long" anyway.
    Wide wait = 0;
    bool saturated = false;
    for (const char c : value) {
      wait = wait * 10 + (c - '0');
      if (wait > Wide{1'000'000'000'000'000} * 1'000'000'000'000'000) saturated = true;
      if (saturated) break;
    }
    result.said = std::string(value.substr(0, 40)) + (value.size() > 40 ? "..." : "") + " s";
    result.too_long = saturated || wait > kMaxRetryAfter.count();
    result.wait =
        seconds(static_cast<seconds::rep>(std::min<Wide>(wait, kMaxRetryAfter.count() + 1)));
    result.until = saturated ? "a date more than 10^30 s away" : FormatWideUtc(now_seconds + wait);
    return result;
  }
  const auto date = ParseHttpDate(value);
  // A date already past (often a server clock behind ours) asks for no particular wait: the
  // normal backoff applies rather than an immediate retry.
  if (!date || Wide{*date} <= now_seconds) return std::nullopt;
  const Wide wait = Wide{*date} - now_seconds;
  result.said = "\"" + std::string(value) + "\"";
  result.too_long = wait > kMaxRetryAfter.count();
  result.wait =
      seconds(static_cast<seconds::rep>(std::min<Wide>(wait, kMaxRetryAfter.count() + 1)));
  result.until = FormatWideUtc(*date);
  return result;
}

}  // namespace toucan
