// Reading the service's replies: the token, its expiry, and what an error body says.
#include <cctype>
#include <cmath>
#include <ctime>
#include <string>

#include "toucan/token.hpp"

namespace toucan {
namespace {

// A longer expiry is taken as a server bug rather than printed as a date centuries away.
constexpr std::int64_t kMaxExpirySeconds = std::int64_t{100} * 366 * 24 * 3600;
constexpr std::size_t kMaxExcerptChars = 300;

std::optional<std::int64_t> Capped(std::int64_t seconds) {
  if (seconds < 0 || seconds > kMaxExpirySeconds) return std::nullopt;
  return seconds;
}

// Digits only; empty on anything else or on overflow past the cap.
std::optional<std::int64_t> ParseDigits(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
    if (value > kMaxExpirySeconds) return std::nullopt;
  }
  return value;
}

// "<n>d<n>h<n>m<n>s", each part optional but at least one, each unit once and in that order.
std::optional<std::int64_t> ParseDuration(std::string_view text) {
  constexpr std::string_view kUnits = "dhms";
  constexpr std::int64_t kUnitSeconds[] = {86400, 3600, 60, 1};
  std::size_t next_unit = 0;
  std::int64_t total = 0;
  std::size_t pos = 0;
  if (text.empty()) return std::nullopt;
  while (pos < text.size()) {
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start || pos == text.size()) return std::nullopt;
    const auto unit = kUnits.find(text[pos], next_unit);
    if (unit == std::string_view::npos) return std::nullopt;
    const auto count = ParseDigits(text.substr(start, pos - start));
    if (!count) return std::nullopt;
    total += *count * kUnitSeconds[unit];
    if (total > kMaxExpirySeconds) return std::nullopt;
    next_unit = unit + 1;
    ++pos;
  }
  return total;
}

void AppendEscaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
  }
}

// Control characters and bytes that are not UTF-8 become visible escapes; the result is cut
// at kMaxExcerptChars characters.
std::string PrintableExcerpt(std::string_view text) {
  std::string out;
  std::size_t chars = 0;
  std::size_t i = 0;
  while (i < text.size() && chars < kMaxExcerptChars) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      AppendEscaped(out, c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (len > 1 && i + len <= text.size() && IsValidUtf8(text.substr(i, len))) {
        out.append(text.substr(i, len));
      } else {
        AppendEscaped(out, c);
        len = 1;
      }
      i += len;
    }
    ++chars;
  }
  if (i < text.size()) out += "...";
  return out;
}

std::string CollapseWhitespace(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// An error page's title, or failing that its text without tags; a few common entities decoded.
std::string HtmlToText(std::string_view html) {
  const std::string lower = Lowercase(html);
  const auto title = lower.find("<title");
  if (title != std::string::npos) {
    const auto open_end = lower.find('>', title);
    const auto close = lower.find("</title", title);
    if (open_end != std::string::npos && close != std::string::npos && close > open_end) {
      std::string text = HtmlToText(html.substr(open_end + 1, close - open_end - 1));
      if (!text.empty()) return text;
    }
  }
  std::string text;
  bool in_tag = false;
  for (std::size_t i = 0; i < html.size(); ++i) {
    const char c = html[i];
    if (in_tag) {
      if (c == '>') {
        in_tag = false;
        text += ' ';
      }
    } else if (c == '<') {
      // Skip scripts and styles whole: their text is not meant for people.
      for (const char* skipped : {"script", "style"}) {
        if (lower.compare(i + 1, std::char_traits<char>::length(skipped), skipped) == 0) {
          const auto end = lower.find(std::string("</") + skipped, i);
          if (end != std::string::npos) i = end;
        }
      }
      in_tag = true;
    } else {
      text += c;
    }
  }
  static const std::pair<std::string_view, std::string_view> kEntities[] = {
      {"&amp;", "&"},   {"&lt;", "<"},  {"&gt;", ">"},
      {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "}};
  for (const auto& [entity, plain] : kEntities) {
    for (auto pos = text.find(entity); pos != std::string::npos; pos = text.find(entity, pos)) {
      text.replace(pos, entity.size(), plain);
      pos += plain.size();
    }
  }
  return CollapseWhitespace(text);
}

}  // namespace

std::optional<std::int64_t> ExpiryFromValue(const Json& value) {
  if (value.is_number_unsigned()) {
    const auto seconds = value.get<std::uint64_t>();
    if (seconds > static_cast<std::uint64_t>(kMaxExpirySeconds)) return std::nullopt;
    return static_cast<std::int64_t>(seconds);
  }
  if (value.is_number_integer()) return Capped(value.get<std::int64_t>());
  if (value.is_number_float()) {
    const double seconds = std::floor(value.get<double>());
    if (!std::isfinite(seconds) || seconds < 0 || seconds > static_cast<double>(kMaxExpirySeconds))
      return std::nullopt;
    return static_cast<std::int64_t>(seconds);
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (auto digits = ParseDigits(text)) return digits;
    return ParseDuration(text);
  }
  return std::nullopt;
}

bool IsSafeToken(std::string_view token) {
  if (token.empty()) return false;
  for (const char c : token) {
    if (c <= 0x20 || c >= 0x7F) return false;
  }
  return true;
}

TokenResponse ParseTokenResponse(std::string_view body,
                                 std::chrono::system_clock::time_point received_at) {
  Json parsed;
  try {
    parsed = Json::parse(body);
  } catch (const Json::exception&) {
    const std::string excerpt = PrintableExcerpt(CollapseWhitespace(body));
    throw Error(ErrorKind::kBadResponse,
                "the reply is not JSON" + (excerpt.empty() ? "" : " (it starts: " + excerpt + ")"));
  }
  if (!parsed.is_object()) {
    throw Error(ErrorKind::kBadResponse,
                std::string("the reply is a JSON ") + parsed.type_name() + ", not an object");
  }
  const auto token = parsed.find("token");
  if (token == parsed.end() || !token->is_string()) {
    throw Error(ErrorKind::kBadResponse, token == parsed.end()
                                             ? "the reply has no \"token\" field"
                                             : std::string("the reply's \"token\" is a ") +
                                                   token->type_name() + ", not a string");
  }
  TokenResponse response;
  response.token = token->get<std::string>();
  if (!IsSafeToken(response.token)) {
    throw Error(ErrorKind::kBadResponse,
                response.token.empty() ? "the reply's token is empty"
                                       : "the reply's token holds characters other than "
                                         "printable ASCII without spaces; refusing to print it");
  }
  if (const auto expires = parsed.find("expiresIn"); expires != parsed.end()) {
    response.expires_in = ExpiryFromValue(*expires);
  }
  if (response.expires_in) {
    response.expires_at = received_at + std::chrono::seconds(*response.expires_in);
  }
  for (auto& [key, value] : parsed.items()) {
    if (key != "token" && key != "expiresIn" && key != "expiresAt") response.extra[key] = value;
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

std::string ServerMessageExcerpt(std::string_view body) {
  const std::string_view trimmed = Trim(body);
  if (trimmed.empty()) return {};
  try {
    const Json parsed = Json::parse(trimmed);
    if (parsed.is_object()) {
      for (const char* field : {"message", "error", "detail", "error_description"}) {
        const auto it = parsed.find(field);
        if (it == parsed.end()) continue;
        if (it->is_string()) return PrintableExcerpt(it->get<std::string>());
        if (it->is_object() && it->contains("message") && (*it)["message"].is_string()) {
          return PrintableExcerpt((*it)["message"].get<std::string>());
        }
      }
    }
    return PrintableExcerpt(parsed.dump());
  } catch (const Json::exception&) {
    // Not JSON: HTML or plain text.
  }
  if (trimmed.front() == '<') return PrintableExcerpt(HtmlToText(trimmed));
  return PrintableExcerpt(trimmed);
}

Json ResponseToJson(const TokenResponse& response) {
  Json out = Json::object();
  out["token"] = response.token;
  out["expiresIn"] = response.expires_in ? Json(*response.expires_in) : Json(nullptr);
  out["expiresAt"] =
      response.expires_at ? Json(FormatRfc3339(*response.expires_at)) : Json(nullptr);
  for (const auto& [key, value] : response.extra.items()) out[key] = value;
  return out;
}

}  // namespace toucan
