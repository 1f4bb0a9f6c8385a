// `[profile.NAME]` tables: the settings of each, checked where the file's line is known.
#include <algorithm>
#include <cmath>

#include "config_internal.hpp"
#include "output.hpp"

namespace toucan {
namespace {

using internal::Where;

struct Context {
  std::string folder;  // of the config file, for relative paths
  std::optional<std::string> home;
};

// One setting as the file writes it. Each is checked here, where the file's line and column are
// known: a bad URL or attribute key would otherwise be reported later without them.
struct Value {
  std::string_view key;
  const toml::node& node;
  const Context& context;

  [[noreturn]] void Refuse(const std::string& what) const {
    throw UsageError(Where(node.source()) + ": '" + std::string(key) + "'" + what);
  }

  std::string Text() const {
    const auto* text = node.as_string();
    if (text == nullptr) Refuse(" must be a string");
    if (text->get().empty()) Refuse(" must not be empty");
    try {
      if (key == "base-url") ResolveEndpointUrl(text->get(), kDefaultEndpointPath);
      if (key == "endpoint-path") ResolveEndpointUrl(kDefaultBaseUrl, text->get());
      if (key == "output" && !IsOutputFormat(text->get()))
        throw UsageError(Quoted(text->get()) + " is not a format; use " + kOutputFormatList);
    } catch (const Error& e) {
      Refuse(std::string(": ") + e.what());
    }
    return text->get();
  }

  std::string Path() const {
    const std::string path = Text();
    if (path == "-" || path.front() == '/') return path;
    if (path.rfind("~/", 0) == 0 && context.home) return *context.home + path.substr(1);
    return context.folder + "/" + path;
  }

  double Seconds() const {
    const std::optional<double> seconds = node.value<double>();  // an integer converts
    if (!seconds || !std::isfinite(*seconds) || *seconds <= 0 || *seconds > 86400) {
      Refuse(" must be a number of seconds greater than 0 (at most 86400)");
    }
    return *seconds;
  }

  template <typename Int>
  Int Integer(Int low, Int high) const {
    const auto* integer = node.as_integer();
    if (integer == nullptr || integer->get() < low || integer->get() > high) {
      Refuse(" must be an integer from " + std::to_string(low) + " to " + std::to_string(high));
    }
    return static_cast<Int>(integer->get());
  }

  Json Table() const {
    if (!node.is_table()) Refuse(" must be a table");
    Json table = internal::TomlToJson(node);
    try {
      if (key == "attributes") CheckAttributeKeys(table);
    } catch (const Error& e) {
      Refuse(std::string(": ") + e.what());
    }
    return table;
  }

  std::vector<std::string> Command() const {
    const auto* array = node.as_array();
    std::vector<std::string> argv;
    if (array != nullptr && array->is_homogeneous(toml::node_type::string)) {
      for (const auto& part : *array) argv.push_back(part.as_string()->get());
    }
    if (argv.empty() || argv.front().empty()) {
      Refuse(
          " must be an array of strings: the program, then its arguments (it is run "
          "without a shell)");
    }
    return argv;
  }
};

// In the order the "unknown key" message lists them.
const std::pair<std::string_view, void (*)(Profile&, const Value&)> kSettings[] = {
    {"base-url", [](Profile& p, const Value& v) { p.base_url = v.Text(); }},
    {"endpoint-path", [](Profile& p, const Value& v) { p.endpoint_path = v.Text(); }},
    {"api-key-env", [](Profile& p, const Value& v) { p.api_key_env = v.Text(); }},
    {"api-key-file", [](Profile& p, const Value& v) { p.api_key_file = v.Path(); }},
    {"api-key-command", [](Profile& p, const Value& v) { p.api_key_command = v.Command(); }},
    {"role", [](Profile& p, const Value& v) { p.role = v.Text(); }},
    {"attributes", [](Profile& p, const Value& v) { p.attributes = v.Table(); }},
    {"permissions", [](Profile& p, const Value& v) { p.permissions = v.Table(); }},
    {"cacert", [](Profile& p, const Value& v) { p.cacert = v.Path(); }},
    {"timeout", [](Profile& p, const Value& v) { p.timeout = v.Seconds(); }},
    {"connect-timeout", [](Profile& p, const Value& v) { p.connect_timeout = v.Seconds(); }},
    {"retries", [](Profile& p, const Value& v) { p.retries = v.Integer(0, 100); }},
    {"concurrency", [](Profile& p, const Value& v) { p.concurrency = v.Integer(1, 256); }},
    {"schema",
     [](Profile& p, const Value& v) {
       if (const auto* table = v.node.as_table()) {
         p.schema_inline = internal::SchemaFromToml(*table, "schema: ");
       } else {
         p.schema_path = v.Path();
       }
     }},
    {"cache",
     [](Profile& p, const Value& v) {
       if (!v.node.is_boolean()) v.Refuse(" must be true or false");
       p.cache = v.node.as_boolean()->get();
     }},
    {"min-ttl", [](Profile& p, const Value& v) { p.min_ttl = v.Integer(0L, 365L * 86400); }},
    {"output", [](Profile& p, const Value& v) { p.output = v.Text(); }},
};

// A key that is no setting: in a profile, or at the top of the file (`top_level`).
[[noreturn]] void UnknownKey(const toml::key& key, bool top_level) {
  const std::string name(key.str());
  const std::string where = Where(key.source()) + ": ";
  std::string normal = AsciiLower(name);  // `api_key`, `API-Key`, ...
  std::erase_if(normal, [](char c) { return c == '-' || c == '_'; });
  if (normal == "apikey" || normal == "key" || normal == "token") {
    throw UsageError(where +
                     "an API key is never kept in the config file; put it in a file only you can "
                     "read and name it with 'api-key-file', or use 'api-key-command'");
  }
  std::vector<std::string> keys;
  for (const auto& [setting, apply] : kSettings) keys.emplace_back(setting);
  if (top_level && std::ranges::count(keys, name) != 0) {
    throw UsageError(where + Quoted(name) +
                     " belongs in a profile: put it under [profile.default] or [profile.NAME]");
  }
  const std::string unknown = where + "unknown key " + Quoted(name);
  if (top_level) {
    throw UsageError(unknown + DidYouMean(name, {"profile"}) +
                     "; the file holds [profile.NAME] tables");
  }
  const std::string hint = DidYouMean(name, keys);
  throw UsageError(unknown + (hint.empty() ? "; the keys are " + Join(keys, ", ") : hint));
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
  for (const auto& [key, value] : internal::InFileOrder(*table)) {
    const auto* setting =
        std::find_if(std::begin(kSettings), std::end(kSettings),
                     [name = key->str()](const auto& s) { return s.first == name; });
    if (setting == std::end(kSettings)) UnknownKey(*key, false);
    setting->second(profile, Value{setting->first, *value, context});
    profile.lines[std::string(key->str())] = Where(key->source(), false);
    if (key->str() == "attributes") {
      for (const auto& [attribute, unused] : *value->as_table()) {
        profile.lines["attributes." + std::string(attribute.str())] =
            Where(attribute.source(), false);
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

}  // namespace

Config ParseConfig(std::string_view text, const std::string& path, const Environment& env) {
  const toml::table document = internal::ParseToml(text, path);
  Config config{path, {}};
  const Context context{internal::Folder(path), EnvValue(env, "HOME")};
  for (const auto& [key, value] : internal::InFileOrder(document)) {
    if (key->str() != "profile") UnknownKey(*key, true);
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
  if (flag && Trim(*flag).empty()) throw UsageError("--profile must not be empty");
  const std::optional<std::string> chosen = flag ? flag : EnvValue(env, "TOUCAN_PROFILE");
  const std::string how = flag ? "--profile" : "TOUCAN_PROFILE";
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
  throw UsageError(
      message + DidYouMean(wanted, names) + " in " + config.path + "; " +
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
