// The command line as CLI11 reads it, and its mistakes said in the user's words.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "cli.hpp"

namespace toucan::cli {
namespace {

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

bool AllDigits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// Plain decimal digits only: "010" is ten (not octal), "0x10" is refused. Leading zeros are
// removed here because CLI11 would otherwise read "010" as octal.
CLI::Validator DecimalInteger(long min, long max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        const std::string bad = "must be a whole number from " + std::to_string(min) + " to " +
                                std::to_string(max) + " in plain digits, got '" + text + "'";
        if (!AllDigits(text)) return bad;
        text.erase(0, std::min(text.find_first_not_of('0'), text.size() - 1));
        return text.size() > 9 || std::stol(text) < min || std::stol(text) > max ? bad : "";
      },
      "");
}

// A decimal number of seconds: digits with an optional fraction, no sign, spaces or units.
CLI::Validator PositiveSeconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto dot = text.find('.');
        const bool digits = AllDigits(text.substr(0, dot)) &&
                            (dot == std::string::npos || AllDigits(text.substr(dot + 1)));
        const double value = digits ? std::strtod(text.c_str(), nullptr) : 0;
        if (value > 0 && value <= 86400) return {};
        return "must be a number of seconds greater than 0 (at most 86400), such as 5 or 2.5, "
               "got '" + text + "'";
      },
      "");
}

// "a, b, c".
std::string Joined(const std::vector<std::string>& words) {
  std::string list;
  for (const auto& word : words) list += (list.empty() ? "" : ", ") + word;
  return list;
}

// One of `words`, with a suggestion for a near miss (CLI11's IsMember quotes its own set syntax).
CLI::Validator OneOf(std::vector<std::string> words) {
  return CLI::Validator(
      [words](std::string& text) -> std::string {
        if (std::find(words.begin(), words.end(), text) != words.end()) return {};
        return "'" + Excerpt(text, 100) + "' is not one of " + Joined(words) +
               DidYouMean(text, words);
      },
      "");
}

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
    return std::string("toucan-token ") + kVersion + "\n" + LibraryVersions();
  });
  app->option_defaults()->always_capture_default();
  AddRequestOptions(*app, o);
  AddConnectionOptions(*app, o);
  app->add_option(
         "-o,--output", o.output,
         std::string("Output format: ") + kOutputFormatList + " (env TOUCAN_OUTPUT)")
      ->check(OneOf({kOutputFormats.begin(), kOutputFormats.end()}))
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
      ->check(OneOf({"bash", "zsh", "fish"}))
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

// The options that apply: the main command's and those of the subcommands given.
std::vector<const CLI::Option*> OptionsInUse(const CLI::App& app) {
  std::vector<const CLI::App*> apps{&app};
  std::vector<const CLI::Option*> options;
  for (std::size_t i = 0; i < apps.size(); ++i) {
    for (const CLI::App* sub : apps[i]->get_subcommands()) apps.push_back(sub);
    for (const CLI::Option* option : apps[i]->get_options()) options.push_back(option);
  }
  return options;
}

std::string UnknownOption(const std::string& arg, const CLI::App& app) {
  std::vector<std::string> names{"--help"};
  for (const CLI::Option* option : OptionsInUse(app)) {
    for (const auto& l : option->get_lnames()) names.push_back("--" + l);
  }
  const std::string name = arg.substr(0, arg.find('='));
  return "unknown option '" + Excerpt(name, 100) + "'" + DidYouMean(name, names);
}

// A word where a command or a value was expected.
std::string UnexpectedWord(const std::string& word, const CLI::App& app) {
  const std::string shown = "'" + Excerpt(word, 100) + "'";
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
  return message + ": the commands are " + Joined(commands) + " (a distinct id goes after -u)";
}

// CLI11's own words never reach the user: each parse error is said again, naming the option.
std::string ExplainParseError(const CLI::ParseError& e, const CLI::App& app) {
  const auto extras = app.remaining(true);
  const CLI::App* cache = app.get_subcommand("cache");
  const bool cache_alone = cache->parsed() && !cache->get_subcommand("clear")->parsed();
  const bool extra = dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr;
  if (extra || cache_alone) {
    for (const auto& arg : extras) {
      if (extra && arg.size() > 1 && arg.front() == '-') return UnknownOption(arg, app);
    }
    if (!extras.empty()) return UnexpectedWord(extras.front(), app);
    if (cache_alone) return "cache needs a command: toucan-token cache clear";
  }
  const std::string what = e.what();
  for (const CLI::Option* option : OptionsInUse(app)) {
    const bool single = option->get_items_expected_max() == 1 && !option->get_lnames().empty();
    if (single && option->count() > 1) return OptionName(*option) + " given twice";
    if (what.rfind(option->get_name() + ": ", 0) != 0) continue;
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
      return OptionName(*option) + " needs a value (" + option->get_type_name() + ")";
    }
    return OptionName(*option) + what.substr(option->get_name().size());  // our validators
  }
  return what;
}

// `-u --dry-run` would take "--dry-run" for the id and mint for real: a value that names an
// option of the command line is a value the user forgot.
void RefuseOptionsTakenAsValues(const CLI::App& app) {
  const auto options = OptionsInUse(app);
  for (const CLI::Option* option : options) {
    for (const std::string& value : option->results()) {
      const std::string name = value.substr(0, value.find('='));
      if (value.size() < 2 || value.front() != '-' ||
          std::none_of(options.begin(), options.end(),
                       [&name](const CLI::Option* other) { return other->check_name(name); })) {
        continue;
      }
      throw UsageError(OptionName(*option) + " needs a value, but the next word is the option " +
                       name + " (see toucan-token --help)");
    }
  }
}

// The options given, by a flag, and the subcommand.
void RecordGiven(const CLI::App& app, Parsed& parsed) {
  for (const CLI::Option* option : OptionsInUse(app)) {
    if (option->count() == 0 || option->get_lnames().empty()) continue;
    parsed.origin["--" + option->get_lnames().front()] = "flag";
  }
  const auto commands = app.get_subcommands();
  parsed.command = commands.empty() ? "" : commands.front()->get_name();
  parsed.batch = parsed.command == "batch";
  parsed.config = parsed.command == "config";
}

}  // namespace

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
    const auto commands = app->get_subcommands();
    const std::string help =
        commands.empty() ? "" : " " + commands.front()->get_name();
    throw UsageError(ExplainParseError(e, *app) + " (see toucan-token" + help + " --help)");
  }
  RefuseOptionsTakenAsValues(*app);
  RecordGiven(*app, parsed);
  return std::nullopt;
}

}  // namespace toucan::cli
