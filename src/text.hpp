#pragma once
// Text helpers for everything that turns user or server bytes into a message: UTF-8 checks and
// repair, control-character escaping, bounded excerpts. Internal: not installed.
#include <cstddef>
#include <string>
#include <string_view>

#include "toucan/error.hpp"  // EscapeControls
#include "toucan/token.hpp"  // Redactor

namespace toucan {

inline constexpr std::size_t kMaxExcerptChars = 300;

constexpr char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

bool IsValidUtf8(std::string_view text);

// Leading and trailing whitespace removed.
std::string_view Trim(std::string_view text);

// Length of the well-formed UTF-8 sequence at `pos` (1-4), or 0 when the byte there starts none.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t pos);

// Every byte that is not part of a well-formed UTF-8 sequence becomes U+FFFD.
std::string RepairUtf8(std::string_view text);

// EscapeControls (declared in toucan/error.hpp, which every message goes through): invalid UTF-8
// becomes U+FFFD, C0 controls and DEL become `\n`, `\r`, `\t` or `\xHH`, C1 controls and bidirectional
// formatting characters `\u0085`, `\u202e` (some terminals obey U+009B as CSI; U+202E reorders
// the line). Safe for a terminal and for a JSON row.

// EscapeControls over at most `max_chars` characters of `text`, with "..." when some were left
// out. Reads only what it keeps, so a 1 MiB body costs no more than a short one.
std::string Excerpt(std::string_view text, std::size_t max_chars = kMaxExcerptChars);

// `text` as a JSON string with its quotes: `"` and `\` escaped, and control characters (C0, DEL,
// C1, bidirectional formatting) as `\uXXXX` so that the line is safe on a terminal too; invalid UTF-8 becomes U+FFFD.
std::string JsonQuote(std::string_view text);

// Where the first C0 control, DEL or C1 control (U+0080-U+009F, as UTF-8) in `text` starts, or
// npos.
std::size_t FindControl(std::string_view text);

// `%XX` escapes decoded into bytes, once; a `%` without two hex digits stays as it is.
std::string PercentDecode(std::string_view text);

// Runs of whitespace become one space; leading and trailing whitespace is dropped.
std::string CollapseWhitespace(std::string_view text);

}  // namespace toucan
