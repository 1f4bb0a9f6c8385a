// The command line: flags → settings → a mode → exit code.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "batch.hpp"
#include "cache.hpp"
#include "cli.hpp"
#include "cli/completions.hpp"  // generated from completions/

extern char** environ;

namespace toucan::cli {
namespace {

volatile std::sig_atomic_t g_signal = 0;

// Batch: the first signal winds the loop down, a second ends the program at once; either way an
// api-key-command still running is stopped, with all it started.
void OnBatchSignal(int signal) {
  StopKeyCommand();
  if (g_signal != 0) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  g_signal = signal;
}

// Single mode: nothing half done is worth waiting for; leave no api-key-command and no
// half-written cache entry behind.
void OnSingleSignal(int signal) {
  StopKeyCommand();
  RemoveUnfinishedCacheEntry();
  _exit(128 + signal);
}

void InstallSignalHandlers(void (*handler)(int)) {
  struct sigaction action {};  // sa_flags 0: no SA_RESTART, so a blocking batch read gets EINTR
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(signal, &action, nullptr);
}

// A closed descriptor 0–2 would be taken by the next file or socket opened (libcurl's socketpair
// on stdout would swallow the token): /dev/null, opened the wrong way round, makes use fail.
void GuardStandardStreams() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);  // the lowest free descriptor: fd
  }
}

std::vector<std::string> g_blank;  // for a message: a variable set empty, as CI gives a lost secret

// An empty or blank TOUCAN_* variable counts as unset, whatever reads it later.
void DropBlankToucanVariables() {
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos || text.rfind("TOUCAN_", 0) != 0) continue;
    if (Trim(text.substr(eq + 1)).empty()) g_blank.emplace_back(text.substr(0, eq));
  }
  for (const auto& name : g_blank) unsetenv(name.c_str());
}

// Before the command line is parsed: CLI11's own messages may quote an argument.
void AddKeysOfCommandLine(int argc, char** argv) {
  g_keys.AddFromEnvironment("TOUCAN_API_KEY");
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--api-key-env" && i + 1 < argc) g_keys.AddFromEnvironment(argv[i + 1]);
    if (arg.rfind("--api-key-env=", 0) == 0) g_keys.AddFromEnvironment(std::string(arg.substr(14)));
  }
}

ClientOptions MakeClientOptions(const Options& o, ApiKey key) {
  const auto ms = [](double seconds) {
    return std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000.0)));
  };
  return {.base_url = o.base_url,
          .endpoint_path = o.endpoint_path,
          .api_key = std::move(key.key),
          .api_key_source = std::move(key.source),
          .timeout = ms(o.timeout),
          .connect_timeout = ms(o.connect_timeout),
          .retries = o.retries,
          .ca_bundle = o.cacert,
          .log = o.verbose ? PrintError : nullptr};
}

int RunSingle(const Parsed& parsed, const Json& body, ApiKey key) {
  const Options& o = parsed.options;
  if (o.dry_run) {
    const std::string request =
        DryRunRequest(ResolveEndpointUrl(o.base_url, o.endpoint_path), body).dump();
    const Redactor redactor(key.key);
    LineWriter(STDOUT_FILENO)
        .Write(g_keys.ApplyToJson(request, key.key.empty() ? nullptr : &redactor));
    return 0;
  }
  ResultPrinter printer(o.output, ProcessEnvironment());
  std::optional<TokenCache> cache;
  if (parsed.Given("--min-ttl") && !o.cache) Warn("--min-ttl does nothing without --cache");
  if (o.cache && !o.no_cache) {
    auto opened = TokenCache::Open(ProcessEnvironment());
    if (!opened.cache) Warn(opened.warning);
    cache = std::move(opened.cache);
  }
  std::string entry;
  if (cache) {
    entry = TokenCache::EntryName(ResolveEndpointUrl(o.base_url, o.endpoint_path), key.key,
                                  body.dump());
    const auto min_ttl =
        o.min_ttl < 0 ? std::nullopt : std::optional(std::chrono::seconds(o.min_ttl));
    const CacheLookup found = cache->Lookup(entry, Redactor(key.key), min_ttl);
    if (o.verbose) {
      PrintError(found.hit ? "cache hit (" + found.reason + ")" : "cache miss: " + found.reason);
    }
    if (found.hit) {
      printer.Print(*found.hit);
      return 0;
    }
  }
  Client client(MakeClientOptions(o, std::move(key)));
  const TokenResponse response = client.Mint(body);
  printer.Check(response);  // an unusable token is refused before it is cached
  if (!response.expires_in) {
    Warn("the reply has no usable expiresIn, so the expiry is unknown (null)");
  }
  if (cache && o.min_ttl >= 0 && response.expires_in && *response.expires_in <= o.min_ttl) {
    Warn("the token lives " + std::to_string(response.expires_in.value_or(0)) +
         " s, no more than --min-ttl " + std::to_string(o.min_ttl) + ": it will never be reused");
  }
  if (cache) {
    const CacheStore stored = cache->Store(entry, response);
    if ((o.verbose || stored.warn) && !stored.stored) {
      PrintError((stored.warn ? "warning: not cached: " : "not cached: ") + stored.reason);
    }
  }
  printer.Print(response);
  return 0;
}

int RunProfiles(const Config& config, const std::optional<Profile>& active) {
  for (const Profile& profile : config.profiles) {
    if (profile.api_key_env) g_keys.AddFromEnvironment(*profile.api_key_env);
  }
  LineWriter out(STDOUT_FILENO);
  for (const Profile& profile : config.profiles) {  // WriteRow redacts: a setting may hold a key
    WriteRow(out, {{"name", profile.name},
                   {"active", active && active->name == profile.name},
                   {"settings", profile.settings}});
  }
  return 0;
}

int RunCompletion(const std::string& shell) {
  std::string_view script = shell == "bash"  ? kBashCompletion
                            : shell == "zsh" ? kZshCompletion
                                             : kFishCompletion;
  LineWriter(STDOUT_FILENO).Write(script.substr(0, script.find_last_not_of('\n') + 1));
  return 0;
}

int RunCacheClear(bool dry_run) {
  if (dry_run) throw UsageError("cache clear has no dry run: it removes every cached token");
  auto opened = TokenCache::Open(ProcessEnvironment());
  if (!opened.cache) throw UsageError(opened.warning);
  const std::size_t removed = opened.cache->Clear();
  PrintError("removed " + std::to_string(removed) + " cached token" + (removed == 1 ? "" : "s") +
             " from " + opened.cache->folder());
  return 0;
}

int RunBatchMode(const Parsed& parsed, const TokenRequest& defaults, ApiKey key,
                 const std::optional<Schema>& schema) {
  const Options& o = parsed.options;
  BatchOptions batch;
  batch.defaults = defaults;
  batch.schema = schema ? &*schema : nullptr;
  batch.concurrency = o.concurrency, batch.keep_going = o.keep_going;
  batch.csv = o.csv || (o.batch_file.size() > 4 && AsciiLower(o.batch_file).ends_with(".csv"));
  batch.progress = !o.quiet && isatty(STDERR_FILENO) == 1;
  batch.interrupted = [] { return g_signal != 0; };
  const int input = o.batch_file.empty() || NamesStandardInput(o.batch_file)
                        ? STDIN_FILENO
                        : OpenInput(o.batch_file, "the batch file");
  batch.url = ResolveEndpointUrl(o.base_url, o.endpoint_path);
  std::optional<Client> client;  // none: a dry run, or interrupted before the key was read
  if (!o.dry_run && g_signal == 0) client.emplace(MakeClientOptions(o, std::move(key)));
  const int status = RunBatch(client ? &*client : nullptr, input, batch, STDOUT_FILENO, stderr);
  return g_signal != 0 ? 128 + g_signal : status;
}

// Every problem on a line of its own, so that one run shows all there is to fix.
void ReportSchemaProblems(const Schema& schema, const Json& attributes) {
  const std::vector<std::string> problems = schema.Problems(attributes);
  for (std::size_t i = 0; i + 1 < problems.size(); ++i) PrintError(UsageError(problems[i]).what());
  if (!problems.empty()) throw UsageError(problems.back());
}

int RunMint(const Parsed& parsed, const TokenRequest& request,
            const std::optional<Schema>& schema) {
  const Options& o = parsed.options;
  // Input errors come before key errors; batch defaults are checked on their own.
  Json body;
  if (parsed.command == "batch") {
    CheckRequestDefaults(request);
    // Before the key is read (an api-key-command may take a while) and the input is opened
    // (opening a FIFO can block): a signal then must still wind the batch down.
    InstallSignalHandlers(OnBatchSignal);
  } else {
    body = BuildRequestBody(request);
    if (schema) ReportSchemaProblems(*schema, request.attributes);
  }
  // --dry-run needs no key, but a configured one is still read and checked, as is the CA bundle.
  ApiKey key;
  try {
    key = ReadApiKey(o);
  } catch (const Error& e) {  // interrupted, the batch still reports the lines not attempted
    if (parsed.command != "batch" || e.kind() != ErrorKind::kInterrupted) throw;
  }
  if (o.dry_run && !o.cacert.empty()) CheckCaBundle(o.cacert);
  if (key.key.empty() && !o.dry_run && g_signal == 0) {
    // A profile's own variable replaces TOUCAN_API_KEY: say so, or the key seems to vanish.
    const std::string origin = parsed.Source("--api-key-env");
    const bool blank =
        std::getenv(o.api_key_env.c_str()) || std::ranges::count(g_blank, o.api_key_env);
    throw UsageError(
        "no API key: " +
        (blank ? o.api_key_env + " is empty (in CI, a secret this job cannot see?): set it"
               : "set " + o.api_key_env) +
        (origin.rfind("profile ", 0) == 0
             ? " (named by " + origin + "; TOUCAN_API_KEY is not used with it)"
             : " (or use --api-key-file); it is never taken from the command line"));
  }
  if (parsed.command == "batch") return RunBatchMode(parsed, request, std::move(key), schema);
  return RunSingle(parsed, body, std::move(key));
}

int Run(int argc, char** argv) {
  Parsed parsed;
  if (const auto done = ParseCommandLine(argc, argv, parsed)) return *done;
  g_quiet = parsed.options.quiet;
  if (parsed.command == "completion") return RunCompletion(parsed.options.completion_shell);
  if (parsed.command == "cache") return RunCacheClear(parsed.options.dry_run);
  const Environment env = ProcessEnvironment();
  const Config config = LoadConfig(env);
  const auto profile_flag =
      parsed.Given("--profile") ? std::optional(parsed.options.profile) : std::nullopt;
  const std::optional<Profile> profile = SelectProfile(config, profile_flag, env);
  if (profile && profile->api_key_env) g_keys.AddFromEnvironment(*profile->api_key_env);
  if (parsed.command == "profiles") {
    if (config.path.empty()) Warn("no config file at " + LocateConfig(env).path + " to list");
    return RunProfiles(config, profile);
  }
  ApplyEnvironmentAndProfile(parsed, profile, env);
  const std::optional<Schema> schema = LoadSchema(parsed, profile);
  AttributeLayers layers;
  const TokenRequest request =
      BuildDefaultRequest(parsed, profile, schema ? &*schema : nullptr, layers);
  const auto rows = [&] { return OriginRows(parsed, config, profile, request.attributes, layers); };
  if (parsed.command != "config") {
    if (parsed.options.dry_run && parsed.options.verbose) PrintOrigins(rows());
    return RunMint(parsed, request, schema);
  }
  LineWriter out(STDOUT_FILENO);
  for (const Json& row : rows()) WriteRow(out, row);
  if (!parsed.base_url_conflict.empty()) throw UsageError(parsed.base_url_conflict);
  if (schema) {
    ReportSchemaProblems(*schema, request.attributes);  // the verdict, as a mint's
    if (!g_quiet) PrintError("the schema passes these attributes");
  }
  return 0;
}

}  // namespace
}  // namespace toucan::cli

int main(int argc, char** argv) {
  using namespace toucan::cli;
  GuardStandardStreams();
  InstallSignalHandlers(OnSingleSignal);
  DropBlankToucanVariables();
  AddKeysOfCommandLine(argc, argv);
  int status = 1;
  try {
    status = Run(argc, argv);
  } catch (const toucan::Error& e) {
    PrintError(WithHint(e));
    status = e.kind() == toucan::ErrorKind::kInterrupted && g_signal != 0 ? 128 + g_signal
                                                                          : ExitCode(e.kind());
  } catch (const std::exception& e) {
    PrintError(std::string("internal error: ") + e.what() + " (please report this)");
  }
#if defined(__SANITIZE_ADDRESS__)
  return status;  // exit normally, so LeakSanitizer sees what is left on the heap
#else
  // Every result is written and checked by now; the exit-time teardown of libcurl, OpenSSL and
  // the C++ runtime only frees memory, and is a measurable part of a one-token run.
  _exit(status);
#endif
}
