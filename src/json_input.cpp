// Bounded JSON parsing: nlohmann/json's SAX interface feeds a builder that refuses depth and
// inexact numbers as they arrive.
#include "json_input.hpp"

#include <charconv>
#include <unordered_map>
#include <vector>

#include "text.hpp"

namespace toucan {
namespace {

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
  constexpr long long kExponentCap = 1'000'000'000'000LL;  // far past any double; no overflow
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

bool IsExactDouble(double value, std::string_view literal) {
  if (literal.find_first_of(".eE") == std::string_view::npos) return false;
  char shortest[64];
  const auto written = std::to_chars(shortest, shortest + sizeof shortest, value);
  if (written.ec != std::errc()) return false;
  const auto length = static_cast<std::size_t>(written.ptr - shortest);
  return ToDecimal(literal) == ToDecimal(std::string_view(shortest, length));
}

JsonParseResult ParseBoundedJson(std::string_view text, JsonNumbers numbers) {
  Builder builder(numbers);
  const bool parsed = Json::sax_parse(text, &builder);
  JsonParseResult result = std::move(builder).Result();
  if (!parsed && !result.failure) {
    result.failure = JsonParseFailure{JsonParseFailure::Reason::kSyntax, "it is not valid JSON"};
  }
  return result;
}

}  // namespace toucan
