#pragma once
// An independent check of the redaction property, shared by the unit tests, the integration
// fixture and the redaction fuzzer. Deliberately naive and written apart from the Redactor: the
// text is decoded in each way a key can be written (as is, JSON escapes, percent escapes, HTML
// character references, all at once), lower-cased, and every 8-character window of the key (the
// whole key when shorter) is searched for.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace toucan::key_forms {

inline char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

inline int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A decoded code point as one byte: ASCII as itself, anything else as a byte no key holds.
inline char AsByte(long code) { return code > 0 && code < 0x80 ? static_cast<char>(code) : '\x01'; }

inline bool HexAt(const std::string& text, std::size_t pos, std::size_t digits, long& value) {
  if (pos + digits > text.size()) return false;
  value = 0;
  for (std::size_t i = pos; i < pos + digits; ++i) {
    if (Hex(text[i]) < 0) return false;
    value = value * 16 + Hex(text[i]);
  }
  return true;
}

inline bool Entity(const std::string& text, std::size_t pos, char& out, std::size_t& used) {
  const std::size_t semi = text.find(';', pos);
  if (semi == std::string::npos || semi - pos > 10 || semi - pos < 3) return false;
  std::string name;
  for (std::size_t i = pos + 1; i < semi; ++i) name += LowerAscii(text[i]);
  used = semi - pos + 1;
  const char* named[][2] = {{"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}};
  for (const auto& entry : named) {
    if (name == entry[0]) return out = entry[1][0], true;
  }
  if (name[0] != '#') return false;
  long code = 0;
  const bool hex = name[1] == 'x';
  if (name.size() < (hex ? 3u : 2u)) return false;
  for (std::size_t i = hex ? 2 : 1; i < name.size(); ++i) {
    const int digit = hex ? Hex(name[i]) : (name[i] >= '0' && name[i] <= '9' ? name[i] - '0' : -1);
    if (digit < 0) return false;
    code = code * (hex ? 16 : 10) + digit;
  }
  out = AsByte(code);
  return true;
}

inline std::string Decoded(const std::string& text, bool json, bool percent, bool entity) {
  std::string out;
  for (std::size_t pos = 0; pos < text.size();) {
    const char c = text[pos];
    long code = 0;
    char decoded = 0;
    std::size_t used = 0;
    if (json && c == '\\' && pos + 1 < text.size() &&
        std::string("\"\\/").find(text[pos + 1]) != std::string::npos) {
      out += text[pos + 1];
      pos += 2;
    } else if (json && c == '\\' && pos + 1 < text.size() && text[pos + 1] == 'u' &&
               HexAt(text, pos + 2, 4, code)) {
      out += AsByte(code);
      pos += 6;
    } else if (percent && c == '%' && HexAt(text, pos + 1, 2, code)) {
      out += AsByte(code);
      pos += 3;
    } else if (entity && c == '&' && Entity(text, pos, decoded, used)) {
      out += decoded;
      pos += used;
    } else {
      out += c;
      ++pos;
    }
  }
  for (char& ch : out) ch = LowerAscii(ch);
  return out;
}

// The first window of `key` that `text` shows in some form, or nothing.
inline std::optional<std::string> FindKeyForm(const std::string& text, const std::string& key) {
  if (key.empty()) return std::nullopt;
  const std::size_t width = key.size() < 8 ? key.size() : 8;
  std::string lower_key;
  for (const char c : key) lower_key += LowerAscii(c);
  const bool ways[][3] = {{false, false, false},
                          {true, false, false},
                          {false, true, false},
                          {false, false, true},
                          {true, true, true}};
  for (const auto& way : ways) {
    const std::string decoded = Decoded(text, way[0], way[1], way[2]);
    for (std::size_t start = 0; start + width <= lower_key.size(); ++start) {
      if (decoded.find(lower_key.substr(start, width)) != std::string::npos) {
        return key.substr(start, width);
      }
    }
  }
  return std::nullopt;
}

// ---- encoders: the forms a hostile server writes the key in, for tests to produce ----------

// Percent-encoded: every byte (`all`) or only those outside RFC 3986's unreserved set.
inline std::string PercentEncoded(std::string_view text, bool upper, bool all = true) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '~';
    if (!all && unreserved) {
      out += c;
    } else {
      out += '%';
      out += digits[byte >> 4];
      out += digits[byte & 15];
    }
  }
  return out;
}

// Every character \u-escaped, as a JSON encoder that escapes everything writes it.
inline std::string UnicodeEscaped(std::string_view text, bool upper = false) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    out += "\\u00";
    out += digits[byte >> 4];
    out += digits[byte & 15];
  }
  return out;
}

}  // namespace toucan::key_forms
