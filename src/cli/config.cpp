// The config file: where it is, whether it may be trusted, and its `[profile.NAME]` tables.
#include "config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "config_internal.hpp"
#include "output.hpp"

namespace toucan {
namespace internal {

std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::optional<std::string> XdgFolder(const Environment& env, const std::string& variable,
                                     std::string_view fallback) {
  // The XDG base directory rules ignore a relative path.
  if (auto value = env(variable); value && value->starts_with('/')) return value;
  if (auto home = env("HOME"); home && !home->empty()) return *home + "/" + std::string(fallback);
  return std::nullopt;
}

}  // namespace internal

namespace {

using internal::Where;

std::string Folder(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// As ssh does: a file others could rewrite could point api-key-command at their program.
void CheckPermissions(const std::string& path, const FileText& file) {
  const auto check = [](const std::string& what, const std::string& name, mode_t mode) {
    if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
      throw UsageError("config " + what + " " + name + " is writable by group or others (mode " +
                       internal::OctalMode(mode) + "); run: chmod go-w " + name);
    }
  };
  check("file", path, file.mode);
  if (file.owner != ::geteuid() && file.owner != 0) {
    throw UsageError("config file " + path + " belongs to another user");
  }
  // The folder that holds the name, and, for a symbolic link, the one that holds the file: in a
  // folder others may write, they can swap or remove the file whatever its own mode.
  std::vector<std::string> folders{Folder(path)};
  std::error_code error;
  const std::string real = Folder(std::filesystem::canonical(path, error));
  if (!error && real != folders.front()) folders.push_back(real);
  for (const std::string& folder : folders) {
    struct stat info {};
    if (::stat(folder.c_str(), &info) != 0) {
      throw UsageError("config folder " + folder + ": " + std::strerror(errno));
    }
    // A sticky folder of root's or ours (/tmp): others may not rename or remove our file there.
    const bool sticky =
        (info.st_mode & S_ISVTX) != 0 && (info.st_uid == 0 || info.st_uid == ::geteuid());
    if (!sticky) check("folder", folder, info.st_mode);
  }
}

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
                     "an API key is never kept in the config file; name the variable that holds it "
                     "with 'api-key-env', or a file only you can read with 'api-key-file', or use "
                     "'api-key-command'");
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

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
}

std::optional<std::string> EnvValue(const Environment& env, const std::string& name) {
  const auto value = env(name);
  std::string trimmed(value ? Trim(*value) : "");
  return trimmed.empty() ? std::nullopt : std::optional(std::move(trimmed));
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
  const auto file =
      ReadRegularFile(location.path, "config file", kMaxConfigBytes, !location.explicit_path);
  if (!file) return {};
  CheckPermissions(location.path, *file);
  return ParseConfig(file->text, location.path, env);
}

Config ParseConfig(std::string_view text, const std::string& path, const Environment& env) {
  const toml::table document = internal::ParseToml(text, path);
  Config config{path, {}};
  const Context context{Folder(path), EnvValue(env, "HOME")};
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

}  // namespace toucan
