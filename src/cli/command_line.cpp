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

// Short: the manual page is the complete reference.
constexpr const char* kFooter = R"HELP(Examples:
  export TOUCAN_API_KEY=...                 # never on the command line
  toucan-token -u u1 -a region=EU           # {"token": ..., "expiresIn": ..., "expiresAt": ...}
  toucan-token -u u1 -a year:=2024 -o token
  toucan-token batch users.jsonl --concurrency 16 > tokens.jsonl

Exit status: 0 done, 1 internal error, 2 usage or input error, 3 credentials rejected,
4 request rejected, 5 service unavailable, 6 network failure, 7 bad response,
8 output failed, 130/143 interrupted. The manual, toucan-token(1), has the details.)HELP";

constexpr const char* kBatchFooter =
    R"HELP(Each line is {"distinctId": ...} (role, attributes, permissions too), "id", or a bare id;
CSV (--csv, or a FILE named *.csv) has a header row naming a distinctId column.
The options of toucan-token --help are every line's defaults, except -u, -o and --cache.
Exit status: 0 when every line was minted, else the status of the first failed line.)HELP";

bool AllDigits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// Plain decimal digits only: CLI11 would read "010" as octal and accept "0x10".
CLI::Validator DecimalInteger(long min, long max) {
  return {[min, max](std::string& text) -> std::string {
            const std::string bad = "must be a whole number from " + std::to_string(min) + " to " +
                                    std::to_string(max) + " in plain digits, got '" + text + "'";
            if (!AllDigits(text)) return bad;
            text.erase(0, std::min(text.find_first_not_of('0'), text.size() - 1));
            return text.size() > 9 || std::stol(text) < min || std::stol(text) > max ? bad : "";
          },
          ""};
}

// Digits with an optional fraction: no sign, exponent, spaces or units.
CLI::Validator PositiveSeconds() {
  return {[](std::string& text) -> std::string {
            const auto dot = text.find('.');
            const bool digits = AllDigits(text.substr(0, dot)) &&
                                (dot == std::string::npos || AllDigits(text.substr(dot + 1)));
            const double value = digits ? std::strtod(text.c_str(), nullptr) : 0;
            const std::string rule = "must be a number of seconds greater than 0 (at most 86400), ";
            return value > 0 && value <= 86400 ? "" : rule + "such as 5 or 2.5, got '" + text + "'";
          },
          ""};
}

// CLI11's IsMember would quote its own set syntax and suggest nothing.
CLI::Validator OneOf(std::vector<std::string> words) {
  return {[words](std::string& text) -> std::string {
            if (std::find(words.begin(), words.end(), text) != words.end()) return {};
            return "'" + Excerpt(text, 100) + "' is not one of " + CLI::detail::join(words, ", ") +
                   DidYouMean(text, words);
          },
          ""};
}

// An option and the name of its value in the help: `--timeout SECONDS`.
template <class T>
CLI::Option* Add(CLI::App& app, const char* name, T& value, const std::string& help,
                 const char* type) {
  return app.add_option(name, value, help)->type_name(type);
}

void AddOptions(CLI::App& app, Options& o) {
  Add(app, "-u,--distinct-id", o.distinct_id, "The end user's unique id", "ID");
  Add(app, "-r,--role", o.role, "The end user's role", "ROLE");
  Add(app, "-a,--attribute", o.attribute_args, "KEY=VALUE or KEY:=JSON; repeatable",
      "KEY=VALUE|KEY:=JSON")
      ->default_str("")
      ->allow_extra_args(false);
  Add(app, "--attributes", o.attributes_input, "Attributes object; -a applies over it",
      "JSON|@FILE|-");
  Add(app, "--permissions", o.permissions_input, "Permissions object", "JSON|@FILE|-");
  Add(app, "--base-url", o.base_url, "Instance URL (env TOUCAN_BASE_URL)", "URL");
  Add(app, "--endpoint-path", o.endpoint_path, "Path below the base URL", "PATH");
  Add(app, "--api-key-env", o.api_key_env, "Variable holding the API key", "NAME");
  Add(app, "--api-key-file", o.api_key_file, "API key file (- for stdin)", "PATH");
  Add(app, "--timeout", o.timeout, "Limit for one attempt", "SECONDS")->check(PositiveSeconds());
  Add(app, "--connect-timeout", o.connect_timeout, "Limit for connecting", "SECONDS")
      ->check(PositiveSeconds());
  Add(app, "--retries", o.retries, "Extra attempts on transient failures", "N")
      ->transform(DecimalInteger(0, 100));
  Add(app, "--cacert", o.cacert, "CA bundle (env TOUCAN_CA_BUNDLE)", "FILE");
  Add(app, "-o,--output", o.output, std::string("Format: ") + kOutputFormatList, "FORMAT")
      ->check(OneOf({kOutputFormats.begin(), kOutputFormats.end()}));
  app.add_flag("--dry-run", o.dry_run, "Print the request instead of sending it");
  Add(app, "--profile", o.profile, "Profile of config.toml (env TOUCAN_PROFILE)", "NAME");
  Add(app, "--schema", o.schema, "Attribute schema (JSON or TOML)", "FILE");
  app.add_flag("--cache", o.cache, "Reuse a cached token (single mode)");
  app.add_flag("--no-cache", o.no_cache, "Do not use the token cache");
  Add(app, "--min-ttl", o.min_ttl, "Life a cached token needs left", "SECONDS")
      ->transform(DecimalInteger(0, 31536000))
      ->default_str("");
  app.add_flag("-v,--verbose", o.verbose, "Diagnostics on stderr");
  app.add_flag("-q,--quiet", o.quiet, "No warnings or progress on stderr");
}

void AddSubcommands(CLI::App& app, Options& o) {
  app.add_subcommand("profiles", "List the profiles of config.toml")->fallthrough();
  app.add_subcommand("config", "Show each setting of a mint and its source")->fallthrough();
  CLI::App* cache = app.add_subcommand("cache", "The token cache: toucan-token cache clear");
  cache->require_subcommand(1)->fallthrough();
  cache->add_subcommand("clear", "Remove every cached token")->fallthrough();
  CLI::App* batch = app.add_subcommand("batch", "Mint one token per line of FILE");
  batch->fallthrough()->footer(kBatchFooter);
  Add(*batch, "file", o.batch_file, "JSON Lines or CSV; - or none: stdin", "FILE|-");
  Add(*batch, "--concurrency", o.concurrency, "Requests in flight", "N")
      ->transform(DecimalInteger(1, 256));
  batch->add_flag("--csv", o.csv, "Read CSV");
  batch->add_flag("--keep-going", o.keep_going, "Send every line even after a fatal failure");
  CLI::App* completion =
      app.add_subcommand("completion", "Print the bash, zsh or fish completion script");
  Add(*completion, "shell", o.completion_shell, "bash, zsh or fish", "SHELL")
      ->required()
      ->check(OneOf({"bash", "zsh", "fish"}));
}

// "-u/--distinct-id", as the help writes an option.
std::string OptionName(const CLI::Option& option) {
  std::string name = option.get_name(false, true);
  std::replace(name.begin(), name.end(), ',', '/');
  return name;
}

// The options of the main command and of the subcommands given (or all), each with its command.
std::vector<std::pair<const CLI::Option*, const CLI::App*>> OptionsInUse(const CLI::App& app,
                                                                         bool all = false) {
  std::vector<const CLI::App*> apps{&app};
  std::vector<std::pair<const CLI::Option*, const CLI::App*>> options;
  for (std::size_t i = 0; i < apps.size(); ++i) {
    for (const CLI::App* sub : apps[i]->get_subcommands({})) {
      if (all || sub->parsed()) apps.push_back(sub);
    }
    for (const CLI::Option* option : apps[i]->get_options()) options.emplace_back(option, apps[i]);
  }
  return options;
}

std::string UnknownOption(const std::string& arg, const CLI::App& app) {
  const std::string name = arg.substr(0, arg.find('='));
  std::vector<std::string> names;
  for (const auto& [option, owner] : OptionsInUse(app, true)) {
    if (owner != &app && name.size() > 2 && option->check_lname(name.substr(2))) {
      return "option '" + name + "' belongs to '" + owner->get_name() + "': write it after '" +
             owner->get_name() + "'";  // `--keep-going batch f`, `--csv f`: known, misplaced
    }
    if (owner != &app && !owner->parsed()) continue;
    for (const auto& l : option->get_lnames()) names.push_back("--" + l);
  }
  return "unknown option '" + Excerpt(name, 100) + "'" + DidYouMean(name, names);
}

// A word where a command or a value was expected.
std::string UnexpectedWord(const std::string& word, const CLI::App& app) {
  const std::string shown = "'" + Excerpt(word, 100) + "'";
  if (app.get_subcommand("cache")->parsed()) {
    return "unknown cache command " + shown + ": the only one is clear (toucan-token cache clear)";
  }
  if (app.get_subcommand("batch")->parsed()) {
    return "batch reads one FILE; " + shown + " is one too many";
  }
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands({})) commands.push_back(sub->get_name());
  std::string message = "unknown command " + shown + DidYouMean(word, commands);
  if (message.back() == ')') return message;
  if (word.find_first_of("./") != std::string::npos) {
    return message + ": to mint a token per line of a file, write batch before it";
  }
  const auto& attributes = app.get_option("--attribute")->results();
  if (!attributes.empty() && attributes.back().find('=') == std::string::npos) {
    return message + ": an attribute is one word, -a " + Excerpt(attributes.back(), 100) + "=" +
           Excerpt(word, 100);
  }
  return message + ": the commands are " + CLI::detail::join(commands, ", ") +
         " (a distinct id goes after -u)";
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
  for (const auto& [option, owner] : OptionsInUse(app)) {
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

// The options given, by a flag, and the subcommand. `-u --dry-run` would take "--dry-run" for
// the id and mint for real: a value that names an option is a value the user forgot.
void RecordGiven(const CLI::App& app, Parsed& parsed) {
  const auto options = OptionsInUse(app);
  for (const auto& [option, owner] : options) {
    for (const std::string& value : option->results()) {
      const std::string name = value.substr(0, value.find('='));
      if (value.size() >= 2 && value.front() == '-' &&
          std::any_of(options.begin(), options.end(),
                      [&name](const auto& other) { return other.first->check_name(name); })) {
        throw UsageError(OptionName(*option) + " needs a value, but the next word is the option " +
                         name + " (see toucan-token --help)");
      }
    }
    if (option->count() > 0 && !option->get_lnames().empty()) {
      parsed.origin["--" + option->get_lnames().front()] = "flag";
    }
  }
  const auto commands = app.get_subcommands();
  parsed.command = commands.empty() ? "" : commands.front()->get_name();
}

}  // namespace

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
  CLI::App app("Mint a Toucan embed token and print it.", "toucan-token");
  app.footer(kFooter);
  app.set_version_flag("--version", [] {
    return std::string("toucan-token ") + kVersion + "\n" + LibraryVersions();
  });
  app.option_defaults()->always_capture_default();
  AddOptions(app, parsed.options);
  AddSubcommands(app, parsed.options);
  if (argc <= 1) {  // as git and gh do: the help, on stderr, and a usage status
    std::cerr << app.help();
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      const int status = app.exit(e);
      if (!std::cout.flush() || std::fflush(stdout) != 0) {
        throw Error(ErrorKind::kOutput,
                    std::string("cannot write to standard output: ") + std::strerror(errno));
      }
      return status;
    }
    // Point at the help that lists the option at fault: a subcommand's own where one was given.
    const auto commands = app.get_subcommands();
    const std::string help = commands.empty() ? "" : " " + commands.front()->get_name();
    throw UsageError(ExplainParseError(e, app) + " (see toucan-token" + help + " --help)");
  }
  RecordGiven(app, parsed);
  return std::nullopt;
}

}  // namespace toucan::cli
