// Reading the service's replies: the token, its expiry, and what an error body says.
#include <array>
#include <cmath>
#include <ctime>
#include <string>
#include <unordered_map>

#include "json_input.hpp"
#include "text.hpp"
#include "toucan/client.hpp"

namespace toucan {
namespace {

// A longer expiry is taken as a server bug rather than printed as a date centuries away.
constexpr std::int64_t kMaxExpirySeconds = std::int64_t{100} * 366 * 24 * 3600;

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

// ---- what an error body says ------------------------------------------------------------------

// Bytes of page text kept: far more than an excerpt shows, and it keeps the work per page small.
constexpr std::size_t kMaxPageText = 4096;

bool StartsWithNoCase(std::string_view text, std::size_t pos, std::string_view lower) {
  if (text.size() - pos < lower.size()) return false;
  for (std::size_t k = 0; k < lower.size(); ++k) {
    if (AsciiLower(text[pos + k]) != lower[k]) return false;
  }
  return true;
}

// Linear: `lower` is a short tag name, so each position costs a few comparisons at most.
std::size_t FindNoCase(std::string_view text, std::string_view lower, std::size_t from) {
  for (std::size_t pos = from; pos < text.size(); ++pos) {
    if (StartsWithNoCase(text, pos, lower)) return pos;
  }
  return std::string_view::npos;
}

// Where the tag opened at `open` ends, skipping a script or style element whole (its text is not
// meant for people); an unclosed one runs to the end of the page, as a browser reads it.
std::size_t SkipTag(std::string_view html, std::size_t open) {
  const std::size_t end = html.find('>', open);
  if (end == std::string_view::npos) return html.size();
  for (const std::string_view element : {std::string_view("script"), std::string_view("style")}) {
    if (!StartsWithNoCase(html, open + 1, element)) continue;
    const std::string closing = "</" + std::string(element);
    const std::size_t close = FindNoCase(html, closing, end);
    if (close == std::string_view::npos) return html.size();
    const std::size_t close_end = html.find('>', close);
    return close_end == std::string_view::npos ? html.size() : close_end + 1;
  }
  return end + 1;
}

// Text outside tags with the common entities decoded, whitespace collapsed, cut at kMaxPageText.
std::string PageText(std::string_view html) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},  {"&quot;", '"'},
      {"&#39;", '\''}, {"&apos;", '\''}, {"&nbsp;", ' '}};
  std::string text;
  for (std::size_t pos = 0; pos < html.size() && text.size() < kMaxPageText;) {
    if (html[pos] == '<') {
      pos = SkipTag(html, pos);
      text += ' ';
      continue;
    }
    bool decoded = false;
    if (html[pos] == '&') {
      for (const auto& [entity, plain] : kEntities) {
        if (html.compare(pos, entity.size(), entity) != 0) continue;
        text += plain;
        pos += entity.size();
        decoded = true;
        break;
      }
    }
    if (!decoded) text += html[pos++];
  }
  return CollapseWhitespace(text);
}

// An error page's title, or failing that its text.
std::string HtmlToText(std::string_view html) {
  const std::size_t title = FindNoCase(html, "<title", 0);
  if (title != std::string_view::npos) {
    const std::size_t open_end = html.find('>', title);
    const std::size_t close = open_end == std::string_view::npos
                                  ? std::string_view::npos
                                  : FindNoCase(html, "</title", open_end);
    if (close != std::string_view::npos) {
      std::string text = PageText(html.substr(open_end + 1, close - open_end - 1));
      if (!text.empty()) return text;
    }
  }
  return PageText(html);
}

// Finds the field a JSON error body puts its message in, without building the document:
// `message`, `error`, `detail` or `error_description` (first found in that order), each a string
// or an object with a string `message`.
class MessageFinder final : public nlohmann::json_sax<Json> {
 public:
  std::optional<std::string> Message() const {
    for (std::size_t field = 0; field < kFields.size(); ++field) {
      if (direct_[field]) return direct_[field];
      if (nested_[field]) return nested_[field];
    }
    return std::nullopt;
  }

  bool null() override { return true; }
  bool boolean(bool /*value*/) override { return true; }
  bool number_integer(number_integer_t /*value*/) override { return true; }
  bool number_unsigned(number_unsigned_t /*value*/) override { return true; }
  bool number_float(number_float_t /*value*/, const string_t& /*literal*/) override { return true; }
  bool binary(binary_t& /*value*/) override { return false; }
  bool string(string_t& value) override {
    if (field_ && objects_.size() == 1 && objects_[0]) {
      direct_[*field_] = std::move(value);
    } else if (field_ && objects_.size() == 2 && objects_[1] && nested_key_is_message_) {
      nested_[*field_] = std::move(value);
    }
    return true;
  }
  bool key(string_t& name) override {
    if (objects_.size() == 1) {
      field_.reset();
      for (std::size_t field = 0; field < kFields.size(); ++field) {
        if (name != kFields[field]) continue;
        field_ = field;
        direct_[field].reset();  // a repeated key: the last one counts, as in a parsed object
        nested_[field].reset();
      }
    } else if (objects_.size() == 2) {
      nested_key_is_message_ = name == "message";
    }
    return true;
  }
  bool start_object(std::size_t /*size*/) override { return Open(true); }
  bool start_array(std::size_t /*size*/) override { return Open(false); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    return false;
  }

 private:
  static constexpr std::array<std::string_view, 4> kFields = {"message", "error", "detail",
                                                              "error_description"};

  bool Open(bool object) {
    if (objects_.size() >= kMaxJsonDepth) return false;
    objects_.push_back(object);
    nested_key_is_message_ = false;
    return true;
  }
  bool Close() {
    objects_.pop_back();
    if (objects_.size() <= 1) nested_key_is_message_ = false;
    return true;
  }

  std::vector<bool> objects_;  // per open container: an object (else an array)
  std::optional<std::size_t> field_;
  bool nested_key_is_message_ = false;
  std::array<std::optional<std::string>, kFields.size()> direct_;
  std::array<std::optional<std::string>, kFields.size()> nested_;
};

// The part of a body worth quoting, before escaping and cutting.
std::string WhatItSays(std::string_view trimmed) {
  MessageFinder finder;
  if (SaxParseServerJson(trimmed, finder)) {
    if (auto message = finder.Message()) return std::move(*message);
    return CollapseWhitespace(trimmed);
  }
  if (trimmed.front() == '<') return HtmlToText(trimmed);
  return std::string(trimmed);
}

// ---- reading a token reply --------------------------------------------------------------------

// Reads a reply in one pass without building it: our fields are taken, every other top-level
// field is written out as minified JSON (numbers as the server wrote them) with the key
// redacted. Json objects are not used because inserting into one scans it: quadratic.
class ReplyReader final : public nlohmann::json_sax<Json> {
 public:
  explicit ReplyReader(const Redactor& redactor) : redactor_(redactor) {}

  bool too_deep = false;
  std::string top_type;  // the document's type name
  std::optional<std::string> token;
  std::string token_type;  // type name of the last `token` field; empty when there is none
  Json expires_in;         // null when absent or a container
  std::vector<ExtraField> fields;
  std::vector<Json> values;  // the same fields' values, for TokenResponse::extra

  bool null() override { return Scalar(Json(nullptr), "null"); }
  bool boolean(bool value) override { return Scalar(Json(value), value ? "true" : "false"); }
  bool number_integer(number_integer_t value) override {
    return Scalar(Json(value), std::to_string(value));
  }
  bool number_unsigned(number_unsigned_t value) override {
    return Scalar(Json(value), std::to_string(value));
  }
  // A number beyond a double's range comes as ±infinity with its literal (SaxParseServerJson):
  // printed as written, and no usable expiry.
  bool number_float(number_float_t value, const string_t& literal) override {
    return Scalar(Json(value), literal);
  }
  bool string(string_t& value) override {
    if (depth_ == 1 && target_ == Target::kToken) token = value;
    return Scalar(Json(std::move(value)), {});
  }
  bool binary(binary_t& /*value*/) override { return false; }
  bool key(string_t& name) override;
  bool start_object(std::size_t /*size*/) override { return Open('{', "object"); }
  bool start_array(std::size_t /*size*/) override { return Open('[', "array"); }
  bool end_object() override { return Close('}'); }
  bool end_array() override { return Close(']'); }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    return false;  // the message would quote the body unredacted
  }

 private:
  enum class Target { kNone, kToken, kExpiresIn, kExtra };
  struct Container {
    bool array;
    bool first = true;  // nothing written in it yet
  };

  bool Scalar(const Json& value, const std::string& literal);
  bool Open(char bracket, const char* type);
  bool Close(char bracket);
  void BeforeValue();
  void FinishField();
  // A string as printed: redacted, and "***" whole if quoting it would show the key.
  std::string Shown(std::string_view text) const;

  const Redactor& redactor_;
  std::size_t depth_ = 0;
  Target target_ = Target::kNone;
  std::string name_;                                    // the top-level field being read
  std::string json_;                                    // its value so far, for Target::kExtra
  std::optional<Json> scalar_;                          // its value when it is not a container
  std::vector<Container> open_;                         // containers open inside that value
  std::unordered_map<std::string, std::size_t> index_;  // printed name → position in `fields`
};

std::string ReplyReader::Shown(std::string_view text) const {
  std::string shown = redactor_.Apply(text);
  return redactor_.Finds(JsonQuote(shown)) ? std::string("***") : shown;
}

void ReplyReader::BeforeValue() {
  if (open_.empty() || !open_.back().array) return;
  if (!open_.back().first) json_ += ',';
  open_.back().first = false;
}

bool ReplyReader::key(string_t& name) {
  if (depth_ == 1) {
    name_ = std::move(name);
    target_ = name_ == "token"       ? Target::kToken
              : name_ == "expiresIn" ? Target::kExpiresIn
              : name_ == "expiresAt" ? Target::kNone  // ours win
                                     : Target::kExtra;
    json_.clear();
    open_.clear();
    return true;
  }
  if (target_ == Target::kExtra) {
    if (!open_.back().first) json_ += ',';
    open_.back().first = false;
    json_ += JsonQuote(Shown(name));
    json_ += ':';
  }
  return true;
}

bool ReplyReader::Scalar(const Json& value, const std::string& literal) {
  if (depth_ == 0) {
    top_type = value.type_name();
    return true;
  }
  if (depth_ == 1 && target_ == Target::kToken) token_type = value.type_name();
  if (depth_ == 1 && target_ == Target::kExpiresIn) expires_in = value;
  if (target_ != Target::kExtra) return true;
  BeforeValue();
  Json shown = value;
  if (value.is_string()) {
    shown = Shown(value.get_ref<const std::string&>());
    json_ += JsonQuote(shown.get_ref<const std::string&>());
  } else if (redactor_.Finds(literal)) {
    shown = "***";
    json_ += "\"***\"";
  } else {
    json_ += literal;
  }
  if (depth_ == 1) {
    scalar_ = std::move(shown);
    FinishField();
  }
  return true;
}

bool ReplyReader::Open(char bracket, const char* type) {
  if (depth_ >= kMaxJsonDepth) {
    too_deep = true;
    return false;
  }
  ++depth_;
  if (depth_ == 1) {
    top_type = type;
    return true;
  }
  if (depth_ == 2 && target_ == Target::kToken) token_type = type;
  if (depth_ == 2 && target_ == Target::kExpiresIn) expires_in = nullptr;
  if (target_ == Target::kExtra) {
    BeforeValue();
    json_ += bracket;
    open_.push_back({bracket == '['});
  }
  return true;
}

bool ReplyReader::Close(char bracket) {
  if (target_ == Target::kExtra && depth_ >= 2) {
    json_ += bracket;
    open_.pop_back();
    if (depth_ == 2) FinishField();
  }
  --depth_;
  if (depth_ == 1) target_ = Target::kNone;
  return true;
}

void ReplyReader::FinishField() {
  // A container is parsed again from its text: rarer, and still linear.
  Json value = scalar_ ? std::move(*scalar_) : ParseBoundedJson(json_, JsonNumbers::kAny).value;
  scalar_.reset();
  // By the name as printed: two names shown as "***" are one field, so a printed line never
  // repeats a name, and reads back (from the cache) as it was printed.
  std::string shown = Shown(name_);
  const auto [at, inserted] = index_.try_emplace(shown, fields.size());
  if (inserted) {
    fields.push_back({std::move(shown), std::move(json_)});
    values.push_back(std::move(value));
  } else {  // a repeated name: the last value counts
    fields[at->second].json = std::move(json_);
    values[at->second] = std::move(value);
  }
  json_.clear();
  target_ = Target::kNone;
}

[[noreturn]] void BadReply(const std::string& message) {
  throw Error(ErrorKind::kBadResponse, message);
}

// The extra fields as one Json object, built in linear time.
Json ExtraAsJson(const std::vector<ExtraField>& fields, std::vector<Json>& values) {
  Json extra = Json::object();
  auto& members = static_cast<Json::object_t::Container&>(extra.get_ref<Json::object_t&>());
  members.reserve(fields.size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    members.emplace_back(fields[i].name, std::move(values[i]));
  }
  return extra;
}

std::string WithArticle(const std::string& type) {
  return (type == "object" || type == "array" ? "an " : "a ") + type;
}

TokenResponse CheckedResponse(ReplyReader& reader, const Redactor& redactor,
                              std::chrono::system_clock::time_point received_at) {
  if (reader.top_type != "object") {
    BadReply("the reply is a JSON " + reader.top_type + ", not an object");
  }
  if (!reader.token || reader.token_type != "string") {
    BadReply(reader.token_type.empty()
                 ? "the reply has no \"token\" field"
                 : "the reply's \"token\" is " + WithArticle(reader.token_type) + ", not a string");
  }
  TokenResponse response;
  response.token = std::move(*reader.token);
  if (!IsSafeToken(response.token)) {
    BadReply(response.token.empty() ? "the reply's token is empty"
                                    : "the reply's token holds characters other than printable "
                                      "ASCII without spaces; refusing to print it");
  }
  // A server that echoes the key as the token must not make us print it.
  if (redactor.Finds(response.token)) {
    BadReply("the reply's token holds the API key; refusing to print it");
  }
  response.expires_in = ExpiryFromValue(reader.expires_in);
  if (response.expires_in) {
    response.expires_at = received_at + std::chrono::seconds(*response.expires_in);
  }
  response.extra = ExtraAsJson(reader.fields, reader.values);
  response.extra_fields = std::move(reader.fields);
  return response;
}

// ---- printing a response ----------------------------------------------------------------------

bool IsOurs(std::string_view name) {
  return name == "token" || name == "expiresIn" || name == "expiresAt";
}

bool IsBatchRowField(std::string_view name) {
  return name == "line" || name == "distinctId" || name == "error";
}

// `"token":…,"expiresIn":…,"expiresAt":…` then the extra fields `skip` lets through.
void AppendResponseFields(std::string& out, const TokenResponse& response,
                          bool (*skip)(std::string_view)) {
  out += "\"token\":" + JsonQuote(response.token);
  out += ",\"expiresIn\":" + (response.expires_in ? std::to_string(*response.expires_in) : "null");
  out += ",\"expiresAt\":" +
         (response.expires_at ? JsonQuote(FormatRfc3339(*response.expires_at)) : "null");
  const auto append = [&](const std::string& name, const std::string& json) {
    if (IsOurs(name) || (skip != nullptr && skip(name))) return;
    out += ',' + JsonQuote(name) + ':' + json;
  };
  if (!response.extra_fields.empty() || !response.extra.is_object()) {
    for (const ExtraField& field : response.extra_fields) append(field.name, field.json);
    return;
  }
  for (const auto& [name, value] : response.extra.get_ref<const Json::object_t&>()) {
    append(name, value.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
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
                                 std::chrono::system_clock::time_point received_at,
                                 const Redactor& redactor) {
  if (body.size() > kMaxResponseBytes) BadReply("the reply is larger than 1 MiB");
  ReplyReader reader(redactor);
  if (!SaxParseServerJson(body, reader)) {
    if (reader.too_deep) {
      BadReply("the reply nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    const std::string start = RedactedExcerpt(CollapseWhitespace(redactor.Apply(body)), redactor);
    BadReply("the reply is not JSON" + (start.empty() ? "" : " (it starts: " + start + ")"));
  }
  return CheckedResponse(reader, redactor, received_at);
}

TokenResponse ParseTokenResponse(std::string_view body,
                                 std::chrono::system_clock::time_point received_at) {
  return ParseTokenResponse(body, received_at, Redactor(""));
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
  // Redacted before anything is picked, decoded or cut, and again after each step, since
  // decoding or escaping could assemble a form of the key that the raw text did not hold.
  const std::string redacted = redactor.Apply(body);
  const std::string_view trimmed = Trim(redacted);
  if (trimmed.empty()) return {};
  std::string said = WhatItSays(trimmed);
  if (said.size() > kMaxPageText) said.resize(kMaxPageText);  // still > 300 characters
  return RedactedExcerpt(said, redactor);
}

std::string RedactedExcerpt(std::string_view text, const Redactor& redactor) {
  // Redacted again after escaping and cutting: `\n` or "..." could complete a key that holds them.
  return redactor.Apply(Excerpt(redactor.Apply(text)));
}

std::string ServerMessageExcerpt(std::string_view body) {
  return ServerMessageExcerpt(body, Redactor(""));
}

std::string ResponseJsonLine(const TokenResponse& response) {
  std::string out = "{";
  AppendResponseFields(out, response, nullptr);
  out += '}';
  return out;
}

std::string BatchRowJsonLine(std::uint64_t line, const std::optional<std::string>& distinct_id,
                             const TokenResponse& response) {
  std::string out = "{\"line\":" + std::to_string(line) + ",\"distinctId\":";
  out += distinct_id ? JsonQuote(*distinct_id) : std::string("null");
  out += ',';
  AppendResponseFields(out, response, IsBatchRowField);
  out += '}';
  return out;
}

Json ResponseToJson(const TokenResponse& response) {
  // Parsed back from the printed line: one code path decides what is printed.
  return ParseBoundedJson(ResponseJsonLine(response), JsonNumbers::kAny).value;
}

}  // namespace toucan
