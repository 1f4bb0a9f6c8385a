#pragma once
// Internal helpers of the library (not installed): text besides the public helpers of
// toucan/client.hpp and error.hpp, and JSON parsing with its limits built in.
#include "toucan/client.hpp"

namespace toucan {

// `value` as one line of JSON that is safe on a terminal: invalid UTF-8 as U+FFFD, and the
// characters EscapeControls escapes (C0, DEL, C1, bidirectional formatting) as `\uXXXX`.
std::string DumpJson(const Json& value);

// `%XX` escapes decoded into bytes, once; a `%` without two hex digits stays as it is. With `html`,
// HTML character references to ASCII (`&amp;`, `&#38;`, `&nbsp;`) instead; the others stay.
std::string Unescape(std::string_view text, bool html = false);

// Runs of whitespace become one space; leading and trailing whitespace is dropped.
std::string CollapseWhitespace(std::string_view text);

// ---- json_input.cpp ----------------------------------------------------------------------------

enum class JsonNumbers {
  kExact,  // user input: a number must survive the trip through int64/uint64/double unchanged,
           // and a key may appear once in an object
  kAny,    // server text: numbers as doubles (beyond a double's range, which nlohmann refuses:
           // null), a repeated key's last value at the first key's place (as Json::parse does)
};

struct JsonParseFailure {
  enum class Reason { kSyntax, kTooDeep, kInexactNumber, kDuplicateKey } reason;
  std::string message;  // printable: valid UTF-8, control characters escaped, bounded
};

struct JsonParseResult {
  Json value;
  std::optional<JsonParseFailure> failure;  // set when `value` is not to be used
};

// Parses `text` as one JSON document in time linear in its size. With a `redactor` (for a reply),
// each name and string goes through it once, and a name or value whose printed form (DumpJson)
// would still show the key becomes "***" (so two names may become one, the last value winning);
// the top-level members named in `verbatim` are kept as sent.
JsonParseResult ParseBoundedJson(std::string_view text, JsonNumbers numbers,
                                 const Redactor* redactor = nullptr,
                                 std::span<const std::string_view> verbatim = {});

// The members of a Json object, to append to in linear time (Json's own insert scans the object).
inline Json::object_t::Container& Members(Json& object) {
  return static_cast<Json::object_t::Container&>(object.get_ref<Json::object_t&>());
}

}  // namespace toucan
