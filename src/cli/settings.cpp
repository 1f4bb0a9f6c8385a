// Settings from flags, the environment and the profile, each with its source; inputs; the request.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <span>
#include <tuple>

#include "cli.hpp"

namespace toucan::cli {
namespace {

bool ReadsStandardInput(const std::string& input) {
  return input == "-" || (input.rfind('@', 0) == 0 && NamesStandardInput(input.substr(1)));
}

bool IsEnvName(const std::string& name) {
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front())) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
         });
}

// "profile prod (PATH:LINE)": where the profile writes `key` ("base-url", "attributes.region").
std::string ProfileSource(const Profile& profile, const std::string& key) {
  return "profile " + profile.name + " (" + profile.lines.at(key) + ")";  // each key has its line
}

constexpr std::size_t kMaxJsonInputBytes = std::size_t{1024} * 1024;

std::string ReadInput(const std::string& path, const std::string& what, std::size_t max_bytes,
                      bool first_line_only = false) {
  if (path == "-") return ReadBounded(0, max_bytes, what, first_line_only);
  const struct Closed {
    int fd;
    ~Closed() { close(fd); }
  } input{OpenInput(path, what)};
  return ReadBounded(input.fd, max_bytes, what + " '" + path + "'", first_line_only);
}

// Inline JSON that does not parse: a hint when it looks like a file name or one attribute.
Json ParseInlineJson(const std::string& input, const std::string& flag) {
  if (input.size() > kMaxJsonInputBytes) throw UsageError(flag + " is larger than 1 MiB");
  try {
    return ParseJsonObject(input, flag);
  } catch (const Error& e) {
    struct stat file {};
    if (stat(input.c_str(), &file) == 0 && S_ISREG(file.st_mode)) {
      throw UsageError(std::string(e.what()) + "; did you mean @" + input + "?");
    }
    const auto eq = input.find('=');
    if (eq != std::string::npos && eq > 0 && input.front() != '{') {
      throw UsageError(std::string(e.what()) + "; for one attribute use -a KEY=VALUE");
    }
    throw;
  }
}

void CheckModeFlags(const Parsed& parsed) {
  const Options& o = parsed.options;
  constexpr std::pair<const char*, const char*> kNotInBatch[] = {
      {"--cache", "--cache is for single tokens; batch always mints"},
      {"--distinct-id",
       "-u/--distinct-id cannot be used with batch: each input line names its user"},
      {"--output", "-o/--output cannot be used with batch: it always writes JSON Lines"}};
  for (const auto& rule : kNotInBatch) {
    if (parsed.command == "batch" && parsed.Given(rule.first)) throw UsageError(rule.second);
  }
  if (parsed.command != "batch" && parsed.command != "config" && !parsed.Given("--distinct-id")) {
    throw UsageError("--distinct-id is required (e.g. toucan-token -u user-42); see --help");
  }
  if (o.quiet && o.verbose) throw UsageError("-q/--quiet and -v/--verbose cannot be used together");
  // An unset variable in `--api-key-file "$KEY_FILE"` must not fall back to TOUCAN_API_KEY.
  for (const auto& [flag, value, hint] :
       {std::tuple{"--cacert", &o.cacert, "a CA bundle file, or leave it out for the system store"},
        std::tuple{"--api-key-file", &o.api_key_file, "the key file, or - for standard input"},
        std::tuple{"--schema", &o.schema, "a schema file"},
        std::tuple{"--endpoint-path", &o.endpoint_path,
                   "the path, or leave it out for /embed/generate-token"}}) {
    if (parsed.Given(flag) && value->empty()) {
      throw UsageError(std::string(flag) + " is empty: give " + hint);
    }
  }
  std::vector<std::string> readers;
  if (ReadsStandardInput(o.attributes_input)) readers.emplace_back("--attributes");
  if (ReadsStandardInput(o.permissions_input)) readers.emplace_back("--permissions");
  if (NamesStandardInput(o.api_key_file)) readers.emplace_back("--api-key-file");
  if (parsed.command == "batch" && (o.batch_file.empty() || NamesStandardInput(o.batch_file))) {
    readers.emplace_back("the batch input");
  }
  if (readers.size() > 1) {
    throw UsageError("standard input is named by both " + readers[0] + " and " + readers[1] +
                     "; only one input may read it");
  }
}

std::string WithoutSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// A variable ranks below its flag and above the profile. "--config" stands for TOUCAN_CONFIG,
// which has no flag; like TOUCAN_PROFILE it was read already, and only its source is kept.
void ApplyVariable(Parsed& parsed, const Environment& env, const char* flag, const char* name,
                   std::string* target) {
  const auto value = EnvValue(env, name);
  if (!value || parsed.Given(flag)) return;
  if (target != nullptr) *target = *value;
  parsed.origin[flag] = std::string("env ") + name;
}

// TOUCAN_BASE_URL never sends the profile's own key elsewhere: a variable left over from dev
// work would carry the prod key there.
void ApplyBaseUrlVariable(Parsed& parsed, const std::optional<Profile>& profile,
                          const Environment& env) {
  const auto value = EnvValue(env, "TOUCAN_BASE_URL");
  const std::string own =
      profile && profile->base_url ? *profile->base_url : std::string(kDefaultBaseUrl);
  const bool key_flag = parsed.Given("--api-key-env") || parsed.Given("--api-key-file");
  if (value && !parsed.Given("--base-url") && profile && profile->HasKeySource() && !key_flag &&
      WithoutSlash(*value) != WithoutSlash(own)) {
    const std::string conflict =
        "TOUCAN_BASE_URL '" + MaskUserinfo(*value) + "' is not the instance of profile '" +
        profile->name + "' ('" + MaskUserinfo(own) + "'" +
        (profile->base_url ? "" : ", the default") +
        "), whose own key would be sent there; unset TOUCAN_BASE_URL to use the profile's "
        "instance, or pass --base-url to send this profile's key to another on purpose";
    if (parsed.command != "config") throw UsageError(conflict);
    parsed.base_url_conflict = conflict;  // `config` shows the profile's URL, then refuses
    return;
  }
  ApplyVariable(parsed, env, "--base-url", "TOUCAN_BASE_URL", &parsed.options.base_url);
}

void ApplyProfile(Parsed& parsed, const Profile& profile) {
  Options& o = parsed.options;
  const auto fill = [&](const char* flag, auto& target, const auto& value) {
    if (!value || parsed.Given(flag)) return;
    target = *value;
    parsed.origin[flag] = ProfileSource(profile, flag + 2);
  };
  fill("--base-url", o.base_url, profile.base_url);
  fill("--endpoint-path", o.endpoint_path, profile.endpoint_path);
  fill("--role", o.role, profile.role);
  fill("--output", o.output, profile.output);  // batch ignores it: its rows are its format
  fill("--cacert", o.cacert, profile.cacert);
  fill("--timeout", o.timeout, profile.timeout);
  fill("--connect-timeout", o.connect_timeout, profile.connect_timeout);
  fill("--retries", o.retries, profile.retries);
  fill("--concurrency", o.concurrency, profile.concurrency);
  fill("--min-ttl", o.min_ttl, profile.min_ttl);
  fill("--cache", o.cache, profile.cache);
  fill("--schema", o.schema, profile.schema_path);
  if (profile.schema_inline) fill("--schema", o.schema, std::optional("(inline table)"));
  // The key follows the instance: a profile's key source replaces TOUCAN_API_KEY, so a dev key
  // left in the environment never goes to prod. Only the key flags override it.
  if (!parsed.Given("--api-key-env") && !parsed.Given("--api-key-file")) {
    fill("--api-key-env", o.api_key_env, profile.api_key_env);
    fill("--api-key-file", o.api_key_file, profile.api_key_file);
    fill("--api-key-command", o.api_key_command, profile.api_key_command);
  }
}

// Single mode: a format from TOUCAN_OUTPUT is checked, and one that cannot work refused.
void CheckOutput(const Parsed& parsed, const std::optional<Profile>& profile,
                 const Environment& env) {
  const Options& o = parsed.options;
  const std::string source = parsed.Source("--output");
  if (source == "env TOUCAN_OUTPUT" && !IsOutputFormat(o.output)) {
    throw UsageError("TOUCAN_OUTPUT is '" + Excerpt(o.output) + "', not an output format: use " +
                     kOutputFormatList +
                     DidYouMean(o.output, {kOutputFormats.begin(), kOutputFormats.end()}));
  }
  if (parsed.command == "config") return;  // it only shows the format
  // The default is json, so a format that is refused came from one of these.
  const std::string from = source == "flag"                ? "-o/--output"
                           : source == "env TOUCAN_OUTPUT" ? "TOUCAN_OUTPUT"
                           : profile                       ? "the profile '" + profile->name + "'"
                                                           : "the default";
  // Any format but JSON is a script expecting a token, or a $GITHUB_ENV, that the request
  // would land in.
  if (o.dry_run && o.output != "json") {
    throw UsageError("--dry-run prints the request as JSON, but the output format is '" + o.output +
                     "' (from " + from + "); add -o json");
  }
  if (o.output != "github") return;
  const bool env_file = EnvValue(env, "GITHUB_ENV").has_value();
  const bool output_file = EnvValue(env, "GITHUB_OUTPUT").has_value();
  if (!env_file && !output_file) {
    throw UsageError("the output format 'github' (from " + from +
                     ") appends to the files named by GITHUB_ENV and GITHUB_OUTPUT, and neither "
                     "is set: run it in a GitHub Actions step, or use -o shell or -o env");
  }
  if (!env_file) Warn("GITHUB_ENV is not set, so the job's environment will not have the token");
  if (!output_file) Warn("GITHUB_OUTPUT is not set, so the step's outputs will not have the token");
}

// With a schema, `-a year=2024` means the declared type, so `:=` is not needed.
Json ParseAttributeArgument(const std::string& argument, const Schema* schema) {
  Json one = Json::object();
  ApplyAttributeArgument(one, argument);
  const std::string key = one.begin().key();
  if (schema != nullptr && argument[argument.find('=') - 1] != ':') {
    one[key] = schema->Coerce(key, one[key].get<std::string>());
  }
  return one;
}

Json Row(const char* name, Json value, std::string source) {
  return Json{{"name", name}, {"value", std::move(value)}, {"source", std::move(source)}};
}

// Where the key would be read and whether it is there; never the key (a command is not run).
Json ApiKeyRow(const Parsed& parsed) {
  const Options& o = parsed.options;
  const auto row = [&parsed](bool set, const std::string& where, const char* flag) {
    return Row("api-key", set ? "set" : "missing", where + " (" + parsed.Source(flag) + ")");
  };
  if (!o.api_key_command.empty()) {
    return row(true, "command " + Join(o.api_key_command, " "), "--api-key-command");
  }
  if (!o.api_key_file.empty()) {
    return row(NamesStandardInput(o.api_key_file) || access(o.api_key_file.c_str(), R_OK) == 0,
               "file " + o.api_key_file, "--api-key-file");
  }
  const char* value = IsEnvName(o.api_key_env) ? std::getenv(o.api_key_env.c_str()) : nullptr;
  return row(value && !Trim(value).empty(), "env " + o.api_key_env, "--api-key-env");
}

}  // namespace

// "-", the usual names of standard input, or any other path to the pipe, FIFO, socket or
// terminal that standard input is (`/dev/./stdin`, a symbolic link): reading it would consume
// stdin. A regular file or /dev/null is not counted: read by its path, it gives the same bytes.
bool NamesStandardInput(const std::string& path) {
  if (path == "-" || path == "/dev/stdin" || path == "/dev/fd/0" || path == "/proc/self/fd/0") {
    return true;
  }
  struct stat named {};
  struct stat input {};
  if (path.empty() || fstat(STDIN_FILENO, &input) != 0) return false;
  const bool consumed =
      S_ISFIFO(input.st_mode) || S_ISSOCK(input.st_mode) || isatty(STDIN_FILENO) == 1;
  return consumed && stat(path.c_str(), &named) == 0 && named.st_dev == input.st_dev &&
         named.st_ino == input.st_ino;
}

int OpenInput(const std::string& path, const std::string& what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == EINTR) {  // a signal while a FIFO waits for its writer
    throw Error(ErrorKind::kInterrupted, "interrupted while opening " + what + " '" + path + "'");
  }
  if (fd < 0) {
    throw UsageError("cannot read " + what + " '" + path + "': " + std::strerror(errno));
  }
  struct stat info {};
  if (fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    close(fd);
    throw UsageError("cannot read " + what + " '" + path + "': it is a directory");
  }
  return fd;
}

Json ReadJsonObjectInput(const std::string& input, const std::string& flag) {
  if (input.empty()) throw UsageError(flag + " is empty: give a JSON object, @FILE or -");
  if (input != "-" && input.front() != '@') return ParseInlineJson(input, flag);
  const std::string path = input == "-" ? input : input.substr(1);
  if (path.empty()) throw UsageError(flag + " @FILE needs a file name");
  const std::string what = input == "-" ? flag + " (standard input)" : flag + " file";
  return ParseJsonObject(ReadInput(path, what, kMaxJsonInputBytes),
                         input == "-" ? what : what + " '" + path + "'");
}

// An empty key when none is configured, or in a dry run for an api-key-command (it may prompt).
// A key read is checked here, and not only by the Client: a dry run and a cache hit build none.
ApiKey ReadApiKey(const Options& options) {
  ApiKey key{"", options.api_key_env};
  bool read = true;  // it may still be empty or malformed
  if (!options.api_key_command.empty()) {
    key.source = "the profile's api-key-command";
    read = !options.dry_run;
    if (read) key.key = RunKeyCommand(options.api_key_command);
  } else if (!options.api_key_file.empty()) {
    const bool stdin_key = NamesStandardInput(options.api_key_file);
    key.key =
        Trim(ReadInput(stdin_key ? "-" : options.api_key_file, "the API key file", 4096, true));
    key.source = stdin_key ? "standard input" : "--api-key-file '" + options.api_key_file + "'";
    struct stat info {};  // as ssh says of a private key others can read
    if (!stdin_key && stat(options.api_key_file.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
      Warn("the API key file '" + options.api_key_file + "' is open to others; run: chmod 600 '" +
           options.api_key_file + "'");
    }
  } else if (!IsEnvName(options.api_key_env)) {
    throw UsageError("--api-key-env '" + options.api_key_env +
                     "' is not an environment variable name");
  } else {
    const char* value = std::getenv(options.api_key_env.c_str());
    read = value != nullptr;
    key.key = value ? Trim(value) : "";
  }
  g_keys.Add(key.key);
  if (read) ValidateApiKey(key.key, key.source);
  return key;
}

void ApplyEnvironmentAndProfile(Parsed& parsed, const std::optional<Profile>& profile,
                                const Environment& env) {
  Options& o = parsed.options;
  ApplyVariable(parsed, env, "--config", "TOUCAN_CONFIG", nullptr);
  ApplyVariable(parsed, env, "--profile", "TOUCAN_PROFILE", nullptr);
  ApplyVariable(parsed, env, "--cacert", "TOUCAN_CA_BUNDLE", &o.cacert);
  if (parsed.command != "batch") ApplyVariable(parsed, env, "--output", "TOUCAN_OUTPUT", &o.output);
  ApplyBaseUrlVariable(parsed, profile, env);
  if (profile) ApplyProfile(parsed, *profile);
  CheckModeFlags(parsed);
  if (parsed.command != "batch") CheckOutput(parsed, profile, env);
}

std::optional<Schema> LoadSchema(const Parsed& parsed, const std::optional<Profile>& profile) {
  if (!parsed.Given("--schema") && profile && profile->schema_inline) return profile->schema_inline;
  if (parsed.options.schema.empty()) return std::nullopt;
  return Schema::Load(parsed.options.schema);
}

// Attributes layer: the profile's, then --attributes key by key, then each -a.
TokenRequest BuildDefaultRequest(const Parsed& parsed, const std::optional<Profile>& profile,
                                 const Schema* schema, AttributeLayers& layers) {
  const Options& o = parsed.options;
  TokenRequest request{o.distinct_id, o.role, Json::object(), std::nullopt};
  const auto note = [&](const Json& object, const std::string& source) {  // "": the profile's
    for (const auto& item : object.items()) {
      const std::string from =
          source.empty() ? ProfileSource(*profile, "attributes." + item.key()) : source;
      layers[item.key()].emplace_back(item.value(), from);
    }
  };
  if (profile && profile->attributes) {
    request.attributes = *profile->attributes;
    note(request.attributes, "");
  }
  std::vector<Json> over;  // merged in one pass: a key at a time would be quadratic
  if (parsed.Given("--attributes")) {
    over.push_back(ReadJsonObjectInput(o.attributes_input, "--attributes"));
    const bool named = o.attributes_input.front() == '@' || o.attributes_input == "-";
    note(over.back(), named ? "--attributes " + o.attributes_input : "--attributes");
  }
  for (const auto& argument : o.attribute_args) {
    over.push_back(ParseAttributeArgument(argument, schema));
    note(over.back(), "flag");
  }
  MergeAttributes(request.attributes, std::span<const Json>(over));
  if (parsed.Given("--permissions")) {
    request.permissions = ReadJsonObjectInput(o.permissions_input, "--permissions");
  } else if (profile && profile->permissions) {
    request.permissions = *profile->permissions;
  }
  return request;
}

std::vector<Json> OriginRows(const Parsed& parsed, const Config& config,
                             const std::optional<Profile>& profile, const Json& attributes,
                             const AttributeLayers& layers) {
  const Options& o = parsed.options;
  const auto row = [&parsed](const char* name, Json value) {
    return Row(name, std::move(value), parsed.Source(std::string("--") + name));
  };
  const auto text = [](const std::string& value) { return value.empty() ? Json() : Json(value); };
  const auto seconds = [](double value) {  // 30, not 30.0
    return value == std::floor(value) ? Json(static_cast<long long>(value)) : Json(value);
  };
  const std::string conflict =
      parsed.base_url_conflict.empty() ? "" : "; a mint refuses it: " + parsed.base_url_conflict;
  std::vector<Json> rows(
      {row("config", text(config.path)), row("profile", profile ? Json(profile->name) : Json()),
       Row("base-url", o.base_url, parsed.Source("--base-url") + conflict),
       row("endpoint-path", o.endpoint_path),
       Row("url", ResolveEndpointUrl(o.base_url, o.endpoint_path), "base-url + endpoint-path"),
       row("role", o.role), row("output", o.output), row("timeout", seconds(o.timeout)),
       row("connect-timeout", seconds(o.connect_timeout)), row("retries", o.retries),
       row("cacert", text(o.cacert)), row("schema", text(o.schema)),
       Row("cache", o.cache && !o.no_cache, o.no_cache ? "flag" : parsed.Source("--cache")),
       row("min-ttl", o.min_ttl < 0 ? Json() : Json(o.min_ttl)), ApiKeyRow(parsed)});
  for (const auto& item : attributes.items()) {
    const auto& history = layers.at(item.key());  // each attribute came from a layer
    Json overrides = Json::array();
    for (auto layer = history.rbegin() + 1; layer != history.rend(); ++layer) {
      overrides.push_back(Json{{"value", layer->first}, {"source", layer->second}});
    }
    rows.push_back(Json{{"attribute", item.key()},
                        {"value", item.value()},
                        {"source", history.back().second},
                        {"overrides", std::move(overrides)}});
  }
  return rows;
}

// `--dry-run --verbose`: the same rows on stderr, `NAME = VALUE (SOURCE)`.
void PrintOrigins(const std::vector<Json>& rows) {
  const auto text = [](const Json& value) { return Excerpt(value.get<std::string>()); };
  const auto dumped = [](const Json& value) {
    return value.dump(-1, ' ', true, Json::error_handler_t::replace);
  };
  for (const Json& row : rows) {
    const bool setting = row.contains("name");  // a setting's text value is shown unquoted
    const Json& value = row["value"];
    std::string line = (setting ? text(row["name"]) : "attribute " + text(row["attribute"])) +
                       " = " + (setting && value.is_string() ? text(value) : dumped(value)) + " (" +
                       text(row["source"]);
    for (const Json& over : row.value("overrides", Json::array())) {
      line += "; overrides " + dumped(over["value"]) + " from " + text(over["source"]);
    }
    PrintError(line + ")");
  }
}

}  // namespace toucan::cli
