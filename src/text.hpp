#pragma once
// Text helpers of the library besides the public ones (EscapeControls, Excerpt, Quoted, Trim, ...
// in toucan/client.hpp and error.hpp). Internal: not installed.
#include <string>
#include <string_view>

#include "toucan/client.hpp"

namespace toucan {

// `text` as a JSON string with its quotes: `"` and `\` escaped, invalid UTF-8 as U+FFFD, and the
// characters EscapeControls escapes as `\uXXXX`, so that the line is safe on a terminal too.
std::string JsonQuote(std::string_view text);

// `%XX` escapes decoded into bytes, once; a `%` without two hex digits stays as it is.
std::string PercentDecode(std::string_view text);

// Runs of whitespace become one space; leading and trailing whitespace is dropped.
std::string CollapseWhitespace(std::string_view text);

}  // namespace toucan
