#include "config.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <tuple>

#include "config_internal.hpp"
#include "output.hpp"

namespace toucan {
namespace internal {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

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

// After a line-ending backslash in a multi-line basic string: the first character that is not
// whitespace. toml++ 3.3 asks is_horizontal_whitespace() about it, which reaches
// __builtin_unreachable() for most non-ASCII code points (undefined behaviour, found by fuzzing).
std::size_t AfterLineEndingBackslash(std::string_view text, std::size_t j) {
  std::size_t k = j + 1;
  while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
  if (k >= text.size() || (text[k] != '\n' && text[k] != '\r')) return std::string_view::npos;
  while (k < text.size() && IsOneOf(text[k], " \t\r\n")) ++k;
  return k;
}

// Where a string that starts at `i` (on its opening quote) ends: the offset of its last
// character. Multi-line strings may end with one or two extra quotes, as TOML allows.
std::size_t SkipString(std::string_view text, std::size_t i, Refusal& refusal) {
  const char quote = text[i];
  const bool escapes = quote == '"';
  const std::string triple(3, quote);
  const bool multiline = text.substr(i, 3) == triple;
  for (std::size_t j = i + (multiline ? 3 : 1); j < text.size(); ++j) {
    if (escapes && text[j] == '\\') {
      const std::size_t next =
          multiline ? AfterLineEndingBackslash(text, j) : std::string_view::npos;
      if (j + 1 < text.size() && !IsAscii(text[j + 1])) {
        refusal = {j, "invalid escape sequence"};
      } else if (next < text.size() && !IsAscii(text[next])) {
        refusal = {next,
                   "a non-ASCII character cannot start the line after a line-ending backslash "
                   "(toml++ misreads it); move it or drop the backslash"};
      }
      if (refusal.offset != std::string_view::npos) return text.size();
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
// that deep) and non-ASCII text outside strings and comments: never valid TOML 1.0, and toml++
// 3.3 tests such characters with is_non_ascii_horizontal_whitespace(), which reaches
// __builtin_unreachable() for U+00A1–U+0499 and U+FC26–U+FEFE (undefined behaviour; found by
// fuzz_config, upstream issue 190).
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
      i = SkipString(text, i, refusal);
      if (multiline) s.dots = 0;
      s.previous = '"';
      continue;
    }
    // A bracket or quote where none may stand (`1[`, `1"`) is just part of a broken value.
    bool structural = IsOneOf(c, "\n=],}.");
    if (!IsAscii(c)) {
      refusal = {i, "a non-ASCII character outside a quoted string (a key with one needs quotes)"};
    } else if (c == '[' && IsOneOf(s.previous, "\n=[,")) {
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

// Columns count characters, as toml++'s do, not bytes.
std::string LineColumn(std::string_view text, std::size_t offset) {
  const auto line = std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n') + 1;
  const auto newline = offset == 0 ? std::string_view::npos : text.rfind('\n', offset - 1);
  const std::size_t start = newline == std::string_view::npos ? 0 : newline + 1;
  std::size_t column = 1;
  for (std::size_t k = start; k < offset; ++k) {
    if ((static_cast<unsigned char>(text[k]) & 0xC0) != 0x80) ++column;
  }
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

std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string Printable(std::string_view text) {
  const std::string quoted =
      Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

std::optional<FileText> ReadRegularFile(const std::string& path, std::string_view what,
                                        std::size_t max_bytes, bool missing_ok) {
  const std::string name = std::string(what) + " " + path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT && missing_ok) return std::nullopt;
    throw UsageError(name + ": " + ErrnoText(error));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) throw UsageError(name + ": " + ErrnoText(errno));
  if (S_ISDIR(info.st_mode)) throw UsageError(name + " is a directory");
  if (!S_ISREG(info.st_mode)) throw UsageError(name + " is not a regular file");
  if (static_cast<std::size_t>(info.st_size) > max_bytes) {
    throw UsageError(name + " is larger than " + std::to_string(max_bytes / 1024) + " KiB");
  }
  FileText file{std::string(), info.st_mode, info.st_uid};
  // Bounded even if the file grows while it is read.
  std::string buffer(max_bytes + 1, '\0');
  std::size_t used = 0;
  while (used < buffer.size()) {
    const ssize_t got = ::read(fd, buffer.data() + used, buffer.size() - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw UsageError(name + ": " + ErrnoText(errno));
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  if (used > max_bytes) {
    throw UsageError(name + " is larger than " + std::to_string(max_bytes / 1024) + " KiB");
  }
  buffer.resize(used);
  file.text = std::move(buffer);
  return file;
}

std::optional<std::string> XdgFolder(const Environment& env, const std::string& variable,
                                     std::string_view fallback) {
  // The XDG base directory rules ignore a relative path.
  if (auto value = env(variable); value && !value->empty() && value->front() == '/') {
    return value;
  }
  if (auto home = env("HOME"); home && !home->empty()) {
    return *home + "/" + std::string(fallback);
  }
  return std::nullopt;
}

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
    throw UsageError(Where(e.source()) + ": " + Printable(e.description()));
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

}  // namespace internal

namespace {

using internal::Where;

constexpr std::string_view kKnownKeys[] = {
    "base-url",    "endpoint-path", "api-key-env", "api-key-file", "api-key-command", "role",
    "attributes",  "permissions",   "cacert",      "timeout",      "connect-timeout", "retries",
    "concurrency", "schema",        "cache",       "min-ttl",      "output"};

// Names from the file or the command line, quoted for a message.
std::string Quote(std::string_view text) { return "'" + internal::Printable(text) + "'"; }

bool IsInlineKeyName(std::string_view key) {
  std::string normal;
  for (const char c : key) {
    if (c != '-' && c != '_') normal += AsciiLower(c);
  }
  return normal == "apikey" || normal == "key" || normal == "token";
}

[[noreturn]] void UnknownKey(const toml::key& key) {
  const std::string name(key.str());
  if (IsInlineKeyName(name)) {
    throw UsageError(Where(key.source()) +
                     ": an API key is never kept in the config file; put it " +
                     "in a file only you can read and name it with 'api-key-file', or use " +
                     "'api-key-command'");
  }
  std::string message = Where(key.source()) + ": unknown key " + Quote(name);
  const std::vector<std::string> known(std::begin(kKnownKeys), std::end(kKnownKeys));
  if (const auto close = SuggestName(name, known)) {
    throw UsageError(message + " (did you mean '" + *close + "'?)");
  }
  message +=
      "; the keys are base-url, endpoint-path, api-key-env, api-key-file, api-key-command, "
      "role, attributes, permissions, cacert, timeout, connect-timeout, retries, "
      "concurrency, schema, cache, min-ttl, output";
  throw UsageError(message);
}

struct Context {
  std::string folder;  // of the config file, for relative paths
  std::optional<std::string> home;
};

std::string ResolvePath(const std::string& path, const Context& context) {
  if (path == "-" || path.front() == '/') return path;
  if (path.rfind("~/", 0) == 0 && context.home) return *context.home + path.substr(1);
  return context.folder + "/" + path;
}

const std::string& NonEmptyString(std::string_view key, const toml::node& value) {
  const auto* text = value.as_string();
  if (text == nullptr)
    throw UsageError(Where(value.source()) + ": '" + std::string(key) + "' must be a string");
  if (text->get().empty()) {
    throw UsageError(Where(value.source()) + ": '" + std::string(key) + "' must not be empty");
  }
  return text->get();
}

double Seconds(std::string_view key, const toml::node& value) {
  std::optional<double> seconds;
  if (const auto* integer = value.as_integer()) seconds = static_cast<double>(integer->get());
  if (const auto* floating = value.as_floating_point()) seconds = floating->get();
  if (!seconds || !std::isfinite(*seconds) || *seconds <= 0 || *seconds > 86400) {
    throw UsageError(Where(value.source()) + ": '" + std::string(key) +
                     "' must be a number of seconds greater than 0 (at most 86400)");
  }
  return *seconds;
}

std::int64_t IntegerIn(std::string_view key, const toml::node& value, std::int64_t low,
                       std::int64_t high) {
  const auto* integer = value.as_integer();
  if (integer == nullptr || integer->get() < low || integer->get() > high) {
    throw UsageError(Where(value.source()) + ": '" + std::string(key) +
                     "' must be an integer from " + std::to_string(low) + " to " +
                     std::to_string(high));
  }
  return integer->get();
}

Json Table(std::string_view key, const toml::node& value) {
  if (!value.is_table()) {
    throw UsageError(Where(value.source()) + ": '" + std::string(key) + "' must be a table");
  }
  return internal::TomlToJson(value);
}

std::vector<std::string> Command(const toml::node& value) {
  const auto* array = value.as_array();
  std::vector<std::string> argv;
  if (array != nullptr) {
    for (const auto& part : *array) {
      if (!part.is_string()) {
        argv.clear();
        break;
      }
      argv.push_back(part.as_string()->get());
    }
  }
  if (argv.empty() || argv.front().empty()) {
    throw UsageError(Where(value.source()) +
                     ": 'api-key-command' must be an array of strings: the program, then its "
                     "arguments (it is run without a shell)");
  }
  return argv;
}

Schema InlineSchema(const toml::table& table) {
  Schema schema;
  for (const auto& [key, value] : internal::InFileOrder(table)) {
    try {
      schema.Declare(std::string(key->str()), internal::TomlToJson(*value));
    } catch (const Error& e) {
      throw UsageError(Where(key->source()) + ": schema: " + e.what());
    }
  }
  return schema;
}

// Returns false when `key` is not a string-valued or path-valued setting.
bool ApplyTextSetting(Profile& profile, std::string_view key, const toml::node& value,
                      const Context& context) {
  std::optional<std::string>* target = nullptr;
  bool path = false;
  if (key == "base-url")
    target = &profile.base_url;
  else if (key == "endpoint-path")
    target = &profile.endpoint_path;
  else if (key == "api-key-env")
    target = &profile.api_key_env;
  else if (key == "role")
    target = &profile.role;
  else if (key == "output")
    target = &profile.output;
  else if (key == "api-key-file")
    target = &profile.api_key_file, path = true;
  else if (key == "cacert")
    target = &profile.cacert, path = true;
  if (target == nullptr) return false;
  const std::string& text = NonEmptyString(key, value);
  // The URL rules are checked here, where the file's line and column are known (a profile's
  // bad URL would otherwise be reported later without them, as if a flag had been given).
  try {
    if (key == "base-url") ResolveEndpointUrl(text, kDefaultEndpointPath);
    if (key == "endpoint-path") ResolveEndpointUrl(kDefaultBaseUrl, text);
    if (key == "output" && !IsOutputFormat(text))
      throw UsageError(Quote(text) + " is not a format; use " + kOutputFormatList);
  } catch (const Error& e) {
    throw UsageError(Where(value.source()) + ": '" + std::string(key) + "': " + e.what());
  }
  *target = path ? ResolvePath(text, context) : text;
  return true;
}

void ApplySetting(Profile& profile, const toml::key& key, const toml::node& value,
                  const Context& context) {
  const std::string_view name = key.str();
  if (ApplyTextSetting(profile, name, value, context)) return;
  if (name == "api-key-command") {
    profile.api_key_command = Command(value);
  } else if (name == "attributes") {
    profile.attributes = Table(name, value);
    // Checked here, where the line and column are known (a bad key would otherwise be
    // reported at the first mint, without them).
    try {
      CheckAttributeKeys(*profile.attributes);
    } catch (const Error& e) {
      throw UsageError(Where(value.source()) + ": 'attributes': " + e.what());
    }
  } else if (name == "permissions") {
    profile.permissions = Table(name, value);
  } else if (name == "timeout") {
    profile.timeout = Seconds(name, value);
  } else if (name == "connect-timeout") {
    profile.connect_timeout = Seconds(name, value);
  } else if (name == "retries") {
    profile.retries = static_cast<int>(IntegerIn(name, value, 0, 100));
  } else if (name == "concurrency") {
    profile.concurrency = static_cast<int>(IntegerIn(name, value, 1, 256));
  } else if (name == "min-ttl") {
    profile.min_ttl = IntegerIn(name, value, 0, std::int64_t{365} * 86400);  // as --min-ttl
  } else if (name == "cache") {
    if (!value.is_boolean())
      throw UsageError(Where(value.source()) + ": 'cache' must be true or false");
    profile.cache = value.as_boolean()->get();
  } else if (name == "schema") {
    if (const auto* table = value.as_table()) {
      profile.schema_inline = InlineSchema(*table);
    } else {
      profile.schema_path = ResolvePath(NonEmptyString(name, value), context);
    }
  } else {
    UnknownKey(key);
  }
}

Profile ParseProfile(const toml::key& name, const toml::node& node, const Context& context) {
  const auto* table = node.as_table();
  if (table == nullptr) {
    throw UsageError(Where(node.source()) + ": profile " + Quote(name.str()) +
                     " must be a table: [profile." + std::string(name.str()) + "]");
  }
  Profile profile;
  profile.name = std::string(name.str());
  std::vector<std::string> sources;
  const auto line = [](const toml::source_region& region) {
    const std::string where = Where(region);
    return where.substr(0, where.rfind(':'));
  };
  for (const auto& [key, value] : internal::InFileOrder(*table)) {
    ApplySetting(profile, *key, *value, context);
    profile.lines[std::string(key->str())] = line(key->source());
    if (key->str() == "attributes") {
      for (const auto& [attribute, unused] : *value->as_table()) {
        profile.lines["attributes." + std::string(attribute.str())] = line(attribute.source());
      }
    }
    if (key->str().rfind("api-key-", 0) == 0) sources.emplace_back(key->str());
  }
  // Two sources would leave a reader guessing which key goes to this instance.
  if (sources.size() > 1) {
    throw UsageError(Where(name.source()) + ": profile " + Quote(profile.name) + " names " +
                     sources[0] + " and " + sources[1] + "; keep one key source");
  }
  profile.settings = internal::TomlToJson(*table);
  return profile;
}

[[noreturn]] void UnknownTopLevelKey(const toml::key& key) {
  const std::string name(key.str());
  const std::vector<std::string> known(std::begin(kKnownKeys), std::end(kKnownKeys));
  if (std::find(known.begin(), known.end(), name) != known.end()) {
    throw UsageError(Where(key.source()) + ": " + Quote(name) +
                     " belongs in a profile: put it under [profile.default] or [profile.NAME]");
  }
  if (IsInlineKeyName(name)) UnknownKey(key);
  std::string message = Where(key.source()) + ": unknown key " + Quote(name);
  if (const auto close = SuggestName(name, {"profile"})) message += " (did you mean 'profile'?)";
  throw UsageError(message + "; the file holds [profile.NAME] tables");
}

std::string Folder(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// As ssh does: a file others could rewrite could point api-key-command at their program.
void CheckPermissions(const std::string& path, const internal::FileText& file) {
  const auto advice = [&](const std::string& what, mode_t mode) {
    return "config " + what + " is writable by group or others (mode " + internal::OctalMode(mode) +
           "); run: chmod go-w " + what.substr(what.find(' ') + 1);
  };
  if ((file.mode & (S_IWGRP | S_IWOTH)) != 0) throw UsageError(advice("file " + path, file.mode));
  if (file.owner != ::geteuid() && file.owner != 0) {
    throw UsageError("config file " + path + " belongs to another user");
  }
  // The folder that holds the name, and, for a symbolic link, the one that holds the file: in a
  // folder others may write, they can swap or remove the file whatever its own mode.
  std::vector<std::string> folders{Folder(path)};
  if (char* resolved = ::realpath(path.c_str(), nullptr)) {
    if (const std::string real = Folder(resolved); real != folders.front()) folders.push_back(real);
    std::free(resolved);
  }
  for (const std::string& folder : folders) {
    struct stat info {};
    if (::stat(folder.c_str(), &info) != 0) {
      throw UsageError("config folder " + folder + ": " + internal::ErrnoText(errno));
    }
    if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      throw UsageError(advice("folder " + folder, info.st_mode));
    }
  }
}

}  // namespace

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::optional<std::string> EnvValue(const Environment& env, const std::string& name) {
  auto value = env(name);
  if (!value) return std::nullopt;
  const std::string trimmed(Trim(*value));
  if (trimmed.empty()) return std::nullopt;
  return trimmed;
}

ConfigLocation LocateConfig(const Environment& env) {
  if (auto path = EnvValue(env, "TOUCAN_CONFIG")) return {*path, true};
  if (auto folder = internal::XdgFolder(env, "XDG_CONFIG_HOME", ".config")) {
    return {*folder + "/toucan-token/config.toml", false};
  }
  return {};
}

Config LoadConfig(const Environment& env) {
  const ConfigLocation location = LocateConfig(env);
  if (location.path.empty()) return {};
  const auto file = internal::ReadRegularFile(location.path, "config file", kMaxConfigBytes,
                                              !location.explicit_path);
  if (!file) return {};
  CheckPermissions(location.path, *file);
  return ParseConfig(file->text, location.path, env);
}

Config ParseConfig(std::string_view text, const std::string& path, const Environment& env) {
  const toml::table document = internal::ParseToml(text, path);
  Config config;
  config.path = path;
  const Context context{Folder(path), EnvValue(env, "HOME")};
  for (const auto& [key, value] : internal::InFileOrder(document)) {
    if (key->str() != "profile") UnknownTopLevelKey(*key);
    const auto* profiles = value->as_table();
    if (profiles == nullptr) {
      throw UsageError(Where(value->source()) + ": 'profile' must hold tables: [profile.NAME]");
    }
    for (const auto& [name, table] : internal::InFileOrder(*profiles)) {
      config.profiles.push_back(ParseProfile(*name, *table, context));
    }
  }
  return config;
}

std::optional<Profile> SelectProfile(const Config& config, const std::optional<std::string>& flag,
                                     const Environment& env) {
  std::optional<std::string> chosen;
  std::string how;
  if (flag) {
    if (Trim(*flag).empty()) throw UsageError("--profile must not be empty");
    chosen = *flag;
    how = "--profile";
  } else if (auto value = EnvValue(env, "TOUCAN_PROFILE")) {
    chosen = std::move(value);
    how = "TOUCAN_PROFILE";
  }
  const std::string wanted = chosen.value_or("default");
  std::vector<std::string> names;
  for (const Profile& profile : config.profiles) {
    if (profile.name == wanted) return profile;
    names.push_back(profile.name);
  }
  if (!chosen) return std::nullopt;
  std::string message = "profile " + Quote(wanted) + " (" + how + ") is not defined";
  if (config.path.empty()) {
    const std::string path = LocateConfig(env).path;
    throw UsageError(message + ": there is no config file" + (path.empty() ? "" : " at " + path));
  }
  if (const auto close = SuggestName(wanted, names)) message += " (did you mean '" + *close + "'?)";
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
  throw UsageError(message + " in " + config.path + "; " +
                   (names.empty() ? std::string("it defines no profile") : "profiles: " + list));
}

std::vector<Json> ProfileRows(const Config& config, const std::optional<std::string>& active) {
  std::vector<Json> rows;
  for (const Profile& profile : config.profiles) {
    Json row = Json::object();
    row["name"] = profile.name;
    row["active"] = active.has_value() && *active == profile.name;
    row["settings"] = profile.settings;
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {

constexpr std::size_t kMaxKeyLineBytes = 4096;

std::string CommandText(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& part : argv) text += (text.empty() ? "" : " ") + part;
  return "api-key-command " + Quote(text);
}

// The command running, for StopKeyCommand in a signal handler; plain storage, no locks.
volatile sig_atomic_t g_command_pid = 0;
volatile sig_atomic_t g_command_has_group = 0;
volatile sig_atomic_t g_command_stopped = 0;

// Without a controlling terminal (CI, cron, a service) the command gets a process group of its
// own, so that past the limit everything it started is stopped with it: a process left behind
// would hold the job's output pipes open. With one, it stays in ours: a program that prompts on
// the terminal (pass, gpg) must stay in the foreground group to read it.
bool HasControllingTerminal() {
  const int fd = ::open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

pid_t SpawnWithStdout(const std::vector<std::string>& argv, int stdout_fd) {
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  g_command_has_group = !HasControllingTerminal();
  if (g_command_has_group) posix_spawnattr_setpgroup(&attributes, 0);
  // Until its pid is stored, a signal handler could not stop the command: SIGINT and SIGTERM wait
  // till then. The command starts with the mask as it was.
  sigset_t held, previous;
  sigemptyset(&held);
  sigaddset(&held, SIGINT);
  sigaddset(&held, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &held, &previous);
  posix_spawnattr_setsigmask(&attributes, &previous);
  posix_spawnattr_setflags(&attributes,
                           static_cast<short>(POSIX_SPAWN_SETSIGMASK |
                                              (g_command_has_group ? POSIX_SPAWN_SETPGROUP : 0)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  // Standard input belongs to the tool (a batch may read its lines from it): a command that
  // reads it would take a user's line for the key. Prompting programs use the terminal itself.
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& part : argv) args.push_back(const_cast<char*>(part.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  if (error == 0) g_command_pid = pid;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    throw UsageError(CommandText(argv) + " could not be started: " + internal::ErrnoText(error));
  }
  return pid;
}

struct KeyOutput {
  std::string first_line;
  bool line_complete = false;  // a newline or the end of output was seen
  bool too_long = false;
  bool timed_out = false;
  std::optional<int> status;  // set when the command was seen to exit while reading
};

// Keeps the first line of what a read returned; drops the rest.
void KeepFirstLine(KeyOutput& out, std::string_view chunk) {
  if (out.line_complete || out.too_long) return;
  const auto newline = chunk.find('\n');
  out.first_line += chunk.substr(0, newline);
  if (out.first_line.size() > kMaxKeyLineBytes) out.too_long = true;
  if (newline != std::string_view::npos) out.line_complete = true;
}

// Reads the child's stdout until it closes, the child exits, or the deadline passes. Only the
// first line is kept; the rest is drained, so a chatty command cannot block on a full pipe. The
// child's exit ends the reading even if the pipe stays open: a process it left behind (an agent
// started in the background) may hold the pipe for ever.
KeyOutput ReadFirstLine(int fd, pid_t pid, std::chrono::steady_clock::time_point deadline) {
  KeyOutput out;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return out.timed_out = true, out;
    pollfd poller{fd, POLLIN, 0};
    const int ready = ::poll(&poller, 1, static_cast<int>(std::min<long long>(left.count(), 20)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      int status = 0;
      const pid_t done = ::waitpid(pid, &status, WNOHANG);  // -1: StopKeyCommand reaped it
      if (done == 0 || (done < 0 && errno == EINTR)) continue;
      out.status = status;
      ::fcntl(fd, F_SETFL, O_NONBLOCK);  // what it wrote before exiting, without waiting
      for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) > 0;) {
        KeepFirstLine(out, std::string_view(buffer, static_cast<std::size_t>(got)));
      }
      return out.line_complete = true, out;
    }
    const ssize_t got = ready < 0 ? -1 : ::read(fd, buffer, sizeof buffer);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return out.line_complete = true, out;
    KeepFirstLine(out, std::string_view(buffer, static_cast<std::size_t>(got)));
  }
}

// The command and, when it leads a process group of its own, whatever it started.
// Async-signal-safe.
void KillCommand(pid_t pid) { ::kill(g_command_has_group ? -pid : pid, SIGKILL); }

// The exit status, or empty when the deadline passed first (the child is then killed).
std::optional<int> WaitUntil(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  int status = 0;
  for (auto pause = std::chrono::milliseconds(1);;
       pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) return status;
    if (std::chrono::steady_clock::now() >= deadline) break;
    ::usleep(static_cast<useconds_t>(pause.count() * 1000));
  }
  KillCommand(pid);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return std::nullopt;
}

}  // namespace

std::string RunKeyCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty() || argv.front().empty()) throw UsageError("api-key-command is empty");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw UsageError(CommandText(argv) + ": " + internal::ErrnoText(errno));
  const pid_t pid = [&] {
    try {
      return SpawnWithStdout(argv, fds[1]);
    } catch (...) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw;
    }
  }();
  ::close(fds[1]);
  if (g_command_stopped) KillCommand(pid);  // a signal came before it was started
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const KeyOutput out = ReadFirstLine(fds[0], pid, deadline);
  // Past the limit the command is stopped before its output pipe closes, so that it is reported
  // as too slow, not as killed by the SIGPIPE that closing would cause.
  if (out.timed_out) KillCommand(pid);
  ::close(fds[0]);
  const auto status =
      out.status ? out.status
                 : WaitUntil(pid, out.timed_out ? std::chrono::steady_clock::now() : deadline);
  g_command_pid = 0;
  const std::string name = CommandText(argv);
  if (g_command_stopped) throw Error(ErrorKind::kInterrupted, "interrupted while " + name + " ran");
  if (!status || out.timed_out) {
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", static_cast<double>(timeout.count()) / 1000.0);
    throw UsageError(name + " did not finish within " + limit + " s and was stopped");
  }
  if (WIFSIGNALED(*status)) {
    throw UsageError(name + " was ended by signal " + std::to_string(WTERMSIG(*status)));
  }
  if (WEXITSTATUS(*status) != 0) {
    throw UsageError(name + " failed with exit status " + std::to_string(WEXITSTATUS(*status)));
  }
  if (out.too_long) throw UsageError(name + " printed a first line longer than 4 KiB");
  std::string key(Trim(out.first_line));
  if (key.empty()) throw UsageError(name + " printed no key on its standard output");
  return key;
}

void StopKeyCommand() noexcept {
  g_command_stopped = 1;
  if (const pid_t pid = g_command_pid; pid > 0) {
    const int saved = errno;  // a handler must leave errno as the code it interrupted had it
    KillCommand(pid);
    // Reaped before the program exits: a command merely sent SIGKILL may still be running when
    // whoever waits for the program looks (waitpid is async-signal-safe).
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    // What it started is not ours to reap: wait (2 s at most) until the group is gone.
    const timespec pause{0, 10'000'000};
    for (int i = 0; g_command_has_group && i < 200 && ::kill(-pid, 0) == 0; ++i) {
      ::nanosleep(&pause, nullptr);
    }
    errno = saved;
  }
}

}  // namespace toucan
