#pragma once
// Text helpers shared inside the library (temporary: replaced by the text layer).
#include <string>
#include <string_view>

#include "toucan/token.hpp"

namespace toucan {

inline std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// Control characters escaped and invalid UTF-8 made visible, for quoting input in messages.
inline std::string EscapeForMessage(std::string_view text) {
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  const bool valid = IsValidUtf8(text);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F || (!valid && c >= 0x80)) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace toucan
