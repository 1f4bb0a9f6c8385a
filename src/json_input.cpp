// Bounded JSON parsing: nlohmann/json's SAX interface feeds a builder that refuses depth and
// inexact numbers as they arrive; server text may hold numbers beyond a double's range.
#include "json_input.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <unordered_map>
#include <vector>

#include "text.hpp"

namespace toucan {
namespace {

// Exponents are read up to this: far past any double, and no overflow in the arithmetic.
constexpr long long kExponentCap = 1'000'000'000'000LL;

// A number's decimal value as 0.<digits> × 10^exponent, digits without leading or trailing zeros
// (none at all for zero), so two spellings of one value compare equal.
struct Decimal {
  bool negative = false;
  std::string digits;
  long long exponent = 0;

  bool operator==(const Decimal& other) const {
    if (digits.empty() || other.digits.empty()) return digits.empty() && other.digits.empty();
    return negative == other.negative && digits == other.digits && exponent == other.exponent;
  }
};

// `-?d+(.d+)?([eE][+-]?d+)?`, as the JSON grammar and std::to_chars write numbers.
Decimal ToDecimal(std::string_view text) {
  std::size_t pos = 0;
  const auto at = [&](std::string_view chars) {
    return pos < text.size() && chars.find(text[pos]) != std::string_view::npos;
  };
  std::string all;
  const auto read_digits = [&] {
    while (at("0123456789")) all += text[pos++];
  };
  Decimal decimal;
  decimal.negative = at("-");
  if (decimal.negative) ++pos;
  read_digits();
  const auto point = static_cast<long long>(all.size());
  if (at(".")) {
    ++pos;
    read_digits();
  }
  long long exponent = 0;
  if (at("eE")) {
    ++pos;
    const bool negative = at("-");
    if (at("+-")) ++pos;
    for (; at("0123456789"); ++pos) {
      if (exponent < kExponentCap) exponent = exponent * 10 + (text[pos] - '0');
    }
    if (negative) exponent = -exponent;
  }
  const std::size_t first = all.find_first_not_of('0');
  if (first == std::string::npos) return decimal;  // zero
  const std::size_t last = all.find_last_not_of('0');
  decimal.digits = all.substr(first, last - first + 1);
  decimal.exponent = point - static_cast<long long>(first) + exponent;
  return decimal;
}

// ---- numbers beyond a double's range in server text ------------------------------------------

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Whether a JSON number literal reads as ±infinity. Its order of magnitude comes from counting
// digits, so only a literal between 1e308 and 1e309, where DBL_MAX lies, is converted.
bool BeyondDouble(std::string_view literal) {
  std::size_t pos = literal.front() == '-' ? 1 : 0;
  long long order = 0;  // 10^(order-1) <= |value| < 10^order, once a non-zero digit is seen
  bool nonzero = false;
  for (; pos < literal.size() && IsDigit(literal[pos]); ++pos) {
    nonzero = nonzero || literal[pos] != '0';
    if (nonzero) ++order;
  }
  if (pos < literal.size() && literal[pos] == '.') {
    for (++pos; pos < literal.size() && IsDigit(literal[pos]); ++pos) {
      if (!nonzero && literal[pos] == '0') --order;
      nonzero = nonzero || literal[pos] != '0';
    }
  }
  if (!nonzero) return false;  // zero
  long long exponent = 0;
  if (pos < literal.size()) {  // at `e` or `E`
    const bool negative = literal[++pos] == '-';
    if (literal[pos] == '-' || literal[pos] == '+') ++pos;
    for (; pos < literal.size(); ++pos) {
      exponent = std::min(exponent * 10 + (literal[pos] - '0'), kExponentCap);
    }
    if (negative) exponent = -exponent;
  }
  if (order + exponent <= 308) return false;
  if (order + exponent >= 310) return true;
  double value = 0;  // overflow is the only range error this close to DBL_MAX
  return std::from_chars(literal.data(), literal.data() + literal.size(), value).ec ==
         std::errc::result_out_of_range;
}

struct BeyondDoubleLiteral {
  std::size_t ordinal;  // among the document's numbers, in document order
  std::size_t start;
  std::size_t size;
};

// Where the string opened at `open` ends (one past its closing quote).
std::size_t StringEnd(std::string_view text, std::size_t open) {
  for (std::size_t pos = open + 1; pos < text.size();) {
    pos = text.find_first_of("\"\\", pos);
    if (pos == std::string_view::npos) break;
    if (text[pos] == '"') return pos + 1;
    pos += 2;  // an escape: the character after the backslash never ends the string
  }
  return text.size();
}

// The number literals outside strings that read as ±infinity. A run of number characters that is
// not one whole JSON number ends the search: the parser fails there, or at the token after it, so
// it reports no number past that run, and the ordinals counted up to it are the parser's.
std::vector<BeyondDoubleLiteral> FindNumbersBeyondDouble(std::string_view text) {
  std::vector<BeyondDoubleLiteral> found;
  std::size_t ordinal = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    if (text[pos] == '"') {
      pos = StringEnd(text, pos);
      continue;
    }
    if (text[pos] != '-' && !IsDigit(text[pos])) {
      ++pos;
      continue;
    }
    const std::size_t end = text.find_first_not_of("0123456789+-.eE", pos);
    const std::string_view literal = text.substr(pos, end - pos);
    if (!IsJsonNumber(literal)) break;
    if (BeyondDouble(literal)) found.push_back({ordinal, pos, literal.size()});
    ++ordinal;
    pos += literal.size();
  }
  return found;
}

// Passes every event on, but the placeholders of the numbers found beyond a double's range,
// which go on as number_float(±infinity, the literal as written).
class BeyondDoubleNumbers final : public nlohmann::json_sax<Json> {
 public:
  BeyondDoubleNumbers(nlohmann::json_sax<Json>& inner, std::string_view text,
                      const std::vector<BeyondDoubleLiteral>& found)
      : inner_(inner), text_(text), found_(found) {}

  bool null() override { return inner_.null(); }
  bool boolean(bool value) override { return inner_.boolean(value); }
  bool number_integer(number_integer_t value) override {
    const BeyondDoubleLiteral* found = Next();
    return found ? Infinite(*found) : inner_.number_integer(value);
  }
  bool number_unsigned(number_unsigned_t value) override {
    const BeyondDoubleLiteral* found = Next();
    return found ? Infinite(*found) : inner_.number_unsigned(value);
  }
  bool number_float(number_float_t value, const string_t& literal) override {
    const BeyondDoubleLiteral* found = Next();
    return found ? Infinite(*found) : inner_.number_float(value, literal);
  }
  bool string(string_t& value) override { return inner_.string(value); }
  bool binary(binary_t& value) override { return inner_.binary(value); }
  bool start_object(std::size_t size) override { return inner_.start_object(size); }
  bool key(string_t& name) override { return inner_.key(name); }
  bool end_object() override { return inner_.end_object(); }
  bool start_array(std::size_t size) override { return inner_.start_array(size); }
  bool end_array() override { return inner_.end_array(); }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& error) override {
    return inner_.parse_error(position, last_token, error);
  }

 private:
  // The literal found for the number being reported, if any; counts every number.
  const BeyondDoubleLiteral* Next() {
    const bool hit = next_ < found_.size() && found_[next_].ordinal == numbers_seen_;
    ++numbers_seen_;
    return hit ? &found_[next_++] : nullptr;
  }
  bool Infinite(const BeyondDoubleLiteral& found) {
    const std::string literal(text_.substr(found.start, found.size));
    const double infinity = std::numeric_limits<double>::infinity();
    return inner_.number_float(literal.front() == '-' ? -infinity : infinity, literal);
  }

  nlohmann::json_sax<Json>& inner_;
  std::string_view text_;
  const std::vector<BeyondDoubleLiteral>& found_;
  std::size_t next_ = 0;
  std::size_t numbers_seen_ = 0;
};

// ---- building values --------------------------------------------------------------------------

std::string WithoutJsonPrefix(std::string_view what) {
  // nlohmann's messages start with "[json.exception.parse_error.101] "; users need the rest.
  const auto pos = what.find("] ");
  return std::string(pos == std::string_view::npos ? what : what.substr(pos + 2));
}

class Builder final : public nlohmann::json_sax<Json> {
 public:
  explicit Builder(JsonNumbers numbers) : numbers_(numbers) {}

  bool null() override { return Add(Json(nullptr)); }
  bool boolean(bool value) override { return Add(Json(value)); }
  bool number_integer(number_integer_t value) override { return Add(Json(value)); }
  bool number_unsigned(number_unsigned_t value) override { return Add(Json(value)); }
  bool number_float(number_float_t value, const string_t& literal) override {
    if (numbers_ == JsonNumbers::kExact && !IsExactDouble(value, literal)) {
      return Fail(JsonParseFailure::Reason::kInexactNumber,
                  "the number " + Excerpt(literal, 40) + Where() +
                      " cannot be sent exactly (integers are limited to 64 bits and decimals to "
                      "what a double holds); write it as a string to keep every digit");
    }
    return Add(Json(value));
  }
  bool string(string_t& value) override { return Add(Json(std::move(value))); }
  bool binary(binary_t& /*value*/) override { return false; }  // JSON text has none
  bool start_object(std::size_t /*size*/) override { return Open(Json::object()); }
  bool key(string_t& name) override {
    stack_.back().key = std::move(name);
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t /*size*/) override { return Open(Json::array()); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& error) override {
    // The message quotes the input, and may cut a multi-byte character in half. A number too
    // large for a double (406) is also told where it stands, as an inexact one is.
    return Fail(JsonParseFailure::Reason::kSyntax,
                Excerpt(WithoutJsonPrefix(error.what())) + (error.id == 406 ? Where() : ""));
  }

  JsonParseResult Result() && { return {std::move(result_), std::move(failure_)}; }

 private:
  struct Frame {
    Json value;
    std::string key;                                     // objects: the member being read
    std::unordered_map<std::string, std::size_t> index;  // objects: key → position
  };

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
    // Json's own insert scans the object for the key: quadratic over many members.
    auto& members = static_cast<Json::object_t::Container&>(frame.value.get_ref<Json::object_t&>());
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
  std::vector<Frame> stack_;
  Json result_;
  std::optional<JsonParseFailure> failure_;
};

}  // namespace

bool IsJsonNumber(std::string_view text) {
  std::size_t pos = 0;
  const auto at = [&](std::string_view chars) {
    return pos < text.size() && chars.find(text[pos]) != std::string_view::npos;
  };
  const auto digits = [&] {
    const std::size_t start = pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    return pos > start;
  };
  if (at("-")) ++pos;
  if (at("0")) {
    ++pos;
  } else if (!digits()) {
    return false;
  }
  if (at(".")) {
    ++pos;
    if (!digits()) return false;
  }
  if (at("eE")) {
    ++pos;
    if (at("+-")) ++pos;
    if (!digits()) return false;
  }
  return pos == text.size();
}

bool IsExactDouble(double value, std::string_view literal) {
  if (literal.find_first_of(".eE") == std::string_view::npos) return false;
  char shortest[64];
  const auto written = std::to_chars(shortest, shortest + sizeof shortest, value);
  if (written.ec != std::errc()) return false;
  const auto length = static_cast<std::size_t>(written.ptr - shortest);
  return ToDecimal(literal) == ToDecimal(std::string_view(shortest, length));
}

bool SaxParseServerJson(std::string_view text, nlohmann::json_sax<Json>& handler) {
  const std::vector<BeyondDoubleLiteral> found = FindNumbersBeyondDouble(text);
  if (found.empty()) return Json::sax_parse(text, &handler);
  // Each such literal becomes `0` and spaces, which every parser reads, at the same offsets.
  std::string tamed(text);
  for (const BeyondDoubleLiteral& literal : found) {
    tamed[literal.start] = '0';
    std::fill_n(tamed.begin() + static_cast<std::ptrdiff_t>(literal.start + 1), literal.size - 1,
                ' ');
  }
  BeyondDoubleNumbers forward(handler, text, found);
  return Json::sax_parse(tamed, &forward);
}

JsonParseResult ParseBoundedJson(std::string_view text, JsonNumbers numbers) {
  Builder builder(numbers);
  // User input keeps nlohmann's own refusal of such numbers (and its message).
  const bool parsed = numbers == JsonNumbers::kAny ? SaxParseServerJson(text, builder)
                                                   : Json::sax_parse(text, &builder);
  JsonParseResult result = std::move(builder).Result();
  if (!parsed && !result.failure) {
    result.failure = JsonParseFailure{JsonParseFailure::Reason::kSyntax, "it is not valid JSON"};
  }
  return result;
}

}  // namespace toucan
