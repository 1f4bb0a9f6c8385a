#pragma once
// JSON parsing with its limits built in: depth is checked while parsing (a deep document is
// never built), objects are built in linear time, and user numbers are checked for exactness.
// Internal: not installed.
#include <optional>
#include <string>
#include <string_view>

#include "toucan/client.hpp"

namespace toucan {

enum class JsonNumbers {
  kExact,  // user input: a number must survive the trip through int64/uint64/double unchanged,
           // and a key may appear once in an object
  kAny,    // server text: numbers are taken as they come (beyond a double's range: ±infinity)
};

struct JsonParseFailure {
  enum class Reason { kSyntax, kTooDeep, kInexactNumber, kDuplicateKey } reason;
  std::string message;  // printable: valid UTF-8, control characters escaped, bounded
};

struct JsonParseResult {
  Json value;
  std::optional<JsonParseFailure> failure;  // set when `value` is not to be used
};

// Parses `text` as one JSON document in time linear in its size. Duplicate keys: refused in
// kExact mode; otherwise the last value wins at the first key's place (as Json::parse does).
JsonParseResult ParseBoundedJson(std::string_view text, JsonNumbers numbers);

// Json::sax_parse for server text, which may hold numbers beyond a double's range (`1e400`, a
// 400-digit integer). nlohmann's lexer refuses those outright (parse error 406) and would lose
// the whole reply; here each reaches `handler` as number_float(±infinity, the literal as written),
// in document order like any other number. Linear in the text, never a second parse.
bool SaxParseServerJson(std::string_view text, nlohmann::json_sax<Json>& handler);

// True when the decimal value of the JSON number `literal` is the value of `value`, judged by
// comparing the literal with the shortest text that reads back as `value` (`2.50` and 2.5 agree;
// `0.1000000000000000000001` and 0.1 do not). A literal without fraction or exponent that reached
// a double was an integer beyond 64 bits: never exact.
bool IsExactDouble(double value, std::string_view literal);

// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, the JSON number grammar, and nothing more.
bool IsJsonNumber(std::string_view text);

}  // namespace toucan
