// The command line: flags → library calls → output format → exit code.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "../client_internal.hpp"  // CheckCaBundle, for dry runs
#include "../text.hpp"             // Trim, shared with the library
#include "toucan/batch.hpp"
#include "toucan/cache.hpp"
#include "toucan/config.hpp"
#include "toucan/output.hpp"
#include "toucan/schema.hpp"
#include "toucan/token.hpp"

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
  eval "$(toucan-token -u ci-bot -o env)"   # sets TOUCAN_TOKEN, TOUCAN_TOKEN_EXPIRES_AT
  toucan-token batch users.jsonl --concurrency 16 > tokens.jsonl
  toucan-token --profile prod -u u1 --cache  # settings from ~/.config/toucan-token/config.toml
  toucan-token batch --dry-run --schema attributes.toml users.jsonl   # offline check
  toucan-token profiles                     # one JSON object per profile
  toucan-token cache clear

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
The options of toucan-token --help are every line's defaults (-r, -a, --attributes,
--permissions, --base-url, --schema, --dry-run, ...), except -u, -o and --cache.
stdout: one JSON row per non-blank line, in input order; stderr: a summary line.

Examples:
  toucan-token batch users.jsonl --concurrency 16 > tokens.jsonl
  cut -d, -f1 users.csv | toucan-token batch -a region=EU
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
  std::vector<std::string> api_key_command;  // from the profile
  std::string profile;
  std::string schema;
  bool cache = false;
  bool no_cache = false;
  long min_ttl = -1;  // -1: the default margin
  // batch
  std::string batch_file;
  int concurrency = 8;
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
  std::set<std::string> given;  // options set by a flag or their environment variable
};

// ---- process set-up ------------------------------------------------------------------------

volatile std::sig_atomic_t g_signal = 0;

// Batch: the first signal asks the loop to wind down; a second one ends the program at once.
void OnBatchSignal(int signal) {
  if (g_signal != 0) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  g_signal = signal;
}

// Single mode: nothing is half done that is worth waiting for; end with 128 + signal.
void OnSingleSignal(int signal) { _exit(128 + signal); }

void InstallSignalHandlers(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking read of the batch input returns EINTR
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
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
  return toucan::ParseJsonObject(input, flag);
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
  app.add_option("--base-url", o.base_url, "Instance URL")
      ->envname("TOUCAN_BASE_URL")
      ->type_name("URL");
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
  app.add_option("--cacert", o.cacert, "CA bundle to trust instead of the system store")
      ->envname("TOUCAN_CA_BUNDLE")
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
  app->add_option("-o,--output", o.output, "Output format: json, token, header or env")
      ->check(CLI::IsMember({"json", "token", "header", "env"}).description(""))
      ->type_name("FORMAT");
  app->add_flag("--dry-run", o.dry_run, "Print the request that would be sent; send nothing");
  AddProfileOptions(*app, o);
  app->add_flag("-v,--verbose", o.verbose, "Progress and diagnostics on stderr");
  CLI::App* batch = app->add_subcommand(
      "batch", "Mint one token per line of FILE (JSON Lines; - or none for stdin)");
  batch->fallthrough();
  batch->footer(kBatchFooter);
  batch->add_option("file", o.batch_file, "Input: JSON Lines, one user per line")
      ->type_name("FILE|-");
  batch->add_option("--concurrency", o.concurrency, "Requests in flight")
      ->transform(DecimalInteger(1, 256))
      ->type_name("N");
  return app;
}

// Parses argv; returns an exit status when the run ends here (--help, --version).
std::optional<int> ParseCommandLine(int argc, char** argv, Parsed& parsed) {
  auto app = BuildApp(parsed.options);
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
    for (const char* name : {"batch", "profiles", "cache"}) {
      if (app->get_subcommand(name)->parsed())
        help = std::string("toucan-token ") + name + " --help";
    }
    if (app->get_subcommand("cache")->parsed() &&
        !app->get_subcommand("cache")->get_subcommand("clear")->parsed()) {
      throw UsageError("cache needs a subcommand: toucan-token cache clear");
    }
    throw UsageError(std::string(e.what()) + " (see " + help + ")");
  }
  parsed.batch = app->get_subcommand("batch")->parsed();
  parsed.given_attributes = app->count("--attributes") > 0;
  parsed.given_permissions = app->count("--permissions") > 0;
  parsed.given_cacert = app->count("--cacert") > 0;
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
  parsed.profiles = app->get_subcommand("profiles")->parsed();
  parsed.cache_clear = app->get_subcommand("cache")->parsed();
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
  } else if (!parsed.given_distinct_id) {
    throw UsageError("--distinct-id is required (e.g. toucan-token -u user-42); see --help");
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

// Profile settings fill in what no flag (or TOUCAN_BASE_URL / TOUCAN_CA_BUNDLE) set.
void ApplyProfile(Parsed& parsed, const toucan::Profile& profile) {
  Options& o = parsed.options;
  const auto fill = [&](const char* flag, auto& target, const auto& value) {
    if (value && parsed.given.count(flag) == 0) target = *value;
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
  if (profile.cache && parsed.given.count("--cache") == 0) o.cache = *profile.cache;
  // The key follows the instance: a profile's key source replaces TOUCAN_API_KEY, so a dev key
  // left in the environment never goes to prod. Only the key flags override it.
  if (parsed.given.count("--api-key-env") == 0 && parsed.given.count("--api-key-file") == 0) {
    if (profile.api_key_env) o.api_key_env = *profile.api_key_env;
    if (profile.api_key_file) o.api_key_file = *profile.api_key_file;
    if (profile.api_key_command) o.api_key_command = *profile.api_key_command;
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

// With a schema, `-a year=2024` means the declared type, so `:=` is not needed.
void ApplyAttribute(Json& attributes, const std::string& argument, const toucan::Schema* schema) {
  toucan::ApplyAttributeArgument(attributes, argument);
  const auto eq = argument.find('=');
  if (schema == nullptr || eq == 0 || argument[eq - 1] == ':') return;
  const std::string key = argument.substr(0, eq);
  attributes[key] = schema->Coerce(key, attributes[key].get<std::string>());
}

// The request from the profile, -r, --attributes, -a and --permissions (for batch: every line's
// defaults). Attributes layer: the profile's, then --attributes key by key, then each -a.
toucan::TokenRequest BuildDefaultRequest(const Parsed& parsed,
                                         const std::optional<toucan::Profile>& profile,
                                         const toucan::Schema* schema) {
  const Options& o = parsed.options;
  toucan::TokenRequest request;
  request.distinct_id = o.distinct_id;
  request.role = o.role;
  if (profile && profile->attributes) request.attributes = *profile->attributes;
  std::vector<Json> layers;  // merged in one pass: a key at a time would be quadratic
  if (parsed.given_attributes) {
    layers.push_back(ReadJsonObjectInput(o.attributes_input, "--attributes"));
  }
  for (const auto& argument : o.attribute_args) {
    ApplyAttribute(layers.emplace_back(Json::object()), argument, schema);
  }
  toucan::MergeAttributes(request.attributes, std::span<const Json>(layers));
  if (parsed.given_permissions) {
    request.permissions = ReadJsonObjectInput(o.permissions_input, "--permissions");
  } else if (profile && profile->permissions) {
    request.permissions = *profile->permissions;
  }
  return request;
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

// `-o env` output is meant for eval: only characters no shell interprets (no `~`, quotes, `$`).
bool IsShellSafe(const std::string& text) {
  for (const char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("._-+/=:", c) == nullptr) {
      return false;
    }
  }
  return true;
}

std::string FormatResult(const toucan::TokenResponse& response, const std::string& format) {
  if (format == "token") return response.token;
  if (format == "header") return "Authorization: Bearer " + response.token;
  if (format == "env") {
    if (!IsShellSafe(response.token)) {
      throw Error(ErrorKind::kBadResponse,
                  "the token holds characters a shell would interpret, so it is not printed for "
                  "eval; use -o json or -o token");
    }
    return "TOUCAN_TOKEN=" + response.token + "\nTOUCAN_TOKEN_EXPIRES_AT=" +
           (response.expires_at ? toucan::FormatRfc3339(*response.expires_at) : std::string());
  }
  return toucan::ResponseJsonLine(response);
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
    PrintError("warning: " + opened.warning);
    return use;
  }
  use.cache = std::move(opened.cache);
  use.entry = toucan::TokenCache::EntryName(toucan::ResolveEndpointUrl(o.base_url, o.endpoint_path),
                                            key.key, body.dump());
  return use;
}

int RunSingle(const Parsed& parsed, const Json& body, ApiKey key) {
  const Options& o = parsed.options;
  toucan::LineWriter out(STDOUT_FILENO);
  if (o.dry_run) {
    const std::string url = toucan::ResolveEndpointUrl(o.base_url, o.endpoint_path);
    const std::string request = toucan::DryRunRequest(url, body).dump();
    // The user's own input may hold the key (an attribute set from the wrong variable).
    out.Write(g_keys.Apply(key.key.empty() ? request : toucan::Redactor(key.key).Apply(request)));
    return 0;
  }
  const CacheUse cached = OpenCache(o, body, key);
  if (cached.cache) {
    const auto min_ttl =
        o.min_ttl < 0 ? std::nullopt : std::optional(std::chrono::seconds(o.min_ttl));
    const toucan::CacheLookup found =
        cached.cache->Lookup(cached.entry, toucan::Redactor(key.key), min_ttl);
    if (o.verbose)
      PrintError(found.hit ? "cache hit (" + found.reason + ")" : "cache miss: " + found.reason);
    if (found.hit) {
      out.Write(FormatResult(*found.hit, o.output));
      return 0;
    }
  }
  toucan::Client client(MakeClientOptions(o, std::move(key)));
  const toucan::TokenResponse response = client.Mint(body);
  const std::string result = FormatResult(response, o.output);
  if (!response.expires_in) {
    PrintError("warning: the reply has no usable expiresIn, so the expiry is unknown (null)");
  }
  if (cached.cache) {
    const toucan::CacheStore stored = cached.cache->Store(cached.entry, response);
    if (o.verbose && !stored.stored) PrintError("not cached: " + stored.reason);
  }
  out.Write(result);
  return 0;
}

int RunProfiles(const toucan::Config& config, const std::optional<toucan::Profile>& active) {
  toucan::LineWriter out(STDOUT_FILENO);
  const auto name = active ? std::optional(active->name) : std::nullopt;
  for (const Json& row : toucan::ProfileRows(config, name)) {
    // A command such as ["echo", KEY] is where the key comes from, and shows it.
    out.Write(g_keys.Apply(row.dump(-1, ' ', false, Json::error_handler_t::replace)));
  }
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
  batch.progress = isatty(STDERR_FILENO) == 1;
  batch.interrupted = [] { return g_signal != 0; };
  // Before the input is opened: opening a FIFO can block, and a signal then must wind down.
  InstallSignalHandlers(OnBatchSignal);
  int input = STDIN_FILENO;
  if (!o.batch_file.empty() && !NamesStandardInput(o.batch_file)) {
    input = OpenInput(o.batch_file, "the batch file");
    if (batch.progress) batch.total_lines = toucan::CountBatchLines(o.batch_file);
  }
  int status = 0;
  if (o.dry_run) {
    const std::string url = toucan::ResolveEndpointUrl(o.base_url, o.endpoint_path);
    status = toucan::RunBatchDryRun(input, batch, url, STDOUT_FILENO, stderr);
  } else {
    toucan::Client client(MakeClientOptions(o, std::move(key)));
    status = toucan::RunBatch(client, input, batch, STDOUT_FILENO, stderr);
  }
  if (g_signal != 0) status = 128 + g_signal;
  return status;
}

int Run(int argc, char** argv) {
  Parsed parsed;
  if (const auto done = ParseCommandLine(argc, argv, parsed)) return *done;
  if (parsed.cache_clear) return RunCacheClear();
  const toucan::Environment env = toucan::ProcessEnvironment();
  const toucan::Config config = toucan::LoadConfig(env);
  const auto profile_flag =
      parsed.given.count("--profile") > 0 ? std::optional(parsed.options.profile) : std::nullopt;
  const std::optional<toucan::Profile> profile = toucan::SelectProfile(config, profile_flag, env);
  if (profile && profile->api_key_env) g_keys.AddFromEnvironment(*profile->api_key_env);
  if (parsed.profiles) return RunProfiles(config, profile);
  if (profile) ApplyProfile(parsed, *profile);
  CheckModeFlags(parsed);
  const std::optional<toucan::Schema> schema = LoadSchema(parsed, profile);
  const toucan::TokenRequest request =
      BuildDefaultRequest(parsed, profile, schema ? &*schema : nullptr);
  // Input errors come before key errors. For batch the role and attributes are every line's
  // defaults, checked on their own; a single request is checked by building its body, once.
  Json body;
  if (parsed.batch) {
    toucan::CheckRequestDefaults(request);
  } else {
    body = toucan::BuildRequestBody(request);
    if (schema) schema->Check(request.attributes);
  }
  // --dry-run needs no key, but one that is configured is still read and checked; so is the CA
  // bundle, which a real run checks when it builds its client.
  ApiKey key = ReadApiKey(parsed.options);
  if (parsed.options.dry_run && !parsed.options.cacert.empty()) {
    toucan::CheckCaBundle(parsed.options.cacert);
  }
  if (key.key.empty() && !parsed.options.dry_run) {
    throw UsageError("no API key: set " + parsed.options.api_key_env +
                     " (or use --api-key-file); it is never taken from the command line");
  }
  if (parsed.batch) return RunBatchMode(parsed, request, std::move(key), schema);
  return RunSingle(parsed, body, std::move(key));
}

int RunAndReport(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const Error& e) {
    PrintError(e.what());
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
