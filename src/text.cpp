// UTF-8 checks, one escaping engine for messages and JSON, and the redaction of the API key.
#include "text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

namespace toucan {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kSpace = " \t\r\n\f\v";

struct Unit {
  std::uint32_t code;  // the character the bytes stand for
  std::size_t length;  // how many raw bytes they are; 0 when they are not well-formed UTF-8
};

Unit DecodeUtf8(std::string_view text, std::size_t pos) {
  const auto c = static_cast<unsigned char>(text[pos]);
  if (c < 0x80) return {c, 1};
  if (c < 0xC2 || c > 0xF4) return {0, 0};
  const std::size_t extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
  std::uint32_t code = c & (0x3Fu >> extra);
  if (text.size() - pos <= extra) return {0, 0};
  for (std::size_t k = 1; k <= extra; ++k) {
    const auto cc = static_cast<unsigned char>(text[pos + k]);
    if ((cc & 0xC0u) != 0x80u) return {0, 0};
    code = (code << 6) | (cc & 0x3Fu);
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
  constexpr std::uint32_t kLeast[] = {0, 0x80, 0x800, 0x10000};
  if (code < kLeast[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return {};
  return {code, extra + 1};
}

// C0, DEL and C1 controls (some terminals obey U+009B as CSI), and the bidirectional formatting
// characters, which reorder or hide what a terminal shows (a "Trojan Source" line).
bool IsInvisible(std::uint32_t code) {
  return code < 0x20 || (code >= 0x7F && code <= 0x9F) || code == 0x61C || code == 0x200E ||
         code == 0x200F || (code >= 0x202A && code <= 0x202E) || (code >= 0x2066 && code <= 0x2069);
}

enum class Style { kMessage, kJson };  // kJson: inside JSON strings, where `\uXXXX` is read

// The one escaping engine: at most `max_chars` characters of `text` appended to `out`, invalid
// UTF-8 as U+FFFD and invisible characters escaped, so the result is safe on a terminal and in a
// JSON row. Returns how many bytes were read: a caller that cuts reads no further than it keeps.
std::size_t AppendEscaped(std::string& out, std::string_view text, Style style,
                          std::size_t max_chars = std::string_view::npos) {
  std::size_t pos = 0;
  for (std::size_t chars = 0; pos < text.size() && chars < max_chars;) {
    // Printable ASCII, the common case (every value of every reply), is copied a run at a time.
    const std::string_view rest = text.substr(pos, max_chars - chars);
    const auto run = static_cast<std::size_t>(
        std::find_if(rest.begin(), rest.end(), [](char c) { return c < 0x20 || c > 0x7E; }) -
        rest.begin());
    out.append(rest.substr(0, run));
    pos += run;
    chars += run;
    if (run > 0) continue;
    const auto [code, length] = DecodeUtf8(text, pos);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
    } else if (!IsInvisible(code)) {
      out.append(text.substr(pos, length));
    } else if (style == Style::kMessage && code < 0x80) {
      const std::size_t named = std::string_view("\n\r\t").find(static_cast<char>(code));
      out += named != std::string_view::npos
                 ? std::string{'\\', "nrt"[named]}
                 : std::string{'\\', 'x', kHex[code >> 4], kHex[code & 0xF]};
    } else {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(code >> shift) & 0xF];
    }
    pos += std::max<std::size_t>(length, 1);
    ++chars;
  }
  return pos;
}

// ---- Redactor ------------------------------------------------------------------------------
//
// The text is read once per decoding (as it is; JSON escapes; percent escapes; HTML character
// references; all three at once), each time as a stream of characters, lower-cased, that maps
// back to the raw bytes they came from. A window of the last min(8, key length) characters is
// kept as one 64-bit number and looked up among the key's windows, so the time is linear in the
// text and independent of how often the key appears; covered raw bytes are then replaced.

enum Decoding : unsigned { kAsIs = 0, kJson = 1, kPercent = 2, kEntity = 4 };

// The decodings that can read `raw` differently from as it is: those whose escape character it
// holds, and all of them at once when it holds more than one kind (the key may be written in a
// mixture). Most text needs one pass.
std::vector<unsigned> DecodingsFor(std::string_view raw) {
  std::vector<unsigned> decodings{kAsIs};
  if (raw.find('\\') != std::string_view::npos) decodings.push_back(kJson);
  if (raw.find('%') != std::string_view::npos) decodings.push_back(kPercent);
  if (raw.find('&') != std::string_view::npos) decodings.push_back(kEntity);
  if (decodings.size() > 2) decodings.push_back(kJson | kPercent | kEntity);
  return decodings;
}

// The number `text` spells in `base`, all of it; -1 when it is not one. Unsigned: no sign.
long Number(std::string_view text, int base) {
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return error == std::errc() && end == text.data() + text.size() ? long{value} : -1;
}

// `&#38;`, `&#x26;` (also without the `;`, as browsers read them) and every named reference HTML
// has for a printable ASCII character (`&lowbar;`, `&UnderBar;`; any case), so that none hides a
// piece of the key. `&nbsp;`: a space.
Unit EntityEscape(std::string_view text, std::size_t pos) {
  if (text.substr(pos, 2) == "&#") {  // numeric, the common case: no walk through the names
    const bool hex = pos + 2 < text.size() && (text[pos + 2] | 0x20) == 'x';
    const std::size_t start = pos + 2 + hex;
    const auto stop =
        std::min(text.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789", start),
                 std::min(text.size(), start + 8));
    const long code = Number(text.substr(start, stop - start), hex ? 16 : 10);
    if (code < 0) return {'&', 1};
    return {static_cast<std::uint32_t>(code), stop - pos + (text.substr(stop, 1) == ";")};
  }
  constexpr std::size_t kLongest = 18;  // "&DiacriticalGrave;"
  const std::size_t end = text.substr(pos, kLongest + 1).find(';');
  if (end == std::string_view::npos || end < 3) return {'&', 1};
  const std::string name = AsciiLower(text.substr(pos + 1, end - 1));
  static constexpr std::pair<std::string_view, char> kNamed[] = {
      {"excl", '!'},   {"quot", '"'},     {"num", '#'},          {"dollar", '$'},
      {"percnt", '%'}, {"amp", '&'},      {"apos", '\''},        {"lpar", '('},
      {"rpar", ')'},   {"ast", '*'},      {"midast", '*'},       {"plus", '+'},
      {"comma", ','},  {"period", '.'},   {"sol", '/'},          {"colon", ':'},
      {"semi", ';'},   {"lt", '<'},       {"equals", '='},       {"gt", '>'},
      {"quest", '?'},  {"commat", '@'},   {"lsqb", '['},         {"lbrack", '['},
      {"bsol", '\\'},  {"rsqb", ']'},     {"rbrack", ']'},       {"hat", '^'},
      {"lowbar", '_'}, {"underbar", '_'}, {"grave", '`'},        {"lcub", '{'},
      {"lbrace", '{'}, {"verbar", '|'},   {"vert", '|'},         {"rcub", '}'},
      {"rbrace", '}'}, {"nbsp", ' '},     {"verticalline", '|'}, {"diacriticalgrave", '`'}};
  for (const auto& [entity, c] : kNamed) {
    if (name == entity) return {static_cast<unsigned char>(c), end + 1};
  }
  return {'&', 1};
}

// The character at `pos` under `decoding`. JSON's `\n` and the like are left as two characters:
// a reader sees a backslash and a letter, and a key may hold both.
Unit Decode(std::string_view text, std::size_t pos, unsigned decoding) {
  const char c = text[pos];
  const char next = pos + 1 < text.size() ? text[pos + 1] : '\0';
  const bool json = (decoding & kJson) != 0 && c == '\\';
  if (json && (next == '"' || next == '\\' || next == '/'))
    return {static_cast<unsigned char>(next), 2};
  const bool percent = (decoding & kPercent) != 0 && c == '%';
  const std::string_view hex = json && next == 'u' ? text.substr(pos + 2, 4)
                               : percent           ? text.substr(pos + 1, 2)
                                                   : "";
  const long code = hex.size() == (percent ? 2u : 4u) ? Number(hex, 16) : -1;
  if (code >= 0) return {static_cast<std::uint32_t>(code), percent ? 3u : 6u};
  if ((decoding & kEntity) != 0 && c == '&') return EntityEscape(text, pos);
  return {static_cast<unsigned char>(c), 1};
}

std::size_t Hash(std::uint64_t window) { return (window * 0x9E3779B97F4A7C15u) >> 52; }

// A key is printable ASCII without spaces: anything else separates, never matches.
unsigned char KeyChar(std::uint32_t code) {
  if (code < 0x21 || code > 0x7E) return 0;
  return static_cast<unsigned char>(AsciiLower(static_cast<char>(code)));
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  std::size_t length = 1;  // of the last character read
  for (std::size_t pos = 0; pos < text.size() && length != 0; pos += length) {
    length = DecodeUtf8(text, pos).length;
  }
  return length != 0;
}

std::string_view Trim(std::string_view text) {
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

std::string EscapeControls(std::string_view text) { return Excerpt(text, std::string_view::npos); }

std::string Excerpt(std::string_view text, std::size_t max_chars) {
  std::string out;
  if (AppendEscaped(out, text, Style::kMessage, max_chars) < text.size()) out += "...";
  return out;
}

std::string Quoted(std::string_view text, std::size_t max_chars) {
  return "'" + Excerpt(text, max_chars) + "'";
}

std::string DumpJson(const Json& value) {
  // nlohmann escapes C0 controls only; the other invisible characters occur only inside strings.
  std::string out;
  AppendEscaped(out, value.dump(-1, ' ', false, Json::error_handler_t::replace), Style::kJson);
  return out;
}

std::size_t FindControl(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size(); ++pos) {
    const auto c = static_cast<unsigned char>(text[pos]);
    const auto next = pos + 1 < text.size() ? static_cast<unsigned char>(text[pos + 1]) : 0;
    if (c < 0x20 || c == 0x7F || (c == 0xC2 && next >= 0x80 && next <= 0x9F)) return pos;
  }
  return std::string_view::npos;
}

std::string CollapseWhitespace(std::string_view text) {
  std::string out;
  for (const char c : Trim(text)) {  // starts and ends with a non-space
    const bool space = kSpace.find(c) != std::string_view::npos;
    if (!space || out.back() != ' ') out += space ? ' ' : c;
  }
  return out;
}

std::string Unescape(std::string_view text, bool html) {
  std::string out;
  for (std::size_t pos = 0; pos < text.size();) {
    const Unit unit = Decode(text, pos, html ? kEntity : kPercent);
    if (!html || unit.code < 0x80) {  // a reference to a non-ASCII character stays
      out += static_cast<char>(unit.code);
    } else {
      out += text.substr(pos, unit.length);
    }
    pos += unit.length;
  }
  return out;
}

Redactor::Redactor(std::string key) {
  gram_ = std::min<std::size_t>(key.size(), 8);
  if (gram_ == 0) return;
  mask_ = gram_ == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * gram_)) - 1;
  std::uint64_t window = 0;
  std::size_t run = 0;
  for (const char c : key) {
    const unsigned char k = KeyChar(static_cast<unsigned char>(c));
    run = k == 0 ? 0 : run + 1;
    window = ((window << 8) | k) & mask_;
    if (run >= gram_) {
      table_.push_back(window);
      hashed_.set(Hash(window));
    }
  }
  std::sort(table_.begin(), table_.end());  // for binary search: a key has few windows
  std::fill(key.begin(), key.end(), '\0');
}

bool Redactor::Scan(std::string_view raw, std::vector<bool>* covered) const {
  if (gram_ == 0 || raw.size() < gram_) return false;  // a window takes a byte per character
  bool found = false;
  for (const unsigned decoding : DecodingsFor(raw)) {
    std::uint64_t window = 0;
    std::size_t run = 0;
    std::array<std::size_t, 8> starts{};  // raw offsets of the window's characters
    std::size_t covered_until = 0;
    for (std::size_t pos = 0; pos < raw.size();) {
      const Unit unit = decoding == kAsIs ? Unit{static_cast<unsigned char>(raw[pos]), 1}
                                          : Decode(raw, pos, decoding);  // the hot path: no call
      const unsigned char c = KeyChar(unit.code);
      run = c == 0 ? 0 : run + 1;
      starts[run % 8] = pos;
      window = ((window << 8) | c) & mask_;
      if (run >= gram_ && hashed_[Hash(window)] &&
          std::binary_search(table_.begin(), table_.end(), window)) {
        if (covered == nullptr) return true;
        if (covered->empty()) covered->resize(raw.size(), false);
        found = true;
        const std::size_t end = pos + unit.length;
        const std::size_t start = std::max(starts[(run + 1 - gram_) % 8], covered_until);
        std::fill(covered->begin() + start, covered->begin() + end, true);
        covered_until = end;
      }
      pos += unit.length;
    }
  }
  return found;
}

bool Redactor::Finds(std::string_view raw) const { return Scan(raw, nullptr); }

std::string Redactor::Apply(std::string_view raw, std::string_view marker) const {
  std::vector<bool> covered;  // sized on the first match
  if (!Scan(raw, &covered)) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  for (std::size_t pos = 0; pos < raw.size(); ++pos) {
    if (!covered[pos]) {
      out += raw[pos];
    } else if (pos == 0 || !covered[pos - 1]) {
      out += marker;  // one for each run of covered bytes
    }
  }
  return out;
}

}  // namespace toucan
