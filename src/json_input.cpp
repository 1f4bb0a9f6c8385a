// Bounded JSON parsing: nlohmann/json's SAX interface feeds a builder that refuses depth and
// inexact numbers as they arrive, and redacts server text as it builds.
#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <vector>

#include "text.hpp"

namespace toucan {
namespace {

// A number's significant digits: no sign, point, exponent, leading or trailing zeros.
std::string SignificantDigits(std::string_view number) {
  std::string digits(number.substr(0, number.find_first_of("eE")));
  std::erase_if(digits, [](char c) { return c == '-' || c == '.'; });
  digits.erase(digits.find_last_not_of('0') + 1);  // npos + 1 is 0: all zeros
  digits.erase(0, digits.find_first_not_of('0'));
  return digits;
}

// True when the JSON number `literal` has the decimal value of `value` (`2.50` and 2.5 agree;
// `0.1000000000000000000001` and 0.1 do not). The digits suffice: two decimals that round to one
// nonzero double are not a power of ten apart. A literal without fraction or exponent that
// reached a double was an integer beyond 64 bits: never exact.
bool IsExactDouble(double value, std::string_view literal) {
  if (literal.find_first_of(".eE") == std::string_view::npos) return false;
  char shortest[64];
  const auto written = std::to_chars(shortest, std::end(shortest), value);
  return written.ec == std::errc() &&
         SignificantDigits(literal) == SignificantDigits(std::string_view(shortest, written.ptr));
}

// The UTF-16 code unit a `\uXXXX` escape at `pos` stands for, or -1.
int EscapedUnit(std::string_view text, std::size_t pos) {
  unsigned unit = 0;
  if (text.substr(pos, 2) != "\\u" || text.size() < pos + 6) return -1;
  const auto [end, error] = std::from_chars(text.data() + pos + 2, text.data() + pos + 6, unit, 16);
  return error == std::errc() && end == text.data() + pos + 6 ? static_cast<int>(unit) : -1;
}

// A server's text that nlohmann refuses but a reader can take: each number literal beyond a
// double's range becomes `null` and spaces, each lone surrogate escape (`\ud800`, as Python
// writes one) `\ufffd` — a field we do not use must not cost the token. Empty when nothing is
// replaced. Only whole literals and escapes are replaced: text not JSON stays not JSON.
std::optional<std::string> Tamed(std::string_view text) {
  std::optional<std::string> tamed;
  for (std::size_t pos = 0; pos < text.size();) {
    if (text[pos] == '"') {  // an escaped quote does not end it
      for (++pos; pos < text.size() && text[pos] != '"'; ++pos) {
        if (text[pos] != '\\') continue;
        const int unit = EscapedUnit(text, pos);
        const int next = unit >= 0xD800 && unit < 0xDC00 ? EscapedUnit(text, pos + 6) : -1;
        if (next >= 0xDC00 && next < 0xE000) {  // a pair
          pos += 11;
        } else if (unit >= 0xD800 && unit < 0xE000) {
          if (!tamed) tamed.emplace(text);
          tamed->replace(pos, 6, "\\ufffd");
          pos += 5;
        } else {
          ++pos;  // the escaped character
        }
      }
      ++pos;
      continue;
    }
    if (text[pos] != '-' && (text[pos] < '0' || text[pos] > '9')) {
      ++pos;
      continue;
    }
    const std::size_t end = std::min(text.find_first_not_of("0123456789+-.eE", pos), text.size());
    const std::string_view literal = text.substr(pos, end - pos);
    // Only an exponent or 309 digits reach past DBL_MAX, so such a literal is 5 characters or
    // more, and the rest are not read twice.
    const bool may_overflow =
        literal.size() > 308 || literal.find_first_of("eE") != std::string_view::npos;
    if (may_overflow && IsJsonNumber(literal) && !Json::accept(literal)) {
      if (!tamed) tamed.emplace(text);
      tamed->replace(pos, literal.size(), "null" + std::string(literal.size() - 4, ' '));
    }
    pos = end;
  }
  return tamed;
}

// ---- building values --------------------------------------------------------------------------

class Builder final : public nlohmann::json_sax<Json> {
 public:
  Builder(JsonNumbers numbers, const Redactor* redactor, std::span<const std::string_view> verbatim)
      : numbers_(numbers), redactor_(redactor), verbatim_(verbatim), as_sent_(!redactor) {}

  bool null() override { return Add(Shown(Json(nullptr))); }
  bool boolean(bool value) override { return Add(Shown(Json(value))); }
  bool number_integer(number_integer_t value) override { return Add(Shown(Json(value))); }
  bool number_unsigned(number_unsigned_t value) override { return Add(Shown(Json(value))); }
  bool number_float(number_float_t value, const string_t& literal) override {
    if (numbers_ == JsonNumbers::kExact && !IsExactDouble(value, literal)) {
      return Fail(JsonParseFailure::Reason::kInexactNumber,
                  "the number " + Excerpt(literal, 40) + Where() +
                      " cannot be sent exactly (integers are limited to 64 bits and decimals to "
                      "what a double holds); write it as a string to keep every digit");
    }
    return Add(Shown(Json(value)));
  }
  bool string(string_t& value) override { return Add(Shown(Json(std::move(value)))); }
  bool binary(binary_t& /*value*/) override { return false; }  // JSON text has none
  bool start_object(std::size_t /*size*/) override { return Open(Json::object()); }
  bool key(string_t& name) override {
    if (stack_.size() == 1 && redactor_) {
      as_sent_ = std::find(verbatim_.begin(), verbatim_.end(), name) != verbatim_.end();
    }
    Json shown = Shown(Json(std::move(name)));
    stack_.back().key = std::move(shown.get_ref<std::string&>());
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t /*size*/) override { return Open(Json::array()); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& error) override {
    // The message quotes the input, and may cut a multi-byte character in half; users need no
    // "[json.exception.parse_error.101] ". A number too large for a double (406) is also told
    // where it stands, as an inexact one is.
    const std::string_view what = error.what();
    return Fail(JsonParseFailure::Reason::kSyntax,
                Excerpt(what.substr(what.find("] ") + 2)) + (error.id == 406 ? Where() : ""));
  }

  JsonParseResult Parse(std::string_view text) && {
    // nlohmann's lexer reads a NUL as the end of the input: `{...}\0garbage` would pass.
    if (text.find('\0') != std::string_view::npos) {
      return {Json(), JsonParseFailure{JsonParseFailure::Reason::kSyntax, "it holds a NUL byte"}};
    }
    // User input keeps nlohmann's own refusal of numbers beyond a double (and its message).
    const std::optional<std::string> tamed =
        numbers_ == JsonNumbers::kAny ? Tamed(text) : std::nullopt;
    if (!Json::sax_parse(tamed ? std::string_view(*tamed) : text, this) && !failure_) {
      failure_ = JsonParseFailure{JsonParseFailure::Reason::kSyntax, "it is not valid JSON"};
    }
    return {std::move(result_), std::move(failure_)};
  }

 private:
  struct Frame {
    Json value;
    std::string key;                                     // objects: the member being read
    std::unordered_map<std::string, std::size_t> index;  // objects: key → position
  };

  // Server text is redacted here, once; a value whose printed form would still show the key
  // (a key of digits echoed as a number, a key that JSON escaping completes) is "***" whole.
  Json Shown(Json value) const {
    if (as_sent_) return value;
    if (value.is_string()) value = redactor_->Apply(value.get_ref<const std::string&>());
    return redactor_->Finds(DumpJson(value)) ? Json("***") : value;
  }

  bool Fail(JsonParseFailure::Reason reason, std::string message) {
    if (!failure_) failure_ = JsonParseFailure{reason, std::move(message)};
    return false;
  }

  // " at /a/0/b" for the value being read, for messages; empty at the top level.
  std::string Where() const {
    if (stack_.empty()) return {};
    std::string path;
    for (const Frame& frame : stack_) {
      path += '/';
      path += frame.value.is_array() ? std::to_string(frame.value.size()) : frame.key;
    }
    return " at " + Excerpt(path, 100);
  }

  bool Open(Json container) {
    if (stack_.size() >= kMaxJsonDepth) {
      return Fail(JsonParseFailure::Reason::kTooDeep,
                  "it nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    stack_.push_back(Frame{std::move(container), {}, {}});
    return true;
  }

  bool Close() {
    Json done = std::move(stack_.back().value);
    stack_.pop_back();
    return Add(std::move(done));
  }

  bool Add(Json value) {
    if (stack_.empty()) {
      result_ = std::move(value);
      return true;
    }
    Frame& frame = stack_.back();
    if (frame.value.is_array()) {
      frame.value.get_ref<Json::array_t&>().push_back(std::move(value));
      return true;
    }
    auto& members = Members(frame.value);
    const auto [at, inserted] = frame.index.try_emplace(frame.key, members.size());
    if (inserted) {
      members.emplace_back(std::move(frame.key), std::move(value));
    } else if (numbers_ == JsonNumbers::kExact) {
      // In user input a repeated key is a mistake (two "attributes" in a batch line): one of
      // the values would be dropped without a word.
      return Fail(JsonParseFailure::Reason::kDuplicateKey, "a key is given twice" + Where());
    } else {
      members[at->second].second = std::move(value);
    }
    return true;
  }

  JsonNumbers numbers_;
  const Redactor* redactor_;
  std::span<const std::string_view> verbatim_;  // top-level members kept as sent
  bool as_sent_;                                // no redaction for the value being read
  std::vector<Frame> stack_;
  Json result_;
  std::optional<JsonParseFailure> failure_;
};

}  // namespace

bool IsJsonNumber(std::string_view text) {
  std::size_t pos = 0;
  // Passes at most `max` characters of `set`; how many it passed.
  const auto pass = [&](std::string_view set, std::size_t max = std::string_view::npos) {
    const std::size_t start = pos;
    while (pos < text.size() && pos - start < max && set.find(text[pos]) != set.npos) ++pos;
    return pos - start;
  };
  constexpr std::string_view kDigits = "0123456789";
  pass("-", 1);
  const bool leading_zero = text.substr(pos).starts_with('0');
  const std::size_t integer = pass(kDigits);
  if (integer == 0 || (leading_zero && integer > 1)) return false;
  if (pass(".", 1) && pass(kDigits) == 0) return false;
  if (pass("eE", 1)) {
    pass("+-", 1);
    if (pass(kDigits) == 0) return false;
  }
  return pos == text.size();
}

JsonParseResult ParseBoundedJson(std::string_view text, JsonNumbers numbers,
                                 const Redactor* redactor,
                                 std::span<const std::string_view> verbatim) {
  return Builder(numbers, redactor, verbatim).Parse(text);
}

}  // namespace toucan
