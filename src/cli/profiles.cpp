// `[profile.NAME]` tables: the settings of each, checked where the file's line is known.
#include <algorithm>
#include <cmath>

#include "config_internal.hpp"
#include "output.hpp"

namespace toucan {
namespace {

using internal::Where;

const std::vector<std::string> kKnownKeys = {
    "base-url",    "endpoint-path", "api-key-env", "api-key-file", "api-key-command", "role",
    "attributes",  "permissions",   "cacert",      "timeout",      "connect-timeout", "retries",
    "concurrency", "schema",        "cache",       "min-ttl",      "output"};

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
  const std::string message = Where(key.source()) + ": unknown key " + Quoted(name);
  const std::string hint = DidYouMean(name, kKnownKeys);
  throw UsageError(message + (hint.empty() ? "; the keys are " + Join(kKnownKeys, ", ") : hint));
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

// "file:line:column: 'key' <what>".
[[noreturn]] void Refuse(const toml::node& value, std::string_view key, const std::string& what) {
  throw UsageError(Where(value.source()) + ": '" + std::string(key) + "'" + what);
}

const std::string& NonEmptyString(std::string_view key, const toml::node& value) {
  const auto* text = value.as_string();
  if (text == nullptr) Refuse(value, key, " must be a string");
  if (text->get().empty()) Refuse(value, key, " must not be empty");
  return text->get();
}

double Seconds(std::string_view key, const toml::node& value) {
  const std::optional<double> seconds = value.value<double>();  // an integer converts
  if (!seconds || !std::isfinite(*seconds) || *seconds <= 0 || *seconds > 86400) {
    Refuse(value, key, " must be a number of seconds greater than 0 (at most 86400)");
  }
  return *seconds;
}

std::int64_t IntegerIn(std::string_view key, const toml::node& value, std::int64_t low,
                       std::int64_t high) {
  const auto* integer = value.as_integer();
  if (integer == nullptr || integer->get() < low || integer->get() > high) {
    Refuse(value, key,
           " must be an integer from " + std::to_string(low) + " to " + std::to_string(high));
  }
  return integer->get();
}

Json Table(std::string_view key, const toml::node& value) {
  if (!value.is_table()) Refuse(value, key, " must be a table");
  return internal::TomlToJson(value);
}

std::vector<std::string> Command(const toml::node& value) {
  const auto* array = value.as_array();
  std::vector<std::string> argv;
  if (array != nullptr && array->is_homogeneous(toml::node_type::string)) {
    for (const auto& part : *array) argv.push_back(part.as_string()->get());
  }
  if (argv.empty() || argv.front().empty()) {
    throw UsageError(Where(value.source()) +
                     ": 'api-key-command' must be an array of strings: the program, then its "
                     "arguments (it is run without a shell)");
  }
  return argv;
}

struct TextSetting {
  std::string_view key;
  std::optional<std::string> Profile::*member;
  bool path;  // resolved against the config file's folder
};
constexpr TextSetting kTextSettings[] = {
    {"base-url", &Profile::base_url, false}, {"endpoint-path", &Profile::endpoint_path, false},
    {"api-key-env", &Profile::api_key_env, false}, {"role", &Profile::role, false},
    {"output", &Profile::output, false},   {"api-key-file", &Profile::api_key_file, true},
    {"cacert", &Profile::cacert, true}};

// Returns false when `key` is not a string-valued or path-valued setting.
bool ApplyTextSetting(Profile& profile, std::string_view key, const toml::node& value,
                      const Context& context) {
  const auto* setting = std::find_if(std::begin(kTextSettings), std::end(kTextSettings),
                                     [&](const TextSetting& s) { return s.key == key; });
  if (setting == std::end(kTextSettings)) return false;
  const std::string& text = NonEmptyString(key, value);
  // The URL rules are checked here, where the file's line and column are known (a profile's
  // bad URL would otherwise be reported later without them, as if a flag had been given).
  try {
    if (key == "base-url") ResolveEndpointUrl(text, kDefaultEndpointPath);
    if (key == "endpoint-path") ResolveEndpointUrl(kDefaultBaseUrl, text);
    if (key == "output" && !IsOutputFormat(text))
      throw UsageError(Quoted(text) + " is not a format; use " + kOutputFormatList);
  } catch (const Error& e) {
    Refuse(value, key, std::string(": ") + e.what());
  }
  profile.*setting->member = setting->path ? ResolvePath(text, context) : text;
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
      Refuse(value, name, std::string(": ") + e.what());
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
    if (!value.is_boolean()) Refuse(value, name, " must be true or false");
    profile.cache = value.as_boolean()->get();
  } else if (name == "schema") {
    if (const auto* table = value.as_table()) {
      profile.schema_inline = internal::SchemaFromToml(*table, "schema: ");
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
    throw UsageError(Where(node.source()) + ": profile " + Quoted(name.str()) +
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
    if (key->str().starts_with("api-key-")) sources.emplace_back(key->str());
  }
  // Two sources would leave a reader guessing which key goes to this instance.
  if (sources.size() > 1) {
    throw UsageError(Where(name.source()) + ": profile " + Quoted(profile.name) + " names " +
                     sources[0] + " and " + sources[1] + "; keep one key source");
  }
  profile.settings = internal::TomlToJson(*table);
  return profile;
}

[[noreturn]] void UnknownTopLevelKey(const toml::key& key) {
  const std::string name(key.str());
  if (std::find(kKnownKeys.begin(), kKnownKeys.end(), name) != kKnownKeys.end()) {
    throw UsageError(Where(key.source()) + ": " + Quoted(name) +
                     " belongs in a profile: put it under [profile.default] or [profile.NAME]");
  }
  if (IsInlineKeyName(name)) UnknownKey(key);
  throw UsageError(Where(key.source()) + ": unknown key " + Quoted(name) +
                   DidYouMean(name, {"profile"}) + "; the file holds [profile.NAME] tables");
}

}  // namespace

Config ParseConfig(std::string_view text, const std::string& path, const Environment& env) {
  const toml::table document = internal::ParseToml(text, path);
  Config config;
  config.path = path;
  const Context context{internal::Folder(path), EnvValue(env, "HOME")};
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
  std::string message = "profile " + Quoted(wanted) + " (" + how + ") is not defined";
  if (config.path.empty()) {
    const std::string path = LocateConfig(env).path;
    throw UsageError(message + ": there is no config file" + (path.empty() ? "" : " at " + path));
  }
  throw UsageError(message + DidYouMean(wanted, names) + " in " + config.path + "; " +
                   (names.empty() ? std::string("it defines no profile") : "profiles: " + Join(names, ", ")));
}

std::vector<Json> ProfileRows(const Config& config, const std::optional<std::string>& active) {
  std::vector<Json> rows;
  for (const Profile& profile : config.profiles) {
    rows.push_back({{"name", profile.name},
                    {"active", active.has_value() && *active == profile.name},
                    {"settings", profile.settings}});
  }
  return rows;
}

}  // namespace toucan
