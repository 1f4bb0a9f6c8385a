#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schema.hpp"
#include "toucan/client.hpp"

namespace toucan {

// Reads one environment variable; empty when it is not set. Passed in, so that tests (and a
// backend embedding the library) never depend on the real HOME.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (getenv).
Environment ProcessEnvironment();

// A variable's value with surrounding whitespace removed; a value that is empty or only
// whitespace counts as unset, as for every TOUCAN_* variable.
std::optional<std::string> EnvValue(const Environment& env, const std::string& name);

// Larger config and schema files are refused: a hand-written file is a few KiB, and a bound keeps
// a hostile file (or /dev/zero) from exhausting memory.
inline constexpr std::size_t kMaxConfigBytes = std::size_t{1024} * 1024;
// TOML tables and arrays nest no deeper than JSON input does.
inline constexpr int kMaxConfigDepth = 64;

// One `[profile.NAME]` table. Every setting is optional, so the caller can apply the precedence
// flag > environment > profile > built-in default. Paths are resolved against the config file's
// folder (and a leading `~/` against HOME).
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
  std::optional<double> timeout;           // seconds, > 0, at most 86400
  std::optional<double> connect_timeout;   // seconds, > 0, at most 86400
  std::optional<int> retries;              // 0 to 100
  std::optional<int> concurrency;          // 1 to 256
  std::optional<std::string> schema_path;  // `schema = "file"`
  std::optional<Schema> schema_inline;     // `schema = { ... }` / `[profile.NAME.schema]`
  std::optional<bool> cache;
  std::optional<std::int64_t> min_ttl;  // seconds, >= 0
  std::optional<std::string> output;    // a format of kOutputFormats
  // Where each setting is written, "PATH:LINE", by key ("base-url"), and each attribute of the
  // `attributes` table by "attributes.NAME": for `toucan-token config`.
  std::map<std::string, std::string> lines;

  // True when the profile names where its key comes from; then TOUCAN_API_KEY is ignored
  // ("the key follows the instance").
  bool HasKeySource() const { return api_key_env || api_key_file || api_key_command; }
};

struct Config {
  std::string path;               // the file read; empty when there is none
  std::vector<Profile> profiles;  // in file order
};

// Where the config file is: `$TOUCAN_CONFIG`, else
// `${XDG_CONFIG_HOME:-$HOME/.config}/toucan-token/config.toml`. `explicit_path` is true for
// TOUCAN_CONFIG, whose file must exist. Empty path when neither TOUCAN_CONFIG nor HOME is set.
struct ConfigLocation {
  std::string path;
  bool explicit_path = false;
};
ConfigLocation LocateConfig(const Environment& env);

// Locates, checks and parses the config file. A missing default file gives no profiles. Throws
// Error(kUsage) for a missing TOUCAN_CONFIG file, a file that is not a regular readable file, a
// file or folder writable by group or others, a file over 1 MiB, and any content error (with
// `file:line:column`).
Config LoadConfig(const Environment& env);

// Parses config text; `path` names the file in messages and anchors relative paths; `env` gives
// HOME for `~/`. Throws Error(kUsage) with `file:line:column`.
Config ParseConfig(std::string_view text, const std::string& path, const Environment& env);

// The profile in use: `flag` (--profile), else TOUCAN_PROFILE, else `default` when the file has
// one. Empty when none applies. Throws Error(kUsage) listing the profiles when the chosen one
// does not exist.
std::optional<Profile> SelectProfile(const Config& config, const std::optional<std::string>& flag,
                                     const Environment& env);

// The rows of `toucan-token profiles`: {"name", "active", "settings"} per profile, in file order.
// `active` names the selected profile (empty: none). Settings show where a key comes from,
// never a key.
std::vector<Json> ProfileRows(const Config& config, const std::optional<std::string>& active);

// Runs `argv` without a shell and returns the first line of its standard output, trimmed. Its
// standard error goes to ours. Throws Error(kUsage) naming the command (never the output) when
// it cannot start, exits non-zero or by a signal, runs past `timeout` (it is killed), prints
// nothing, or prints a first line longer than 4 KiB.
std::string RunKeyCommand(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Kills the api-key-command running, with its process group, and makes RunKeyCommand throw
// Error(kInterrupted). Async-signal-safe: for SIGINT/SIGTERM handlers, so that nothing the
// command started outlives the program.
void StopKeyCommand() noexcept;

}  // namespace toucan
