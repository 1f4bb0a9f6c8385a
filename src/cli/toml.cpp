// TOML for config and schema files: a lexical scan that keeps toml++ away from input it
// mishandles, then the parse, and the conversion of values to JSON.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <tuple>

#include "config_internal.hpp"

namespace toucan::internal {
namespace {

bool IsKeyRunChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == ' ' ||
         c == '\t';
}

struct Refusal {
  std::size_t offset = std::string_view::npos;
  std::string reason;
};

bool IsAscii(char c) { return static_cast<unsigned char>(c) < 0x80; }

// Unlike strchr, false for '\0': a NUL in the text is not the end of `set` (found by fuzzing).
bool IsOneOf(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

// Where a string that starts at `i` (on its opening quote) ends: the offset of its last
// character. Multi-line strings may end with one or two extra quotes, as TOML allows.
std::size_t SkipString(std::string_view text, std::size_t i) {
  const char quote = text[i];
  const bool escapes = quote == '"';
  const std::string triple(3, quote);
  const bool multiline = text.substr(i, 3) == triple;
  for (std::size_t j = i + (multiline ? 3 : 1); j < text.size(); ++j) {
    if (escapes && text[j] == '\\') {
      ++j;
    } else if (multiline && text.substr(j, 3) == triple) {
      j += 2;
      for (int extra = 0; extra < 2 && j + 1 < text.size() && text[j + 1] == quote; ++extra) ++j;
      return j;
    } else if (!multiline && (text[j] == quote || text[j] == '\n')) {
      return j;
    }
  }
  return text.size();
}

// What the scan knows of TOML's structure: enough to tell where a string may start, so that it
// agrees with toml++ about what is inside a string even in a broken document.
struct TomlScanState {
  char previous = '\n';   // the last significant character; '\n' at the start of a line
  bool in_value = false;  // after '=' (or inside an array), not in a key
  std::string open;       // '[' array, '{' inline table, 'h' table header
  int dots = 0;           // dots in the current run of key characters, quoted parts included

  // Keys start a line or follow '.', '[' (headers), '{' or ','; values follow '=', '[' or ','.
  bool StringMayStart() const {
    return IsOneOf(previous, "\n=[{,") || (previous == '.' && !in_value);
  }
  void Open(char kind) {
    open += kind;
    in_value = kind == '[';
  }
  void Close() {
    const bool header = !open.empty() && open.back() == 'h';
    if (!open.empty()) open.pop_back();
    in_value = !open.empty() || !header;
  }
};

// A lexical scan run before toml++ builds anything. It refuses nesting past the limit (a header
// such as `[a.a.a…]` with 300,000 parts would otherwise build, and recursively free, a table
// that deep) and non-ASCII text: toml++ 3.3 tests such characters with
// is_non_ascii_horizontal_whitespace(), which reaches __builtin_unreachable() for U+00A1–U+0499
// and U+FC26–U+FEFE (undefined behaviour; found by fuzz_config, upstream issue 190).
Refusal ScanToml(std::string_view text) {
  Refusal refusal;
  // Telling strings from broken values exactly as toml++ does proved fragile (the fuzzer kept
  // finding inputs where the two disagree), so the rule is simple and sure: the file is ASCII,
  // and a non-ASCII character is written as a \uXXXX escape inside a quoted string.
  if (const auto bad = std::find_if(text.begin(), text.end(), [](char c) { return !IsAscii(c); });
      bad != text.end()) {
    return {static_cast<std::size_t>(bad - text.begin()),
            "a non-ASCII character: write it as a \\uXXXX escape inside a quoted string (the "
            "TOML parser used here misreads some non-ASCII text)"};
  }
  TomlScanState s;
  const std::string too_deep = "nests deeper than " + std::to_string(kMaxConfigDepth) + " levels";
  for (std::size_t i = 0; i < text.size() && refusal.offset == std::string_view::npos; ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r') continue;
    if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
      continue;
    }
    if ((c == '"' || c == '\'') && s.StringMayStart()) {
      const bool multiline = text.substr(i + 1, 2) == std::string(2, c);
      i = SkipString(text, i);
      if (multiline) s.dots = 0;
      s.previous = '"';
      continue;
    }
    // A bracket or quote where none may stand (`1[`, `1"`) is just part of a broken value.
    bool structural = IsOneOf(c, "\n=],}.");
    if (c == '[' && IsOneOf(s.previous, "\n=[,")) {
      const bool header = s.previous == '\n' ? s.open.empty() && !s.in_value
                                             : !s.open.empty() && s.open.back() == 'h';
      s.Open(header ? 'h' : '[');
      structural = true;
    } else if (c == '{' && IsOneOf(s.previous, "=[,")) {
      s.Open('{');
      structural = true;
    } else if (c == ']' || c == '}') {
      s.Close();
    } else if (c == '\n') {
      if (s.open.empty()) s.in_value = false;
    } else if (c == '=') {
      s.in_value = true;
    } else if (c == ',' && !s.open.empty()) {
      s.in_value = s.open.back() != '{';
    } else if (c == '.' && ++s.dots > kMaxConfigDepth) {
      refusal = {i, too_deep};
    }
    if (s.open.size() > static_cast<std::size_t>(kMaxConfigDepth)) refusal = {i, too_deep};
    if (c != '.' && !IsKeyRunChar(c)) s.dots = 0;
    s.previous = structural ? c : 'x';
  }
  return refusal;
}

// The text before a refusal is ASCII, so columns, which count characters, count bytes.
std::string LineColumn(std::string_view text, std::size_t offset) {
  const auto line = std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n') + 1;
  const auto newline = offset == 0 ? std::string_view::npos : text.rfind('\n', offset - 1);
  const std::size_t column = offset - (newline == std::string_view::npos ? 0 : newline + 1) + 1;
  return std::to_string(line) + ":" + std::to_string(column);
}

// The depth walk stops one level past the limit, so it never recurses further than that.
const toml::node* FindTooDeep(const toml::node& node, int depth) {
  if (depth > kMaxConfigDepth) return &node;
  if (const auto* table = node.as_table()) {
    for (const auto& [key, value] : *table) {
      if (const auto* deep = FindTooDeep(value, depth + 1)) return deep;
    }
  } else if (const auto* array = node.as_array()) {
    for (const auto& value : *array) {
      if (const auto* deep = FindTooDeep(value, depth + 1)) return deep;
    }
  }
  return nullptr;
}

}  // namespace

std::string Where(const toml::source_region& region) {
  const std::string file = region.path ? *region.path : std::string("config");
  return file + ":" + std::to_string(region.begin.line) + ":" + std::to_string(region.begin.column);
}

toml::table ParseToml(std::string_view text, const std::string& source) {
  if (const Refusal refusal = ScanToml(text); refusal.offset != std::string_view::npos) {
    throw UsageError(source + ":" + LineColumn(text, refusal.offset) + ": " + refusal.reason);
  }
  toml::table table;
  try {
    table = toml::parse(text, std::string_view(source));
  } catch (const toml::parse_error& e) {
    throw UsageError(Where(e.source()) + ": " + std::string(e.description()));
  }
  for (const auto& [key, value] : table) {
    if (const auto* deep = FindTooDeep(value, 1)) {
      throw UsageError(Where(deep->source()) + ": nests deeper than " +
                       std::to_string(kMaxConfigDepth) + " levels");
    }
  }
  return table;
}

std::vector<std::pair<const toml::key*, const toml::node*>> InFileOrder(const toml::table& table) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (const auto& [key, value] : table) entries.emplace_back(&key, &value);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const auto& x = a.first->source().begin;
    const auto& y = b.first->source().begin;
    return std::tie(x.line, x.column) < std::tie(y.line, y.column);
  });
  return entries;
}

Json TomlToJson(const toml::node& node) {
  if (const auto* table = node.as_table()) {
    // Appended, not set through operator[], which scans the object for each key; a TOML table's
    // keys are unique already.
    Json object = Json::object();
    auto& members = static_cast<Json::object_t::Container&>(object.get_ref<Json::object_t&>());
    for (const auto& [key, value] : InFileOrder(*table)) {
      members.emplace_back(std::string(key->str()), TomlToJson(*value));
    }
    return object;
  }
  if (const auto* array = node.as_array()) {
    Json list = Json::array();
    for (const auto& value : *array) list.push_back(TomlToJson(value));
    return list;
  }
  if (const auto* text = node.as_string()) return text->get();
  if (const auto* integer = node.as_integer()) return integer->get();
  if (const auto* boolean = node.as_boolean()) return boolean->get();
  if (const auto* floating = node.as_floating_point()) {
    if (!std::isfinite(floating->get())) {
      throw UsageError(Where(node.source()) + ": inf and nan have no JSON form");
    }
    return floating->get();
  }
  throw UsageError(Where(node.source()) +
                   ": dates and times have no JSON form; write the value as a string in quotes");
}

}  // namespace toucan::internal
