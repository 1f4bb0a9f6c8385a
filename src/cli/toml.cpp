// TOML for config and schema files: a lexical scan that keeps toml++ away from input it
// mishandles, then the parse, and the conversion of values to JSON.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "config_internal.hpp"

namespace toucan::internal {
namespace {

const std::string kTooDeep = "nests deeper than " + std::to_string(kMaxConfigDepth) + " levels";

// Where a string that starts at `i` (on its opening quote) ends: the offset of its last
// character. Multi-line strings may end with one or two extra quotes, as TOML allows.
std::size_t SkipString(std::string_view text, std::size_t i) {
  const char quote = text[i];
  const std::string triple(3, quote);
  const bool multiline = text.substr(i, 3) == triple;
  for (std::size_t j = i + (multiline ? 3 : 1); j < text.size(); ++j) {
    if (quote == '"' && text[j] == '\\') {
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

// Run before toml++ builds anything: the offset of the first thing refused, and why. Non-ASCII
// text: toml++ 3.3 reaches __builtin_unreachable() on U+00A1–U+0499 and U+FC26–U+FEFE (found by
// fuzz_config, upstream issue 190). Nesting past the limit: a header `[a.a.a…]` of 300,000 parts
// would build, and recursively free, a table that deep. toml++ stops at the first error, and
// valid TOML holds quotes only in strings, so taking every quote outside a string or comment for
// the start of one agrees with toml++ on everything it builds.
std::pair<std::size_t, std::string> ScanToml(std::string_view text) {
  const auto bad = std::find_if(text.begin(), text.end(), [](char c) { return (c & 0x80) != 0; });
  if (bad != text.end()) {
    return {static_cast<std::size_t>(bad - text.begin()),
            "a non-ASCII character: write it as a \\uXXXX escape inside a quoted string (the "
            "TOML parser used here misreads some non-ASCII text)"};
  }
  int open = 0;  // brackets and braces not yet closed
  int dots = 0;  // in the current run of key characters, quoted parts included
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '#') {
      i = std::min(text.find('\n', i), text.size()) - 1;
    } else if (c == '"' || c == '\'') {
      if (text.substr(i + 1, 2) == std::string(2, c)) dots = 0;  // a multi-line string
      i = SkipString(text, i);
      continue;
    } else if (c == '[' || c == '{') {
      if (++open > kMaxConfigDepth) return {i, kTooDeep};
    } else if (c == ']' || c == '}') {
      if (open > 0) --open;
    } else if (c == '.' && ++dots > kMaxConfigDepth) {
      return {i, kTooDeep};
    }
    // What may stand between the parts of a dotted key (`a . "b" . c`) keeps the run going.
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("._- \t\r").find(c) == std::string_view::npos) {
      dots = 0;
    }
  }
  return {std::string_view::npos, ""};
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

std::string Where(const toml::source_region& region, bool column) {
  return (region.path ? *region.path : "config") + ":" + std::to_string(region.begin.line) +
         (column ? ":" + std::to_string(region.begin.column) : "");
}

toml::table ParseToml(std::string_view text, const std::string& source) {
  if (const auto [offset, reason] = ScanToml(text); offset != std::string_view::npos) {
    // The text before a refusal is ASCII, so columns, which count characters, count bytes.
    const std::string_view before = text.substr(0, offset);
    const auto line = std::count(before.begin(), before.end(), '\n') + 1;
    const std::size_t start = before.rfind('\n') + 1;  // npos + 1 is 0: the first line
    throw UsageError(source + ":" + std::to_string(line) + ":" +
                     std::to_string(offset - start + 1) + ": " + reason);
  }
  try {
    toml::table table = toml::parse(text, std::string_view(source));
    if (const auto* deep = FindTooDeep(table, 0)) {
      throw UsageError(Where(deep->source()) + ": " + kTooDeep);
    }
    return table;
  } catch (const toml::parse_error& e) {
    throw UsageError(Where(e.source()) + ": " + std::string(e.description()));
  }
}

std::vector<std::pair<const toml::key*, const toml::node*>> InFileOrder(const toml::table& table) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (const auto& [key, value] : table) entries.emplace_back(&key, &value);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first->source().begin < b.first->source().begin;
  });
  return entries;
}

Json TomlToJson(const toml::node& node) {
  if (const auto* table = node.as_table()) {
    // Appended: operator[] would scan the object for each key, and a TOML table's are unique.
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
  const auto* floating = node.as_floating_point();
  if (floating && std::isfinite(floating->get())) return floating->get();
  throw UsageError(Where(node.source()) +
                   (floating ? ": inf and nan have no JSON form"
                             : ": dates and times have no JSON form; write the value as a string "
                               "in quotes"));
}

}  // namespace toucan::internal
