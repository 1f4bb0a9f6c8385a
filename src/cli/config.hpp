#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>

#include "schema.hpp"

namespace toucan {

// Passed in, so that tests never see the real HOME.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

Environment ProcessEnvironment();

// Trimmed; blank counts as unset.
std::optional<std::string> EnvValue(const Environment& env, const std::string& name);

// Config and schema files: a hand-written one is a few KiB; a bound keeps /dev/zero out.
inline constexpr std::size_t kMaxConfigBytes = std::size_t{1024} * 1024;
inline constexpr int kMaxConfigDepth = 64;  // as for JSON input

// One `[profile.NAME]` table; paths are resolved against the config file's folder and HOME.
struct Profile {
  std::string name;
  Json settings = Json::object();  // the table as the file writes it, for `toucan-token profiles`

  std::optional<std::string> base_url;
  std::optional<std::string> endpoint_path;
  std::optional<std::string> api_key_env;
  std::optional<std::string> api_key_file;
  std::optional<std::vector<std::string>> api_key_command;
  std::optional<std::string> role;
  std::optional<Json> attributes;   // a JSON object
  std::optional<Json> permissions;  // a JSON object
  std::optional<std::string> cacert;
  std::optional<double> timeout;  // seconds
  std::optional<double> connect_timeout;
  std::optional<int> retries;
  std::optional<int> concurrency;
  std::optional<std::string> schema_path;  // `schema = "file"`
  std::optional<Schema> schema_inline;     // `schema = { ... }`
  std::optional<bool> cache;
  std::optional<std::int64_t> min_ttl;  // seconds
  std::optional<std::string> output;
  // "PATH:LINE" of each setting by key, and of each attribute by "attributes.NAME".
  std::map<std::string, std::string> lines;

  // Then TOUCAN_API_KEY is ignored: the key follows the instance.
  bool HasKeySource() const { return api_key_env || api_key_file || api_key_command; }
};

struct Config {
  std::string path;               // the file read; empty when there is none
  std::vector<Profile> profiles;  // in file order
};

// `$TOUCAN_CONFIG`, else `${XDG_CONFIG_HOME:-$HOME/.config}/toucan-token/config.toml`.
struct ConfigLocation {
  std::string path;
  bool explicit_path = false;  // the file must exist
};
ConfigLocation LocateConfig(const Environment& env);

// A missing default file gives no profiles. Errors are Error(kUsage), with `file:line:column`.
Config LoadConfig(const Environment& env);
Config ParseConfig(std::string_view text, const std::string& path, const Environment& env);

// --profile, else TOUCAN_PROFILE, else `default` when the file has one.
std::optional<Profile> SelectProfile(const Config& config, const std::optional<std::string>& flag,
                                     const Environment& env);

// The first line, trimmed, of `argv` run without a shell; errors name the command, not its output.
std::string RunKeyCommand(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Kills the api-key-command running (RunKeyCommand then throws kInterrupted); async-signal-safe.
void StopKeyCommand() noexcept;

}  // namespace toucan
