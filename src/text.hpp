#pragma once
// Text helpers for everything that turns user or server bytes into a message: UTF-8 checks and
// repair, control-character escaping, bounded excerpts. Internal: not installed.
#include <cstddef>
#include <string>
#include <string_view>

#include "toucan/error.hpp"  // EscapeControls
#include "toucan/client.hpp"  // Redactor

namespace toucan {





// Length of the well-formed UTF-8 sequence at `pos` (1-4), or 0 when the byte there starts none.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t pos);

// Every byte that is not part of a well-formed UTF-8 sequence becomes U+FFFD.
std::string RepairUtf8(std::string_view text);

// EscapeControls (declared in toucan/error.hpp, which every message goes through): invalid UTF-8
// becomes U+FFFD, C0 controls and DEL become `\n`, `\r`, `\t` or `\xHH`, C1 controls and bidirectional
// formatting characters `\u0085`, `\u202e` (some terminals obey U+009B as CSI; U+202E reorders
// the line). Safe for a terminal and for a JSON row.


// `text` as a JSON string with its quotes: `"` and `\` escaped, and control characters (C0, DEL,
// C1, bidirectional formatting) as `\uXXXX` so that the line is safe on a terminal too; invalid UTF-8 becomes U+FFFD.
std::string JsonQuote(std::string_view text);


// `%XX` escapes decoded into bytes, once; a `%` without two hex digits stays as it is.
std::string PercentDecode(std::string_view text);

// Runs of whitespace become one space; leading and trailing whitespace is dropped.
std::string CollapseWhitespace(std::string_view text);

}  // namespace toucan
