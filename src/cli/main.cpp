// The command line: flags → library calls → output format → exit code.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/completions.hpp"     // generated from completions/
#include "batch.hpp"
#include "cache.hpp"
#include "config.hpp"
#include "hints.hpp"
#include "output.hpp"
#include "schema.hpp"
#include "toucan/client.hpp"

extern char** environ;

namespace {

using toucan::Error;
using toucan::ErrorKind;
using toucan::Json;
using toucan::UsageError;

constexpr std::size_t kMaxJsonInputBytes = std::size_t{1024} * 1024;
constexpr std::size_t kMaxKeyFileBytes = 4096;

constexpr const char* kFooter = R"HELP(Examples:
  export TOUCAN_API_KEY=...                 # never on the command line
  toucan-token -u u1 -a region=EU           # {"token": ..., "expiresIn": ..., "expiresAt": ...}
  toucan-token -u u1 -a year:=2024 -a 'groups:=["a","b"]' -o token
  toucan-token -u u1 --attributes @attrs.json --dry-run
  toucan-token -u u1 --base-url https://bi.example.com/toucan --api-key-file key.txt
  out=$(toucan-token -u ci-bot -o shell) || exit; eval "$out"   # exports TOUCAN_TOKEN
  toucan-token -u ci-bot -o github          # in a GitHub Actions step: masked, then $GITHUB_ENV
  toucan-token batch users.jsonl --concurrency 16 > tokens.jsonl
  toucan-token --profile prod -u u1 --cache  # settings from ~/.config/toucan-token/config.toml
  toucan-token batch --dry-run --schema attributes.toml users.jsonl   # offline check
  toucan-token profiles                     # one JSON object per profile
  toucan-token cache clear
  toucan-token completion bash > ~/.local/share/bash-completion/completions/toucan-token

Exit status:
  0  token printed (or --dry-run printed)     5  service unavailable (5xx; 429/502/503/504 after
  1  internal error                              retries; a Retry-After over 60 s)
  2  usage or input error                     6  network failure (DNS, connect, proxy, TLS, timeout)
  3  credentials rejected (401/403)           7  bad response (not JSON, no or unsafe token, nested
  4  request rejected (other 4xx, redirect)      over 64 levels, body over 1 MiB, headers over 100 KiB)
  8  the output could not be written          130/143  interrupted (SIGINT/SIGTERM)

The API key is read from TOUCAN_API_KEY (see --api-key-env, --api-key-file), never from a flag.)HELP";

constexpr const char* kBatchFooter =
    R"HELP(Each line is {"distinctId": ...} (with role, attributes, permissions), "id", or a bare id.
CSV (--csv, or a FILE named *.csv): a header row naming a distinctId (or distinct_id, id)
column, optional role and permissions columns, and attribute columns; an empty cell is left out.
The options of toucan-token --help are every line's defaults (-r, -a, --attributes,
--permissions, --base-url, --schema, --dry-run, ...), except -u, -o and --cache.
stdout: one JSON row per non-blank line, in input order; stderr: a summary line.
A 401/403, a 404, a certificate failure, an unknown host or a refused proxy tunnel stops the
batch: the lines not sent get rows that say why (--keep-going sends them anyway).

Examples:
  toucan-token batch users.jsonl --concurrency 16 > tokens.jsonl
  toucan-token batch users.csv -a region=EU       # distinctId,year,... header
  toucan-token batch --dry-run --schema attributes.toml users.jsonl   # offline check

Exit status: 0 when every line was minted, else the status of the first failed line
(the table in toucan-token --help); 8 when stdout fails; 130/143 when interrupted.)HELP";

struct Options {
  std::string distinct_id;
  std::string role{toucan::kDefaultRole};
  std::vector<std::string> attribute_args;
  std::string attributes_input;
  std::string permissions_input;
  std::string base_url{toucan::kDefaultBaseUrl};
  std::string endpoint_path{toucan::kDefaultEndpointPath};
  std::string api_key_env{"TOUCAN_API_KEY"};
  std::string api_key_file;
  std::string output{"json"};
  double timeout = 30;
  double connect_timeout = 10;
  int retries = 2;
  std::string cacert;
  bool dry_run = false;
  bool verbose = false;
  bool quiet = false;
  std::vector<std::string> api_key_command;  // from the profile
  std::string profile;
  std::string schema;
  bool cache = false;
  bool no_cache = false;
  long min_ttl = -1;  // -1: the default margin
  // batch
  std::string batch_file;
  int concurrency = 8;
  std::string completion_shell;  // `toucan-token completion SHELL`
  bool csv = false;
  bool keep_going = false;
};

struct Parsed {
  Options options;
  bool batch = false;
  bool given_attributes = false;
  bool given_permissions = false;
  bool given_cacert = false;
  bool given_api_key_file = false;
  bool given_distinct_id = false;
  bool given_output = false;
  bool profiles = false;        // `toucan-token profiles`
  bool cache_clear = false;     // `toucan-token cache clear`
  bool completion = false;      // `toucan-token completion SHELL`
  std::string output_from;      // where the format came from, when not the default
  bool config = false;          // `toucan-token config`
  std::set<std::string> given;  // options set by a flag or their environment variable
  // Where each setting set by other than its default came from, by option ("--base-url"):
  // "flag", "env TOUCAN_BASE_URL", "profile prod (PATH:LINE)". For `config` and --dry-run -v.
  std::map<std::string, std::string> origin;
  std::string base_url_conflict;  // for `config`: why a mint would refuse TOUCAN_BASE_URL
};

// ---- process set-up ------------------------------------------------------------------------

volatile std::sig_atomic_t g_signal = 0;

// Batch: the first signal asks the loop to wind down; a second one ends the program at once.
// Either way an api-key-command still running is stopped, with all it started.
void OnBatchSignal(int signal) {
  toucan::StopKeyCommand();
  if (g_signal != 0) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  g_signal = signal;
}

// Single mode: nothing is half done that is worth waiting for; end with 128 + signal, leaving
// no api-key-command and no token in a half-written cache file behind.
void OnSingleSignal(int signal) {
  toucan::StopKeyCommand();
  toucan::RemoveUnfinishedCacheEntry();
  _exit(128 + signal);
}

void InstallSignalHandlers(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking read of the batch input returns EINTR
  // SIGHUP (a closed terminal or ssh session) and SIGQUIT end the program as SIGTERM does:
  // an api-key-command and a half-written cache entry are cleaned up all the same.
  for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(signal, &action, nullptr);
}

// A closed descriptor 0–2 would be taken by the next file or socket opened (libcurl's socketpair
// on stdout would swallow the token). Open /dev/null in the direction that makes use fail:
// reading a closed stdin or writing a closed stdout is then an error, not silence.
void GuardStandardStreams() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int opened = open("/dev/null", (fd == 0 ? O_WRONLY : O_RDONLY));
    if (opened >= 0 && opened != fd) {
      dup2(opened, fd);
      close(opened);
    }
  }
}

// An empty or blank TOUCAN_* variable counts as unset, whatever reads it later.
void DropBlankToucanVariables() {
  std::vector<std::string> blank;
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos || text.rfind("TOUCAN_", 0) != 0) continue;
    if (toucan::Trim(text.substr(eq + 1)).empty()) blank.emplace_back(text.substr(0, eq));
  }
  for (const auto& name : blank) unsetenv(name.c_str());
}

// ---- keys this run knows ---------------------------------------------------------------------

// Every API key this run knows of: the one it reads, and those the environment offers
// (TOUCAN_API_KEY, the variable --api-key-env or the profile names). A careless user may pass a
// key where a name, a path, a URL or an attribute goes, and a message or row quoting that input
// would repeat it; so everything written to stderr, and every batch or dry-run row, goes
// through Apply.
class KnownKeys {
 public:
  // Keys of 8 characters and more: a shorter one would blot out the tool's own words ("check"
  // with a key of "k"); what a server or libcurl says is redacted of the key in use whatever
  // its length, by the client.
  void Add(std::string_view key) {
    key = toucan::Trim(key);
    if (key.size() < 8) return;
    for (const auto& known : keys_) {
      if (known == key) return;
    }
    keys_.emplace_back(key);
    redactors_.emplace_back(std::string(key));
  }

  void AddFromEnvironment(const std::string& name) {
    if (const char* value = std::getenv(name.c_str())) Add(value);
  }

  std::string Apply(std::string text) const {
    for (const auto& redactor : redactors_) text = redactor.Apply(text);
    return text;
  }

 private:
  std::vector<std::string> keys_;
  std::vector<toucan::Redactor> redactors_;
};

KnownKeys g_keys;

// Before the command line is parsed: CLI11's own messages may quote an argument.
void AddKeysOfCommandLine(int argc, char** argv) {
  g_keys.AddFromEnvironment("TOUCAN_API_KEY");
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--api-key-env" && i + 1 < argc) g_keys.AddFromEnvironment(argv[i + 1]);
    if (arg.rfind("--api-key-env=", 0) == 0) g_keys.AddFromEnvironment(std::string(arg.substr(14)));
  }
}

void PrintError(const std::string& message) {
  const std::string line = "toucan-token: " + g_keys.Apply(message) + "\n";
  [[maybe_unused]] const auto written = std::fwrite(line.data(), 1, line.size(), stderr);
}

bool g_quiet = false;  // -q: errors only

void Warn(const std::string& message) {
  if (!g_quiet) PrintError("warning: " + message);
}

// ---- option values -------------------------------------------------------------------------

// Plain decimal digits only: "010" is ten (not octal), "0x10" is refused. Leading zeros are
// removed here because CLI11 would otherwise read "010" as octal.
CLI::Validator DecimalInteger(long min, long max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        const std::string bad = "must be a whole number from " + std::to_string(min) + " to " +
                                std::to_string(max) + " in plain digits, got '" + text + "'";
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return bad;
        const auto first = text.find_first_not_of('0');
        text = first == std::string::npos ? "0" : text.substr(first);
        if (text.size() > 9 || std::stol(text) < min || std::stol(text) > max) return bad;
        return {};
      },
      "");
}

// A decimal number of seconds: digits with an optional fraction, no sign, spaces or units.
CLI::Validator PositiveSeconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::string bad =
            "must be a number of seconds greater than 0 (at most 86400), such as 5 or 2.5, got '" +
            text + "'";
        const auto dot = text.find('.');
        const std::string whole = text.substr(0, dot);
        const std::string fraction = dot == std::string::npos ? "0" : text.substr(dot + 1);
        if (whole.empty() || fraction.empty() ||
            whole.find_first_not_of("0123456789") != std::string::npos ||
            fraction.find_first_not_of("0123456789") != std::string::npos) {
          return bad;
        }
        const double value = std::strtod(text.c_str(), nullptr);
        if (!(value > 0) || value > 86400) return bad;
        return {};
      },
      "");
}

// One of `words`, with a suggestion for a near miss (CLI11's IsMember quotes its own set syntax).
CLI::Validator OneOf(std::vector<std::string> words) {
  return CLI::Validator(
      [words](std::string& text) -> std::string {
        if (std::find(words.begin(), words.end(), text) != words.end()) return {};
        std::string list;
        for (const auto& word : words) list += (list.empty() ? "" : ", ") + word;
        const auto close = toucan::SuggestName(text, words);
        return "'" + toucan::Excerpt(text, 100) + "' is not one of " + list +
               (close ? " (did you mean " + *close + "?)" : "");
      },
      "");
}

std::chrono::milliseconds ToMilliseconds(double seconds) {
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000.0)));
}

// ---- inputs --------------------------------------------------------------------------------

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

// JSON|@FILE|- inputs: "-", or @ followed by a name of standard input.
bool ReadsStandardInput(const std::string& input) {
  return input == "-" || (input.rfind('@', 0) == 0 && NamesStandardInput(input.substr(1)));
}

// Opens a file named by the user; a directory or an unreadable file is a usage error.
int OpenInput(const std::string& path, const std::string& what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
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

std::string ReadInput(const std::string& path, const std::string& what, std::size_t max_bytes,
                      bool first_line_only = false) {
  if (path == "-") return toucan::ReadBounded(0, max_bytes, what, first_line_only);
  const int fd = OpenInput(path, what);
  try {
    std::string text =
        toucan::ReadBounded(fd, max_bytes, what + " '" + path + "'", first_line_only);
    close(fd);
    return text;
  } catch (...) {
    close(fd);
    throw;
  }
}

// JSON|@FILE|- → a JSON object.
Json ReadJsonObjectInput(const std::string& input, const std::string& flag) {
  if (input.empty()) throw UsageError(flag + " is empty: give a JSON object, @FILE or -");
  if (input == "-") {
    return toucan::ParseJsonObject(ReadInput("-", flag + " (standard input)", kMaxJsonInputBytes),
                                   flag + " (standard input)");
  }
  if (input.front() == '@') {
    const std::string path = input.substr(1);
    if (path.empty()) throw UsageError(flag + " @FILE needs a file name");
    return toucan::ParseJsonObject(ReadInput(path, flag + " file", kMaxJsonInputBytes),
                                   flag + " file '" + path + "'");
  }
  if (input.size() > kMaxJsonInputBytes) throw UsageError(flag + " is larger than 1 MiB");
  try {
    return toucan::ParseJsonObject(input, flag);
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

bool IsEnvName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

struct ApiKey {
  std::string key;  // empty when none is configured
  std::string source;
  bool read = false;  // a key was read (it may still be empty or malformed)
};

// The key and where it comes from; an empty key when none is configured (or, in a dry run, the
// profile's api-key-command, which is not run).
ApiKey FindApiKey(const Options& options) {
  if (!options.api_key_command.empty()) {
    ApiKey key{"", "the profile's api-key-command", false};
    if (options.dry_run) return key;  // offline: the command may prompt (pass, gpg)
    key.key = toucan::RunKeyCommand(options.api_key_command);
    key.read = true;
    return key;
  }
  if (!options.api_key_file.empty()) {
    const bool stdin_key = NamesStandardInput(options.api_key_file);
    ApiKey key;
    key.source = stdin_key ? "standard input" : "--api-key-file '" + options.api_key_file + "'";
    key.key = std::string(toucan::Trim(ReadInput(stdin_key ? "-" : options.api_key_file,
                                                 "the API key file", kMaxKeyFileBytes, true)));
    key.read = true;
    return key;
  }
  if (!IsEnvName(options.api_key_env)) {
    throw UsageError("--api-key-env '" + options.api_key_env +
                     "' is not an environment variable name");
  }
  const char* value = std::getenv(options.api_key_env.c_str());
  if (value == nullptr) return {"", options.api_key_env, false};
  return {std::string(toucan::Trim(value)), options.api_key_env, true};
}

// Checked here, where it is read, and not only by the Client: a dry run and a cache hit never
// build one, and a key that is set but empty or malformed must still be reported.
ApiKey ReadApiKey(const Options& options) {
  ApiKey key = FindApiKey(options);
  g_keys.Add(key.key);
  if (key.read) toucan::ValidateApiKey(key.key, key.source);
  return key;
}

// ---- the steps -----------------------------------------------------------------------------

void AddRequestOptions(CLI::App& app, Options& o) {
  app.add_option("-u,--distinct-id", o.distinct_id, "The end user's unique id (required)")
      ->type_name("ID");
  app.add_option("-r,--role", o.role, "The end user's role")->type_name("ROLE");
  app.add_option("-a,--attribute", o.attribute_args,
                 "One attribute: KEY=VALUE (a string) or KEY:=JSON (typed); repeatable")
      ->type_name("KEY=VALUE|KEY:=JSON")
      ->default_str("")
      ->allow_extra_args(false);
  app.add_option("--attributes", o.attributes_input,
                 "The whole attributes object: JSON, @FILE or - (stdin); -a applies over it")
      ->type_name("JSON|@FILE|-");
  app.add_option("--permissions", o.permissions_input,
                 "The permissions object, passed through: JSON, @FILE or -")
      ->type_name("JSON|@FILE|-");
}

void AddConnectionOptions(CLI::App& app, Options& o) {
  // TOUCAN_BASE_URL is read by ApplyBaseUrlVariable, which must tell it from the flag.
  app.add_option("--base-url", o.base_url, "Instance URL (env TOUCAN_BASE_URL)")->type_name("URL");
  app.add_option("--endpoint-path", o.endpoint_path, "Path below the base URL")->type_name("PATH");
  app.add_option("--api-key-env", o.api_key_env, "Environment variable that holds the API key")
      ->type_name("NAME");
  app.add_option("--api-key-file", o.api_key_file,
                 "Read the API key from a file's first line (- for stdin)")
      ->type_name("PATH");
  app.add_option("--timeout", o.timeout, "Limit for one attempt, connection included")
      ->check(PositiveSeconds())
      ->type_name("SECONDS");
  app.add_option("--connect-timeout", o.connect_timeout, "Limit for connecting")
      ->check(PositiveSeconds())
      ->type_name("SECONDS");
  app.add_option("--retries", o.retries, "Extra attempts on transient failures")
      ->transform(DecimalInteger(0, 100))
      ->type_name("N");
  app.add_option("--cacert", o.cacert,
                 "CA bundle to trust instead of the system store (env TOUCAN_CA_BUNDLE)")
      ->type_name("FILE");
}

void AddProfileOptions(CLI::App& app, Options& o) {
  app.add_option("--profile", o.profile,
                 "Profile of config.toml to use (env TOUCAN_PROFILE; default: 'default')")
      ->type_name("NAME");
  app.add_option("--schema", o.schema, "Attribute schema to check against (a JSON or TOML file)")
      ->type_name("FILE");
  app.add_flag("--cache", o.cache, "Reuse a cached token for the same request (single mode)");
  app.add_flag("--no-cache", o.no_cache, "Do not use the token cache (wins over --cache)");
  app.add_option("--min-ttl", o.min_ttl,
                 "Life a cached token needs left (default: 60 s or 10 % of expiresIn, the larger)")
      ->transform(DecimalInteger(0, 31536000))
      ->type_name("SECONDS")
      ->default_str("");  // -1 stands for the computed margin, not a value to show
  // Their own footers: the main one's examples and exit table are about minting.
  app.add_subcommand("profiles", "List the profiles of config.toml, one JSON object each")
      ->fallthrough()
      ->footer(
          "Prints {\"name\", \"active\", \"settings\"} per profile of\n"
          "$TOUCAN_CONFIG or ~/.config/toucan-token/config.toml; never a key.\n"
          "Exit status: 0, or 2 when the file cannot be read or is invalid.");
  app.add_subcommand("config", "Show every setting and attribute of a mint and where it came from")
      ->fallthrough()
      ->footer(
          "Takes the options of a mint; sends nothing and needs no key. Prints JSON Lines:\n"
          "{\"name\", \"value\", \"source\"} per setting (the key only as set or missing),\n"
          "then {\"attribute\", \"value\", \"source\", \"overrides\"} per attribute.\n"
          "Example: toucan-token config --profile prod -u u1 -a region=EU\n"
          "Exit status: 0, or 2 when a setting or input is invalid.");
  CLI::App* cache = app.add_subcommand("cache", "The token cache: toucan-token cache clear");
  cache->require_subcommand(1)->fallthrough()->footer(
      "Example: toucan-token cache clear   # removes every cached token; says how many on stderr");
  cache->add_subcommand("clear", "Remove every cached token")
      ->fallthrough()
      ->footer("Exit status: 0, or 2 when the cache folder cannot be used.");
}

std::unique_ptr<CLI::App> BuildApp(Options& o) {
  auto app = std::make_unique<CLI::App>("Mint a Toucan embed token and print it.", "toucan-token");
  app->footer(kFooter);
  app->set_version_flag("--version", [] {
    return std::string("toucan-token ") + toucan::kVersion + "\n" + toucan::LibraryVersions();
  });
  app->option_defaults()->always_capture_default();
  AddRequestOptions(*app, o);
  AddConnectionOptions(*app, o);
  app->add_option(
         "-o,--output", o.output,
         std::string("Output format: ") + toucan::kOutputFormatList + " (env TOUCAN_OUTPUT)")
      ->check(OneOf(std::vector<std::string>(toucan::kOutputFormats.begin(),
                                             toucan::kOutputFormats.end())))
      ->type_name("FORMAT");
  app->add_flag("--dry-run", o.dry_run, "Print the request that would be sent; send nothing");
  AddProfileOptions(*app, o);
  app->add_flag("-v,--verbose", o.verbose, "Progress and diagnostics on stderr");
  app->add_flag("-q,--quiet", o.quiet, "No warnings or progress on stderr; errors still print");
  CLI::App* batch = app->add_subcommand(
      "batch", "Mint one token per line of FILE (JSON Lines or CSV; - or none for stdin)");
  batch->fallthrough();
  batch->footer(kBatchFooter);
  batch->add_option("file", o.batch_file, "Input: JSON Lines, or CSV (--csv or a .csv name)")
      ->type_name("FILE|-");
  batch->add_option("--concurrency", o.concurrency, "Requests in flight")
      ->transform(DecimalInteger(1, 256))
      ->type_name("N");
  CLI::App* completion =
      app->add_subcommand("completion", "Print the completion script for bash, zsh or fish");
  completion->add_option("shell", o.completion_shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}).description(""))
      ->type_name("SHELL");
  completion->footer(
      "The script the package installs. Examples:\n"
      "  toucan-token completion bash > ~/.local/share/bash-completion/completions/toucan-token\n"
      "  toucan-token completion zsh > ~/.zfunc/_toucan-token     # a folder in $fpath\n"
      "  toucan-token completion fish > ~/.config/fish/completions/toucan-token.fish");
  batch->add_flag("--csv", o.csv,
                  "Read CSV: a header row (distinctId, attributes...), a user a row");
  batch->add_flag("--keep-going", o.keep_going,
                  "Send every line even after a failure every line would meet (401/403, 404, ...)");
  return app;
}

// "-u/--distinct-id", as the help writes an option.
std::string OptionName(const CLI::Option& option) {
  std::string name;
  for (const auto& s : option.get_snames()) name += "-" + s + "/";
  for (const auto& l : option.get_lnames()) name += "--" + l + "/";
  return name.empty() ? option.get_name() : name.substr(0, name.size() - 1);
}

// The apps whose options apply: the main one and the subcommands given.
std::vector<const CLI::App*> AppsInUse(const CLI::App& app) {
  std::vector<const CLI::App*> apps{&app};
  for (std::size_t i = 0; i < apps.size(); ++i) {
    for (const CLI::App* sub : apps[i]->get_subcommands()) apps.push_back(sub);
  }
  return apps;
}

// "did you mean X?" for a word close to one of `names` (edit distance 2, case, '_' for '-').
std::string DidYouMean(std::string word, const std::vector<std::string>& names) {
  std::replace(word.begin(), word.end(), '_', '-');
  if (const auto close = toucan::SuggestName(word, names)) return " (did you mean " + *close + "?)";
  // An unambiguous abbreviation (`--conc`) is as clear a sign as a typo.
  std::vector<std::string> longer;
  for (const auto& name : names) {
    if (word.size() > 2 && name.rfind(word, 0) == 0) longer.push_back(name);
  }
  return longer.size() == 1 ? " (did you mean " + longer.front() + "?)" : "";
}

std::string UnknownOption(const std::string& arg, const CLI::App& app) {
  std::vector<std::string> names{"--help"};
  for (const CLI::App* in_use : AppsInUse(app)) {
    for (const CLI::Option* option : in_use->get_options()) {
      for (const auto& l : option->get_lnames()) names.push_back("--" + l);
    }
  }
  const std::string name = arg.substr(0, arg.find('='));
  return "unknown option '" + toucan::Excerpt(name, 100) + "'" + DidYouMean(name, names);
}

// A word where a command or a value was expected.
std::string UnexpectedWord(const std::string& word, const CLI::App& app) {
  const std::string shown = "'" + toucan::Excerpt(word, 100) + "'";
  const CLI::App* cache = app.get_subcommand("cache");
  if (cache->parsed()) {
    return "unknown cache command " + shown + ": the only one is clear (toucan-token cache clear)";
  }
  if (app.get_subcommand("batch")->parsed()) {
    return "batch reads one FILE; " + shown + " is one too many";
  }
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands({})) commands.push_back(sub->get_name());
  std::string message = "unknown command " + shown + DidYouMean(word, commands);
  if (message.back() == ')') return message;
  std::string list;
  for (const auto& command : commands) list += (list.empty() ? "" : ", ") + command;
  return message + ": the commands are " + list + " (a distinct id goes after -u)";
}

// CLI11's own words never reach the user: each parse error is said again, naming the option.
std::string ExplainParseError(const CLI::ParseError& e, const CLI::App& app) {
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    for (const auto& arg : app.remaining(true)) {
      if (arg.size() > 1 && arg.front() == '-') return UnknownOption(arg, app);
    }
    const auto extras = app.remaining(true);
    if (!extras.empty()) return UnexpectedWord(extras.front(), app);
  }
  if (app.get_subcommand("cache")->parsed() &&
      !app.get_subcommand("cache")->get_subcommand("clear")->parsed()) {
    const auto extras = app.remaining(true);
    if (!extras.empty()) return UnexpectedWord(extras.front(), app);
    return "cache needs a command: toucan-token cache clear";
  }
  const std::string what = e.what();
  for (const CLI::App* in_use : AppsInUse(app)) {
    for (const CLI::Option* option : in_use->get_options()) {
      const bool single = option->get_items_expected_max() == 1 && !option->get_lnames().empty();
      if (single && option->count() > 1) return OptionName(*option) + " given twice";
      if (what.rfind(option->get_name() + ": ", 0) != 0) continue;
      if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
        return OptionName(*option) + " needs a value (" + option->get_type_name() + ")";
      }
      return OptionName(*option) + what.substr(option->get_name().size());  // our validators
    }
  }
  return what;
}

// `-u --dry-run` would take "--dry-run" for the id and mint for real: a value that names an
// option of the command line is a value the user forgot.
void RefuseOptionsTakenAsValues(const CLI::App& app) {
  const auto apps = AppsInUse(app);
  for (const CLI::App* in_use : apps) {
    for (const CLI::Option* option : in_use->get_options()) {
      for (const std::string& value : option->results()) {
        if (value.size() < 2 || value.front() != '-') continue;
        const std::string name = value.substr(0, value.find('='));
        for (const CLI::App* other : apps) {
          if (other->get_option_no_throw(name) == nullptr) continue;
          throw UsageError(OptionName(*option) + " needs a value, but the next word is the option " +
                           name + " (see toucan-token --help)");
        }
      }
    }
  }
}

// Parses argv; returns an exit status when the run ends here (--help, --version, no arguments).
std::optional<int> ParseCommandLine(int argc, char** argv, Parsed& parsed) {
  auto app = BuildApp(parsed.options);
  if (argc <= 1) {  // as git and gh do: the help, on stderr, and a usage status
    const std::string help = app->help();
    [[maybe_unused]] const auto written = std::fwrite(help.data(), 1, help.size(), stderr);
    return 2;
  }
  try {
    app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      const int status = app->exit(e);
      std::cout.flush();
      if (!std::cout || std::fflush(stdout) != 0) {
        throw Error(ErrorKind::kOutput,
                    std::string("cannot write to standard output: ") + std::strerror(errno));
      }
      return status;
    }
    // Point at the help that lists the option at fault: a subcommand's own where one was given.
    std::string help = "toucan-token --help";
    for (const char* name : {"batch", "profiles", "cache", "completion", "config"}) {
      if (app->get_subcommand(name)->parsed())
        help = std::string("toucan-token ") + name + " --help";
    }
    throw UsageError(ExplainParseError(e, *app) + " (see " + help + ")");
  }
  RefuseOptionsTakenAsValues(*app);
  parsed.batch = app->get_subcommand("batch")->parsed();
  parsed.given_attributes = app->count("--attributes") > 0;
  parsed.given_permissions = app->count("--permissions") > 0;
  parsed.given_api_key_file = app->count("--api-key-file") > 0;
  parsed.given_distinct_id = app->count("--distinct-id") > 0;
  parsed.given_output = app->count("--output") > 0;
  for (const char* name : {"--role", "--base-url", "--endpoint-path", "--api-key-env",
                           "--api-key-file", "--timeout", "--connect-timeout", "--retries",
                           "--cacert", "--profile", "--schema", "--min-ttl", "--cache"}) {
    if (app->count(name) > 0) parsed.given.insert(name);
  }
  if (app->get_subcommand("batch")->count("--concurrency") > 0)
    parsed.given.insert("--concurrency");
  for (const auto& name : parsed.given) parsed.origin[name] = "flag";
  // Below a flag, above a profile; read here rather than by CLI11, so that the source is known
  // (TOUCAN_BASE_URL: ApplyBaseUrlVariable, which needs the profile).
  if (const char* bundle = std::getenv("TOUCAN_CA_BUNDLE");
      bundle != nullptr && parsed.given.count("--cacert") == 0) {
    parsed.options.cacert = bundle;
    parsed.given.insert("--cacert");
    parsed.origin["--cacert"] = "env TOUCAN_CA_BUNDLE";
  }
  parsed.given_cacert = parsed.given.count("--cacert") > 0;
  parsed.config = app->get_subcommand("config")->parsed();
  parsed.profiles = app->get_subcommand("profiles")->parsed();
  parsed.cache_clear = app->get_subcommand("cache")->parsed();
  parsed.completion = app->get_subcommand("completion")->parsed();
  return std::nullopt;
}

void CheckModeFlags(const Parsed& parsed) {
  if (parsed.batch) {
    if (parsed.given.count("--cache") > 0) {
      throw UsageError("--cache is for single tokens; batch always mints");
    }
    if (parsed.given_distinct_id) {
      throw UsageError(
          "-u/--distinct-id cannot be used with batch: each input line names its user");
    }
    if (parsed.given_output) {
      throw UsageError("-o/--output cannot be used with batch: it always writes JSON Lines");
    }
  } else if (!parsed.given_distinct_id && !parsed.config) {
    throw UsageError("--distinct-id is required (e.g. toucan-token -u user-42); see --help");
  }
  if (parsed.options.quiet && parsed.options.verbose) {
    throw UsageError("-q/--quiet and -v/--verbose cannot be used together");
  }
  if (parsed.given_cacert && parsed.options.cacert.empty()) {
    throw UsageError(
        "--cacert is empty: give a CA bundle file, or leave it out for the system store");
  }
  // An unset variable in `--api-key-file "$KEY_FILE"` must not fall back to TOUCAN_API_KEY.
  if (parsed.given_api_key_file && parsed.options.api_key_file.empty()) {
    throw UsageError("--api-key-file is empty: give the key file, or - for standard input");
  }
  const Options& o = parsed.options;
  std::vector<std::string> readers;
  if (ReadsStandardInput(o.attributes_input)) readers.emplace_back("--attributes");
  if (ReadsStandardInput(o.permissions_input)) readers.emplace_back("--permissions");
  if (!o.api_key_file.empty() && NamesStandardInput(o.api_key_file)) {
    readers.emplace_back("--api-key-file");
  }
  if (parsed.batch && (o.batch_file.empty() || NamesStandardInput(o.batch_file))) {
    readers.emplace_back("the batch input");
  }
  if (readers.size() > 1) {
    throw UsageError("standard input is named by both " + readers[0] + " and " + readers[1] +
                     "; only one input may read it");
  }
}

// TOUCAN_BASE_URL ranks below --base-url and above a profile's base-url, but never sends the
// profile's own key elsewhere: a variable left over from dev work would carry the prod key there.
void ApplyBaseUrlVariable(Parsed& parsed, const std::optional<toucan::Profile>& profile) {
  const auto value = toucan::EnvValue(toucan::ProcessEnvironment(), "TOUCAN_BASE_URL");
  if (!value || parsed.given.count("--base-url") > 0) return;
  const auto without_slash = [](std::string url) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
  };
  const std::string own =
      profile && profile->base_url ? *profile->base_url : std::string(toucan::kDefaultBaseUrl);
  const bool key_flag =
      parsed.given.count("--api-key-env") + parsed.given.count("--api-key-file") > 0;
  if (profile && profile->HasKeySource() && !key_flag &&
      without_slash(*value) != without_slash(own)) {
    const auto quote = [](const std::string& url) { return "'" + toucan::MaskUserinfo(url) + "'"; };
    const std::string conflict = "TOUCAN_BASE_URL " + quote(*value) +
                                 " is not the instance of profile '" + profile->name + "' (" +
                                 quote(own) + (profile->base_url ? "" : ", the default") +
                                 "), whose own key would be sent there";
    // `config` is where the user looks for why: it shows the profile's URL and says so.
    if (parsed.config) {
      parsed.base_url_conflict = conflict;
      return;
    }
    throw UsageError(conflict + "; pass --base-url to choose the instance, or unset TOUCAN_BASE_URL");
  }
  parsed.options.base_url = *value;
  parsed.given.insert("--base-url");
  parsed.origin["--base-url"] = "env TOUCAN_BASE_URL";
}

// "profile prod (PATH:LINE)": where the profile writes `key` ("base-url", "attributes.region").
std::string ProfileSource(const toucan::Profile& profile, const std::string& key) {
  const auto line = profile.lines.find(key);
  return "profile " + profile.name + " (" +
         (line == profile.lines.end() ? std::string() : line->second) + ")";
}

// Profile settings fill in what no flag (or TOUCAN_BASE_URL / TOUCAN_CA_BUNDLE) set.
void ApplyProfile(Parsed& parsed, const toucan::Profile& profile) {
  Options& o = parsed.options;
  const auto from = [&](const char* flag) {
    parsed.origin[flag] = ProfileSource(profile, flag + 2);
  };
  const auto fill = [&](const char* flag, auto& target, const auto& value) {
    if (value && parsed.given.count(flag) == 0) target = *value, from(flag);
  };
  fill("--base-url", o.base_url, profile.base_url);
  fill("--endpoint-path", o.endpoint_path, profile.endpoint_path);
  fill("--role", o.role, profile.role);
  fill("--cacert", o.cacert, profile.cacert);
  fill("--timeout", o.timeout, profile.timeout);
  fill("--connect-timeout", o.connect_timeout, profile.connect_timeout);
  fill("--retries", o.retries, profile.retries);
  fill("--concurrency", o.concurrency, profile.concurrency);
  fill("--min-ttl", o.min_ttl, profile.min_ttl);
  if (profile.cache && parsed.given.count("--cache") == 0) o.cache = *profile.cache, from("--cache");
  if ((profile.schema_path || profile.schema_inline) && parsed.given.count("--schema") == 0) {
    from("--schema");
  }
  // The key follows the instance: a profile's key source replaces TOUCAN_API_KEY, so a dev key
  // left in the environment never goes to prod. Only the key flags override it.
  if (parsed.given.count("--api-key-env") == 0 && parsed.given.count("--api-key-file") == 0) {
    if (profile.api_key_env) o.api_key_env = *profile.api_key_env, from("--api-key-env");
    if (profile.api_key_file) o.api_key_file = *profile.api_key_file, from("--api-key-file");
    if (profile.api_key_command) o.api_key_command = *profile.api_key_command;
    if (profile.api_key_command) from("--api-key-command");
  }
}

// Single mode: below -o come TOUCAN_OUTPUT, then the profile's `output` (batch rows are JSON
// Lines whatever they say). A dry run prints JSON only: any other format is a script expecting a
// token, or a $GITHUB_ENV, that the request would land in.
void ResolveOutput(Parsed& parsed, const std::optional<toucan::Profile>& profile,
                   const toucan::Environment& env) {
  if (parsed.batch) return;
  Options& o = parsed.options;
  if (parsed.given_output) {
    parsed.output_from = "-o/--output";
    parsed.origin["--output"] = "flag";
  } else if (const auto variable = toucan::EnvValue(env, "TOUCAN_OUTPUT")) {
    if (!toucan::IsOutputFormat(*variable)) {
      const std::vector<std::string> formats(toucan::kOutputFormats.begin(),
                                             toucan::kOutputFormats.end());
      throw UsageError("TOUCAN_OUTPUT is '" + toucan::Excerpt(*variable) +
                       "', not an output format: use " + toucan::kOutputFormatList +
                       DidYouMean(*variable, formats));
    }
    o.output = *variable;
    parsed.output_from = "TOUCAN_OUTPUT";
    parsed.origin["--output"] = "env TOUCAN_OUTPUT";
  } else if (profile && profile->output) {
    o.output = *profile->output;
    parsed.output_from = "the profile '" + profile->name + "'";
    parsed.origin["--output"] = ProfileSource(*profile, "output");
  }
  if (parsed.config) return;  // it only shows the format
  if (o.dry_run && o.output != "json") {
    throw UsageError("--dry-run prints the request as JSON, but the output format is '" + o.output +
                     "' (from " + parsed.output_from + "); add -o json");
  }
  if (o.output == "github" && !toucan::EnvValue(env, "GITHUB_ENV") &&
      !toucan::EnvValue(env, "GITHUB_OUTPUT")) {
    throw UsageError("the output format 'github' (from " + parsed.output_from +
                     ") appends to the files named by GITHUB_ENV and GITHUB_OUTPUT, and neither "
                     "is set: run it in a GitHub Actions step, or use -o shell or -o env");
  }
  for (const char* name : {"GITHUB_ENV", "GITHUB_OUTPUT"}) {
    if (o.output == "github" && !toucan::EnvValue(env, name)) {
      Warn(std::string(name) + " is not set, so " +
                   (name[7] == 'E' ? "the job's environment" : "the step's outputs") +
                   " will not have the token");
    }
  }
}

std::optional<toucan::Schema> LoadSchema(const Parsed& parsed,
                                         const std::optional<toucan::Profile>& profile) {
  if (parsed.given.count("--schema") > 0) {
    if (parsed.options.schema.empty()) throw UsageError("--schema is empty: give a schema file");
    return toucan::Schema::Load(parsed.options.schema);
  }
  if (profile && profile->schema_path) return toucan::Schema::Load(*profile->schema_path);
  if (profile && profile->schema_inline) return profile->schema_inline;
  return std::nullopt;
}

// With a schema, `-a year=2024` means the declared type, so `:=` is not needed. Returns the key.
std::string ApplyAttribute(Json& attributes, const std::string& argument,
                           const toucan::Schema* schema) {
  toucan::ApplyAttributeArgument(attributes, argument);
  const auto eq = argument.find('=');
  const bool typed = argument[eq - 1] == ':';
  const std::string key = argument.substr(0, typed ? eq - 1 : eq);
  if (schema != nullptr && !typed) {
    attributes[key] = schema->Coerce(key, attributes[key].get<std::string>());
  }
  return key;
}

// Each attribute's values, lowest layer first, with the source of each: for `config`.
using AttributeLayers = std::map<std::string, std::vector<std::pair<Json, std::string>>>;

// The request from the profile, -r, --attributes, -a and --permissions (for batch: every line's
// defaults). Attributes layer: the profile's, then --attributes key by key, then each -a.
toucan::TokenRequest BuildDefaultRequest(const Parsed& parsed,
                                         const std::optional<toucan::Profile>& profile,
                                         const toucan::Schema* schema,
                                         AttributeLayers* layers = nullptr) {
  const Options& o = parsed.options;
  toucan::TokenRequest request;
  request.distinct_id = o.distinct_id;
  request.role = o.role;
  const auto note = [&](const std::string& key, const Json& value, const std::string& source) {
    if (layers) (*layers)[key].emplace_back(value, source);
  };
  if (profile && profile->attributes) {
    request.attributes = *profile->attributes;
    for (const auto& [key, value] : request.attributes.items()) {
      if (!layers) break;
      note(key, value, ProfileSource(*profile, "attributes." + key));
    }
  }
  std::vector<Json> over;  // merged in one pass: a key at a time would be quadratic
  if (parsed.given_attributes) {
    over.push_back(ReadJsonObjectInput(o.attributes_input, "--attributes"));
    const bool named = o.attributes_input.front() == '@' || o.attributes_input == "-";
    const std::string source = named ? "--attributes " + o.attributes_input : "--attributes";
    for (const auto& [key, value] : over.back().items()) {
      if (!layers) break;
      note(key, value, source);
    }
  }
  for (const auto& argument : o.attribute_args) {
    Json& one = over.emplace_back(Json::object());
    const std::string key = ApplyAttribute(one, argument, schema);
    note(key, one.begin().value(), "flag");
  }
  toucan::MergeAttributes(request.attributes, std::span<const Json>(over));
  if (parsed.given_permissions) {
    request.permissions = ReadJsonObjectInput(o.permissions_input, "--permissions");
  } else if (profile && profile->permissions) {
    request.permissions = *profile->permissions;
  }
  return request;
}

// ---- where every setting came from ---------------------------------------------------------

std::string Origin(const Parsed& parsed, const char* flag) {
  const auto found = parsed.origin.find(flag);
  return found == parsed.origin.end() ? "default" : found->second;
}

Json Row(const char* name, Json value, std::string source) {
  return Json{{"name", name}, {"value", std::move(value)}, {"source", std::move(source)}};
}

Json OrNull(const std::string& text) { return text.empty() ? Json() : Json(text); }

// 30, not 30.0, for whole seconds.
Json Seconds(double value) {
  return value == std::floor(value) ? Json(static_cast<long long>(value)) : Json(value);
}

// Where the key would be read and whether it is there; never the key (a command is not run).
Json ApiKeyRow(const Parsed& parsed) {
  const Options& o = parsed.options;
  if (!o.api_key_command.empty()) {
    std::string command;
    for (const auto& word : o.api_key_command) command += (command.empty() ? "" : " ") + word;
    return Row("api-key", "set",
               "command " + command + " (" + Origin(parsed, "--api-key-command") + ")");
  }
  if (!o.api_key_file.empty()) {
    const bool there =
        NamesStandardInput(o.api_key_file) || access(o.api_key_file.c_str(), R_OK) == 0;
    return Row("api-key", there ? "set" : "missing",
               "file " + o.api_key_file + " (" + Origin(parsed, "--api-key-file") + ")");
  }
  const char* value = IsEnvName(o.api_key_env) ? std::getenv(o.api_key_env.c_str()) : nullptr;
  return Row("api-key", value && !toucan::Trim(value).empty() ? "set" : "missing",
             "env " + o.api_key_env + " (" + Origin(parsed, "--api-key-env") + ")");
}

std::vector<Json> SettingRows(const Parsed& parsed, const toucan::Config& config,
                              const std::optional<toucan::Profile>& profile) {
  const Options& o = parsed.options;
  const std::string url = toucan::ResolveEndpointUrl(o.base_url, o.endpoint_path);  // checks it
  Json schema = parsed.given.count("--schema") > 0 ? Json(o.schema) : Json();
  if (profile && parsed.given.count("--schema") == 0) {
    if (profile->schema_path) schema = *profile->schema_path;
    if (profile->schema_inline) schema = "(inline table)";
  }
  return {
      Row("config", OrNull(config.path), std::getenv("TOUCAN_CONFIG") ? "env TOUCAN_CONFIG" : "default"),
      Row("profile", profile ? Json(profile->name) : Json(),
          parsed.given.count("--profile") > 0  ? "flag"
          : std::getenv("TOUCAN_PROFILE")      ? "env TOUCAN_PROFILE"
                                               : "default"),
      Row("base-url", o.base_url,
          Origin(parsed, "--base-url") +
              (parsed.base_url_conflict.empty() ? "" : "; a mint refuses " + parsed.base_url_conflict)),
      Row("endpoint-path", o.endpoint_path, Origin(parsed, "--endpoint-path")),
      Row("url", url, "base-url + endpoint-path"),
      Row("role", o.role, Origin(parsed, "--role")),
      Row("output", o.output, Origin(parsed, "--output")),
      Row("timeout", Seconds(o.timeout), Origin(parsed, "--timeout")),
      Row("connect-timeout", Seconds(o.connect_timeout), Origin(parsed, "--connect-timeout")),
      Row("retries", o.retries, Origin(parsed, "--retries")),
      Row("cacert", OrNull(o.cacert), Origin(parsed, "--cacert")),
      Row("schema", schema, Origin(parsed, "--schema")),
      Row("cache", o.cache && !o.no_cache, o.no_cache ? "flag" : Origin(parsed, "--cache")),
      Row("min-ttl", o.min_ttl < 0 ? Json() : Json(o.min_ttl), Origin(parsed, "--min-ttl")),
      ApiKeyRow(parsed)};
}

// One row per attribute sent: its value, the layer it came from and the values it replaced.
std::vector<Json> AttributeRows(const Json& attributes, const AttributeLayers& layers) {
  std::vector<Json> rows;
  for (const auto& [key, value] : attributes.items()) {
    const auto found = layers.find(key);
    if (found == layers.end() || found->second.empty()) continue;
    const auto& history = found->second;
    Json overrides = Json::array();
    for (auto layer = history.rbegin() + 1; layer != history.rend(); ++layer) {
      overrides.push_back(Json{{"value", layer->first}, {"source", layer->second}});
    }
    rows.push_back(Json{{"attribute", key},
                        {"value", value},
                        {"source", history.back().second},
                        {"overrides", std::move(overrides)}});
  }
  return rows;
}

// `--dry-run --verbose`: the same rows on stderr, `NAME = VALUE (SOURCE)`.
void PrintOrigins(const std::vector<Json>& rows) {
  const auto shown = [](const Json& value) {
    return value.is_string() ? toucan::Excerpt(value.get<std::string>())
                             : value.dump(-1, ' ', true, Json::error_handler_t::replace);
  };
  for (const Json& row : rows) {
    if (row.contains("name")) {
      PrintError(row["name"].get<std::string>() + " = " + shown(row["value"]) + " (" +
                 toucan::Excerpt(row["source"].get<std::string>()) + ")");
      continue;
    }
    std::string line = "attribute " + toucan::Excerpt(row["attribute"].get<std::string>()) + " = " +
                       row["value"].dump(-1, ' ', true, Json::error_handler_t::replace) + " (" +
                       toucan::Excerpt(row["source"].get<std::string>());
    for (const Json& over : row["overrides"]) {
      line += "; overrides " + over["value"].dump(-1, ' ', true, Json::error_handler_t::replace) +
              " from " + toucan::Excerpt(over["source"].get<std::string>());
    }
    PrintError(line + ")");
  }
}

toucan::ClientOptions MakeClientOptions(const Options& options, ApiKey key) {
  toucan::ClientOptions client;
  client.base_url = options.base_url;
  client.endpoint_path = options.endpoint_path;
  client.api_key = std::move(key.key);
  client.api_key_source = std::move(key.source);
  client.timeout = ToMilliseconds(options.timeout);
  client.connect_timeout = ToMilliseconds(options.connect_timeout);
  client.retries = options.retries;
  client.ca_bundle = options.cacert;
  if (options.verbose) client.log = [](const std::string& line) { PrintError(line); };
  return client;
}

// `-o env`, `shell` and `github` output is read by a shell (eval, or a workflow's
// `${{ env.TOUCAN_TOKEN }}` pasted into a script): only characters no shell interprets (no `~`,
// quotes, `$`).
bool IsShellSafe(const std::string& text) {
  for (const char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("._-+/=:", c) == nullptr) {
      return false;
    }
  }
  return true;
}

std::string ExpiresAt(const toucan::TokenResponse& response) {
  return response.expires_at ? toucan::FormatRfc3339(*response.expires_at) : std::string();
}

// What stdout gets; for github, the mask line that must precede the token anywhere else.
std::string FormatResult(const toucan::TokenResponse& response, const std::string& format) {
  if (format == "json") return toucan::ResponseJsonLine(response);
  if (format == "token") return response.token;
  if (format == "header") return "Authorization: Bearer " + response.token;
  if (!IsShellSafe(response.token)) {
    throw Error(ErrorKind::kBadResponse,
                "the token holds characters a shell would interpret, so "
                "it is not printed for -o " +
                    format + "; use -o json or -o token");
  }
  if (format == "github") return "::add-mask::" + response.token;
  const std::string prefix = format == "shell" ? "export " : "";
  return prefix + "TOUCAN_TOKEN=" + response.token + "\n" + prefix +
         "TOUCAN_TOKEN_EXPIRES_AT=" + ExpiresAt(response);
}

// -o github: a file the runner reads after the step, and the names of its two lines.
struct GithubFile {
  toucan::LineWriter writer;
  const char* token_name;
  const char* expires_name;
};

// Opened before the request, so that a file that cannot be opened costs no token. O_APPEND: the
// runner's files may be appended to by others too, and each line is one write.
std::vector<GithubFile> OpenGithubFiles(const toucan::Environment& env) {
  std::vector<GithubFile> files;
  for (const auto& [variable, token, expires] :
       {std::tuple{"GITHUB_ENV", "TOUCAN_TOKEN", "TOUCAN_TOKEN_EXPIRES_AT"},
        std::tuple{"GITHUB_OUTPUT", "token", "expires-at"}}) {
    const auto path = toucan::EnvValue(env, variable);
    if (!path) continue;
    const std::string what = std::string("$") + variable + " ('" + *path + "')";
    // O_NONBLOCK: a FIFO nobody reads is an error now, not a hang; writes then block again.
    const int fd =
        open(path->c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0) {
      throw Error(ErrorKind::kOutput, "cannot open " + what + ": " + std::strerror(errno));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    files.push_back({toucan::LineWriter(fd, what), token, expires});
  }
  return files;
}

void PrintResult(const toucan::TokenResponse& response, const std::string& format,
                 std::vector<GithubFile>& github) {
  toucan::LineWriter(STDOUT_FILENO).Write(FormatResult(response, format));
  for (auto& file : github) {
    file.writer.Write(std::string(file.token_name) + "=" + response.token);
    file.writer.Write(std::string(file.expires_name) + "=" + ExpiresAt(response));
  }
}

// The cache entry for this request, when the cache is on and usable (a warning otherwise).
struct CacheUse {
  std::optional<toucan::TokenCache> cache;
  std::string entry;
};

CacheUse OpenCache(const Options& o, const Json& body, const ApiKey& key) {
  CacheUse use;
  if (!o.cache || o.no_cache || o.dry_run) return use;
  auto opened = toucan::TokenCache::Open(toucan::ProcessEnvironment());
  if (!opened.cache) {
    Warn(opened.warning);
    return use;
  }
  use.cache = std::move(opened.cache);
  use.entry = toucan::TokenCache::EntryName(toucan::ResolveEndpointUrl(o.base_url, o.endpoint_path),
                                            key.key, body.dump());
  return use;
}

int RunSingle(const Parsed& parsed, const Json& body, ApiKey key) {
  const Options& o = parsed.options;
  if (o.dry_run) {
    const std::string url = toucan::ResolveEndpointUrl(o.base_url, o.endpoint_path);
    const std::string request = toucan::DryRunRequest(url, body).dump();
    // The user's own input may hold the key (an attribute set from the wrong variable).
    toucan::LineWriter(STDOUT_FILENO)
        .Write(g_keys.Apply(key.key.empty() ? request : toucan::Redactor(key.key).Apply(request)));
    return 0;
  }
  std::vector<GithubFile> github;
  if (o.output == "github") github = OpenGithubFiles(toucan::ProcessEnvironment());
  const CacheUse cached = OpenCache(o, body, key);
  if (cached.cache) {
    const auto min_ttl =
        o.min_ttl < 0 ? std::nullopt : std::optional(std::chrono::seconds(o.min_ttl));
    const toucan::CacheLookup found =
        cached.cache->Lookup(cached.entry, toucan::Redactor(key.key), min_ttl);
    if (o.verbose)
      PrintError(found.hit ? "cache hit (" + found.reason + ")" : "cache miss: " + found.reason);
    if (found.hit) {
      PrintResult(*found.hit, o.output, github);
      return 0;
    }
  }
  toucan::Client client(MakeClientOptions(o, std::move(key)));
  const toucan::TokenResponse response = client.Mint(body);
  FormatResult(response, o.output);  // an unusable token is refused before it is cached
  if (!response.expires_in) {
    Warn("the reply has no usable expiresIn, so the expiry is unknown (null)");
  }
  if (cached.cache) {
    const toucan::CacheStore stored = cached.cache->Store(cached.entry, response);
    if ((o.verbose || stored.warn) && !stored.stored) {
      PrintError((stored.warn ? "warning: not cached: " : "not cached: ") + stored.reason);
    }
  }
  PrintResult(response, o.output, github);
  return 0;
}

int RunProfiles(const toucan::Config& config, const std::optional<toucan::Profile>& active) {
  // Every profile's key, not only the active one's: a listing shows them all.
  for (const toucan::Profile& profile : config.profiles) {
    if (profile.api_key_env) g_keys.AddFromEnvironment(*profile.api_key_env);
  }
  toucan::LineWriter out(STDOUT_FILENO);
  const auto name = active ? std::optional(active->name) : std::nullopt;
  for (const Json& row : toucan::ProfileRows(config, name)) {
    // A command such as ["echo", KEY] is where the key comes from, and shows it.
    out.Write(g_keys.Apply(row.dump(-1, ' ', false, Json::error_handler_t::replace)));
  }
  return 0;
}

int RunCompletion(const std::string& shell) {
  std::string_view script = shell == "bash"  ? toucan::cli::kBashCompletion
                            : shell == "zsh" ? toucan::cli::kZshCompletion
                                             : toucan::cli::kFishCompletion;
  if (!script.empty() && script.back() == '\n') script.remove_suffix(1);  // Write adds it
  toucan::LineWriter(STDOUT_FILENO).Write(script);
  return 0;
}

int RunCacheClear() {
  auto opened = toucan::TokenCache::Open(toucan::ProcessEnvironment());
  if (!opened.cache) throw UsageError(opened.warning);
  const std::size_t removed = opened.cache->Clear();
  PrintError("removed " + std::to_string(removed) +
             (removed == 1 ? " cached token" : " cached tokens") + " from " +
             opened.cache->folder());
  return 0;
}

int RunBatchMode(const Parsed& parsed, const toucan::TokenRequest& defaults, ApiKey key,
                 const std::optional<toucan::Schema>& schema) {
  const Options& o = parsed.options;
  toucan::BatchOptions batch;
  batch.defaults = defaults;
  if (schema) {
    batch.check_line = [&schema](const toucan::TokenRequest& line) {
      schema->Check(line.attributes);
    };
  }
  batch.redact = [](std::string row) { return g_keys.Apply(std::move(row)); };
  batch.concurrency = o.concurrency;
  batch.keep_going = o.keep_going;
  batch.csv = o.csv || (o.batch_file.size() > 4 &&
                        o.batch_file.compare(o.batch_file.size() - 4, 4, ".csv") == 0);
  // CSV cells are text, as -a KEY=VALUE is: the schema's type converts them the same way.
  if (schema) {
    batch.cell_value = [&schema](const std::string& name, std::string_view text) {
      return schema->Coerce(name, text);
    };
  }
  batch.progress = !o.quiet && isatty(STDERR_FILENO) == 1;
  batch.interrupted = [] { return g_signal != 0; };
  int input = STDIN_FILENO;
  if (!o.batch_file.empty() && !NamesStandardInput(o.batch_file)) {
    input = OpenInput(o.batch_file, "the batch file");
    if (batch.progress) batch.total_lines = toucan::CountBatchLines(o.batch_file, batch.csv);
  }
  int status = 0;
  if (o.dry_run || g_signal != 0) {  // interrupted before the key was read: reads no line
    const std::string url = toucan::ResolveEndpointUrl(o.base_url, o.endpoint_path);
    status = toucan::RunBatchDryRun(input, batch, url, STDOUT_FILENO, stderr);
  } else {
    toucan::Client client(MakeClientOptions(o, std::move(key)));
    status = toucan::RunBatch(client, input, batch, STDOUT_FILENO, stderr);
  }
  if (g_signal != 0) status = 128 + g_signal;
  return status;
}

// Every problem on a line of its own, so that one run shows all there is to fix.
void ReportSchemaProblems(const toucan::Schema& schema, const Json& attributes) {
  const std::vector<std::string> problems = schema.Problems(attributes);
  if (problems.empty()) return;
  for (std::size_t i = 0; i + 1 < problems.size(); ++i) {
    PrintError(UsageError(problems[i]).what());  // escaped as every Error message is
  }
  throw UsageError(problems.back());
}

int Run(int argc, char** argv) {
  Parsed parsed;
  if (const auto done = ParseCommandLine(argc, argv, parsed)) return *done;
  g_quiet = parsed.options.quiet;
  if (parsed.completion) return RunCompletion(parsed.options.completion_shell);
  if (parsed.cache_clear && parsed.options.dry_run) {
    throw UsageError("cache clear has no dry run: it removes every cached token");
  }
  if (parsed.cache_clear) return RunCacheClear();
  const toucan::Environment env = toucan::ProcessEnvironment();
  const toucan::Config config = toucan::LoadConfig(env);
  const auto profile_flag =
      parsed.given.count("--profile") > 0 ? std::optional(parsed.options.profile) : std::nullopt;
  const std::optional<toucan::Profile> profile = toucan::SelectProfile(config, profile_flag, env);
  if (profile && profile->api_key_env) g_keys.AddFromEnvironment(*profile->api_key_env);
  if (parsed.profiles) return RunProfiles(config, profile);
  ApplyBaseUrlVariable(parsed, profile);
  if (profile) ApplyProfile(parsed, *profile);
  CheckModeFlags(parsed);
  ResolveOutput(parsed, profile, env);
  const std::optional<toucan::Schema> schema = LoadSchema(parsed, profile);
  AttributeLayers layers;
  const bool show_origins = parsed.config || (parsed.options.dry_run && parsed.options.verbose);
  const toucan::TokenRequest request = BuildDefaultRequest(
      parsed, profile, schema ? &*schema : nullptr, show_origins ? &layers : nullptr);
  if (show_origins) {
    std::vector<Json> rows = SettingRows(parsed, config, profile);
    for (Json& row : AttributeRows(request.attributes, layers)) rows.push_back(std::move(row));
    if (!parsed.config) {
      PrintOrigins(rows);
    } else {
      toucan::LineWriter out(STDOUT_FILENO);
      for (const Json& row : rows) {
        out.Write(g_keys.Apply(row.dump(-1, ' ', false, Json::error_handler_t::replace)));
      }
      if (schema) ReportSchemaProblems(*schema, request.attributes);  // the verdict, as a mint's
      return 0;
    }
  }
  // Input errors come before key errors. For batch the role and attributes are every line's
  // defaults, checked on their own; a single request is checked by building its body, once.
  Json body;
  if (parsed.batch) {
    toucan::CheckRequestDefaults(request);
  } else {
    body = toucan::BuildRequestBody(request);
    if (schema) ReportSchemaProblems(*schema, request.attributes);
  }
  // --dry-run needs no key, but one that is configured is still read and checked; so is the CA
  // bundle, which a real run checks when it builds its client.
  // Before the key is read (an api-key-command may take a while) and the input is opened
  // (opening a FIFO can block): a signal then must still wind the batch down.
  if (parsed.batch) InstallSignalHandlers(OnBatchSignal);
  ApiKey key;
  try {
    key = ReadApiKey(parsed.options);
  } catch (const Error& e) {
    // The batch still says what it did not do: every line not attempted.
    if (!parsed.batch || e.kind() != ErrorKind::kInterrupted) throw;
  }
  if (parsed.options.dry_run && !parsed.options.cacert.empty()) {
    toucan::CheckCaBundle(parsed.options.cacert);
  }
  if (key.key.empty() && !parsed.options.dry_run && g_signal == 0) {
    // A profile's own variable replaces TOUCAN_API_KEY: say so, or the key seems to vanish.
    const auto origin = parsed.origin.find("--api-key-env");
    const bool named = origin != parsed.origin.end() && origin->second.rfind("profile ", 0) == 0;
    throw UsageError("no API key: set " + parsed.options.api_key_env +
                     (named ? " (named by " + origin->second + "; TOUCAN_API_KEY is not used with it)"
                              : " (or use --api-key-file); it is never taken from the command line"));
  }
  if (parsed.batch) return RunBatchMode(parsed, request, std::move(key), schema);
  return RunSingle(parsed, body, std::move(key));
}

int RunAndReport(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const Error& e) {
    PrintError(WithHint(e));
    if (e.kind() == ErrorKind::kInterrupted && g_signal != 0) return 128 + g_signal;
    return toucan::ExitCode(e.kind());
  } catch (const std::exception& e) {
    PrintError(std::string("internal error: ") + e.what() + " (please report this)");
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  GuardStandardStreams();
  InstallSignalHandlers(OnSingleSignal);
  DropBlankToucanVariables();
  AddKeysOfCommandLine(argc, argv);
  const int status = RunAndReport(argc, argv);
#if defined(__SANITIZE_ADDRESS__)
  return status;  // exit normally, so LeakSanitizer sees what is left on the heap
#else
  // Every result is written and checked by now (whole-line write(2) calls, --help flushed), so
  // the exit-time teardown of libcurl, OpenSSL and the C++ runtime, which only frees memory the
  // kernel takes back anyway, is skipped: it is a measurable part of a one-token run.
  _exit(status);
#endif
}
