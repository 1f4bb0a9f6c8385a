// Reading the service's replies: the token, its expiry, and what an error body says.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <string>

#include "text.hpp"

namespace toucan {
namespace {

// A longer expiry is taken as a server bug rather than printed as a date centuries away.
constexpr std::int64_t kMaxExpirySeconds = std::int64_t{100} * 366 * 24 * 3600;

// Seconds as digits ("3600", read as "3600s"), or as "<n>d<n>h<n>m<n>s", each part optional but
// at least one, each unit once and in that order; empty on anything else or past the cap.
std::optional<std::int64_t> ParseExpiryText(std::string text) {
  if (text.find_first_not_of("0123456789") == std::string::npos) text += 's';
  constexpr std::string_view kUnits = "dhms";
  constexpr std::int64_t kUnitSeconds[] = {86400, 3600, 60, 1};
  std::int64_t total = 0;
  std::int64_t count = -1;  // the number being read; -1 before its first digit
  std::size_t next_unit = 0;
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      count = std::max<std::int64_t>(count, 0) * 10 + (c - '0');
      if (count > kMaxExpirySeconds) return std::nullopt;
      continue;
    }
    const std::size_t unit = kUnits.find(c, next_unit);
    if (count < 0 || unit == std::string_view::npos) return std::nullopt;
    total += count * kUnitSeconds[unit];
    if (total > kMaxExpirySeconds) return std::nullopt;
    count = -1;
    next_unit = unit + 1;
  }
  if (count >= 0 || next_unit == 0) return std::nullopt;  // "1h30", ""
  return total;
}

// ---- what an error body says ------------------------------------------------------------------

// Bytes of page text kept: far more than an excerpt shows, and it keeps the work per page small.
constexpr std::size_t kMaxPageText = 4096;

// Text outside tags, with script and style elements skipped whole (their text is not meant for
// people; an unclosed one runs to the end of the page, as a browser reads it), references to
// ASCII decoded, whitespace collapsed, cut at kMaxPageText.
std::string PageText(std::string_view html) {
  const std::string lower = AsciiLower(html);  // to find tags in
  std::string text;
  for (std::size_t pos = 0; pos < html.size() && text.size() < kMaxPageText;) {
    if (html[pos] == '<') {
      std::size_t end = lower.find('>', pos);
      for (const std::string element : {"script", "style"}) {
        if (lower.compare(pos + 1, element.size(), element) != 0) continue;
        end = lower.find('>', lower.find("</" + element, end));
      }
      pos = end == std::string_view::npos ? html.size() : end + 1;
      text += ' ';
      continue;
    }
    text += html[pos++];
  }
  return CollapseWhitespace(Unescape(text, true));
}

// The part of a body worth quoting, before escaping and cutting: the `message`, `error`,
// `detail` or `error_description` field of a JSON object (first found in that order), each a
// string or an object with a string `message`; an HTML page's title, or failing that its text.
std::string WhatItSays(std::string_view trimmed) {
  const JsonParseResult parsed = ParseBoundedJson(trimmed, JsonNumbers::kAny);
  if (parsed.failure && trimmed.front() != '<') return std::string(trimmed);
  if (parsed.failure) {
    const std::string lower = AsciiLower(trimmed);
    const std::size_t start = lower.find('>', lower.find("<title")) + 1;  // npos + 1 is 0
    const std::size_t close = start == 0 ? std::string::npos : lower.find("</title", start);
    const std::string title =
        close == std::string::npos ? "" : PageText(trimmed.substr(start, close - start));
    return title.empty() ? PageText(trimmed) : title;
  }
  const Json& body = parsed.value;
  for (const char* field : {"message", "error", "detail", "error_description"}) {
    const auto found = body.is_object() ? body.find(field) : body.end();
    if (found == body.end()) continue;
    if (found->is_string()) return found->get<std::string>();
    const auto nested = found->is_object() ? found->find("message") : found->end();
    if (nested != found->end() && nested->is_string()) return nested->get<std::string>();
  }
  return CollapseWhitespace(trimmed);
}

// ---- reading a token reply --------------------------------------------------------------------

constexpr std::string_view kOurFields[] = {"token", "expiresIn", "expiresAt"};

bool IsOurs(std::string_view name) { return std::ranges::count(kOurFields, name) > 0; }

[[noreturn]] void BadReply(const std::string& message) {
  throw Error(ErrorKind::kBadResponse, message);
}

}  // namespace

std::optional<std::int64_t> ExpiryFromValue(const Json& value) {
  if (value.is_number()) {  // every integer up to the cap is exact as a double
    const double seconds = std::floor(value.get<double>());
    if (!(seconds >= 0 && seconds <= static_cast<double>(kMaxExpirySeconds))) return std::nullopt;
    return static_cast<std::int64_t>(seconds);
  }
  if (value.is_string()) return ParseExpiryText(value.get_ref<const std::string&>());
  return std::nullopt;
}

bool IsSafeToken(std::string_view token) {
  const auto printable = [](char c) { return c > 0x20 && c < 0x7F; };  // signed or not
  return !token.empty() && std::all_of(token.begin(), token.end(), printable);
}

TokenResponse ParseTokenResponse(std::string_view body,
                                 std::chrono::system_clock::time_point received_at,
                                 const Redactor& redactor) {
  if (body.size() > kMaxResponseBytes) BadReply("the reply is larger than 1 MiB");
  JsonParseResult parsed = ParseBoundedJson(body, JsonNumbers::kAny, &redactor, kOurFields);
  if (parsed.failure && parsed.failure->reason == JsonParseFailure::Reason::kTooDeep) {
    BadReply("the reply nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (parsed.failure) {  // nlohmann's message would quote the body unredacted
    const std::string start = RedactedExcerpt(CollapseWhitespace(body), redactor);
    BadReply("the reply is not JSON" + (start.empty() ? "" : " (it starts: " + start + ")"));
  }
  Json& reply = parsed.value;
  if (!reply.is_object()) {
    BadReply("the reply is a JSON " + std::string(reply.type_name()) + ", not an object");
  }
  // Our fields out of the reply, the others (in its order) into `extra`.
  TokenResponse response;
  const Json* token = nullptr;
  for (auto& [name, value] : Members(reply)) {
    if (name == "token") token = &value;
    if (name == "expiresIn") response.expires_in = ExpiryFromValue(value);
    if (!IsOurs(name)) Members(response.extra).emplace_back(name, std::move(value));
  }
  if (token == nullptr || !token->is_string()) {
    BadReply(token == nullptr ? "the reply has no \"token\" field"
                              : std::string("the reply's \"token\" is ") +
                                    (token->is_structured() ? "an " : "a ") + token->type_name() +
                                    ", not a string");
  }
  response.token = token->get<std::string>();
  if (!IsSafeToken(response.token)) {
    BadReply(response.token.empty() ? "the reply's token is empty"
                                    : "the reply's token holds characters other than printable "
                                      "ASCII without spaces; refusing to print it");
  }
  // A server that echoes the key as the token must not make us print it.
  if (redactor.Finds(response.token)) {
    BadReply("the reply's token holds the API key; refusing to print it");
  }
  if (response.expires_in) {
    response.expires_at = received_at + std::chrono::seconds(*response.expires_in);
  }
  return response;
}

std::string FormatRfc3339(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::seconds>(when));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string ServerMessageExcerpt(std::string_view body, const Redactor& redactor) {
  const std::string_view trimmed = Trim(body);
  if (trimmed.empty()) return {};
  return RedactedExcerpt(WhatItSays(trimmed), redactor);  // reads only what it shows
}

std::string RedactedExcerpt(std::string_view text, const Redactor& redactor) {
  // Redacted last, once: decoding, escaping or cutting could assemble a form of the key that
  // the raw text did not hold, and a key cut short keeps fewer than 8 of its characters.
  return redactor.Apply(Excerpt(text));
}

std::string ResponseJsonLine(const TokenResponse& response) {
  return DumpJson(ResponseToJson(response));
}

std::string BatchRowJsonLine(std::uint64_t line, const std::optional<std::string>& distinct_id,
                             const TokenResponse& response) {
  Json fields = ResponseToJson(response);  // a row per token: no second object to move it into
  for (const char* ours : {"line", "distinctId", "error"}) fields.erase(ours);
  return "{\"line\":" + std::to_string(line) +
         ",\"distinctId\":" + DumpJson(distinct_id ? Json(*distinct_id) : Json()) + "," +
         DumpJson(fields).substr(1);
}

Json ResponseToJson(const TokenResponse& response) {
  const auto& at = response.expires_at;
  Json out = Json::object();  // not an initializer list, which copies every value
  auto& members = Members(out);
  members.emplace_back("token", response.token);
  members.emplace_back("expiresIn", response.expires_in ? Json(*response.expires_in) : Json());
  members.emplace_back("expiresAt", at ? Json(FormatRfc3339(*at)) : Json());
  if (!response.extra.is_object()) return out;
  for (const auto& [name, value] : response.extra.get_ref<const Json::object_t&>()) {
    if (!IsOurs(name)) members.emplace_back(name, value);
  }
  return out;
}

}  // namespace toucan
