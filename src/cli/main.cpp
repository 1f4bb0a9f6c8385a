// The command line: flags → library calls → output format → exit code.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "toucan/batch.hpp"
#include "toucan/token.hpp"

namespace {

using toucan::Error;
using toucan::ErrorKind;
using toucan::Json;
using toucan::UsageError;

constexpr const char* kFooter = R"HELP(Examples:
  export TOUCAN_API_KEY=...                 # never on the command line
  toucan-token -u u1 -a region=EU           # {"token": ..., "expiresIn": ..., "expiresAt": ...}
  toucan-token -u u1 -a year:=2024 -a 'groups:=["a","b"]' -o token
  toucan-token -u u1 --attributes @attrs.json --dry-run
  toucan-token -u u1 --base-url https://bi.example.com/toucan --api-key-file key.txt
  eval "$(toucan-token -u ci-bot -o env)"   # sets TOUCAN_TOKEN, TOUCAN_TOKEN_EXPIRES_AT
  toucan-token batch users.jsonl --concurrency 16 > tokens.jsonl

Exit status:
  0  token printed (or --dry-run printed)     4  request rejected (other 4xx, redirect)
  1  internal error                           5  service unavailable (500; 429/502/503/504 after retries)
  2  usage or input error                     6  network failure (DNS, connect, TLS, timeout)
  3  credentials rejected (401/403)           7  bad response (not JSON, no token, over 1 MiB)

The API key is read from TOUCAN_API_KEY (see --api-key-env, --api-key-file), never from a flag.)HELP";

struct Options {
  std::string distinct_id;
  std::string role{toucan::kDefaultRole};
  std::vector<std::string> attribute_args;
  std::string attributes_input;
  std::string permissions_input;
  std::string base_url;
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
  // batch
  std::string batch_file;
  int concurrency = 8;
};

void PrintError(const std::string& message) {
  std::string line = "toucan-token: " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void WriteStdout(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    throw Error(ErrorKind::kInternal,
                std::string("cannot write to standard output: ") + std::strerror(errno));
  }
}

std::string ReadStream(std::istream& in) {
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ReadFile(const std::string& path, const std::string& what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw UsageError("cannot read " + what + " file '" + path + "': " + std::strerror(errno));
  }
  std::string text = ReadStream(file);
  if (file.bad()) throw UsageError("cannot read " + what + " file '" + path + "'");
  return text;
}

// JSON|@FILE|- → a JSON object.
Json ReadJsonObjectInput(const std::string& input, const std::string& flag) {
  if (input == "-") {
    return toucan::ParseJsonObject(ReadStream(std::cin), flag + " (standard input)");
  }
  if (!input.empty() && input.front() == '@') {
    const std::string path = input.substr(1);
    if (path.empty()) throw UsageError(flag + " @FILE needs a file name");
    return toucan::ParseJsonObject(ReadFile(path, flag), flag + " file '" + path + "'");
  }
  return toucan::ParseJsonObject(input, flag);
}

bool IsEnvName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// The key, checked, and a description of where it came from; empty key when none is configured.
std::pair<std::string, std::string> ReadApiKey(const Options& options) {
  if (!options.api_key_file.empty()) {
    std::string text;
    const std::string source = options.api_key_file == "-"
                                   ? "standard input"
                                   : "--api-key-file '" + options.api_key_file + "'";
    if (options.api_key_file == "-") {
      std::getline(std::cin, text);
    } else {
      text = ReadFile(options.api_key_file, "API key");
      text = text.substr(0, text.find('\n'));
    }
    std::string key(toucan::Trim(text));
    toucan::ValidateApiKey(key, source);
    return {key, source};
  }
  if (!IsEnvName(options.api_key_env)) {
    throw UsageError("--api-key-env '" + options.api_key_env +
                     "' is not an environment variable name");
  }
  const char* value = std::getenv(options.api_key_env.c_str());
  if (value == nullptr) return {"", options.api_key_env};
  const std::string key(toucan::Trim(value));
  toucan::ValidateApiKey(key, options.api_key_env);  // set but empty or malformed: say so
  return {key, options.api_key_env};
}

std::chrono::milliseconds ToMilliseconds(double seconds) {
  return std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000.0)));
}

// Refuses characters a shell would interpret, since `-o env` output is meant for eval.
bool IsShellSafe(const std::string& text) {
  for (const char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("-._~+/=:", c) == nullptr) {
      return false;
    }
  }
  return true;
}

std::string FormatResult(const toucan::TokenResponse& response, const std::string& format) {
  if (format == "token") return response.token + "\n";
  if (format == "header") return "Authorization: Bearer " + response.token + "\n";
  if (format == "env") {
    if (!IsShellSafe(response.token)) {
      throw Error(ErrorKind::kBadResponse,
                  "the token holds characters a shell would interpret, so it is not printed for "
                  "eval; use -o json or -o token");
    }
    return "TOUCAN_TOKEN=" + response.token + "\nTOUCAN_TOKEN_EXPIRES_AT=" +
           (response.expires_at ? toucan::FormatRfc3339(*response.expires_at) : std::string()) +
           "\n";
  }
  return toucan::ResponseToJson(response).dump() + "\n";
}

void CheckStdinUse(const Options& options, bool batch) {
  std::vector<std::string> readers;
  if (options.attributes_input == "-") readers.emplace_back("--attributes");
  if (options.permissions_input == "-") readers.emplace_back("--permissions");
  if (options.api_key_file == "-") readers.emplace_back("--api-key-file");
  if (batch && (options.batch_file.empty() || options.batch_file == "-")) {
    readers.emplace_back("the batch input");
  }
  if (readers.size() > 1) {
    throw UsageError("standard input is named by both " + readers[0] + " and " + readers[1] +
                     "; only one input may read it");
  }
}

toucan::ClientOptions MakeClientOptions(const Options& options, std::string key,
                                        std::string key_source) {
  toucan::ClientOptions client;
  client.base_url = options.base_url;
  client.endpoint_path = options.endpoint_path;
  client.api_key = std::move(key);
  client.api_key_source = std::move(key_source);
  client.timeout = ToMilliseconds(options.timeout);
  client.connect_timeout = ToMilliseconds(options.connect_timeout);
  client.retries = options.retries;
  client.ca_bundle = options.cacert;
  if (options.verbose) client.log = [](const std::string& line) { PrintError(line); };
  return client;
}

CLI::Validator PositiveSeconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(value) || value <= 0 ||
            value > 86400) {
          return "must be a number of seconds greater than 0 (at most 86400), got '" + text + "'";
        }
        return {};
      },
      "");
}

int Run(int argc, char** argv) {
  Options options;
  CLI::App app{"Mint a Toucan embed token and print it.", "toucan-token"};
  app.footer(kFooter);
  app.set_version_flag("--version", std::string("toucan-token ") + toucan::kVersion);
  app.option_defaults()->always_capture_default();

  app.add_option("-u,--distinct-id", options.distinct_id, "The end user's unique id (required)")
      ->type_name("ID");
  app.add_option("-r,--role", options.role, "The end user's role")->type_name("ROLE");
  app.add_option("-a,--attribute", options.attribute_args,
                 "One attribute: KEY=VALUE (a string) or KEY:=JSON (typed); repeatable")
      ->type_name("KEY=VALUE|KEY:=JSON")
      ->default_str("")
      ->allow_extra_args(false);
  app.add_option("--attributes", options.attributes_input,
                 "The whole attributes object: JSON, @FILE or - (stdin); -a applies over it")
      ->type_name("JSON|@FILE|-");
  app.add_option("--permissions", options.permissions_input,
                 "The permissions object, passed through: JSON, @FILE or -")
      ->type_name("JSON|@FILE|-");
  app.add_option("--base-url", options.base_url,
                 "Instance URL (env TOUCAN_BASE_URL; default https://toucanai.cloud)")
      ->type_name("URL");
  app.add_option("--endpoint-path", options.endpoint_path, "Path below the base URL")
      ->type_name("PATH");
  app.add_option("--api-key-env", options.api_key_env,
                 "Environment variable that holds the API key")
      ->type_name("NAME");
  app.add_option("--api-key-file", options.api_key_file,
                 "Read the API key from a file's first line (- for stdin)")
      ->type_name("PATH");
  app.add_option("-o,--output", options.output, "Output format: json, token, header or env")
      ->check(CLI::IsMember({"json", "token", "header", "env"}).description(""))
      ->type_name("FORMAT");
  app.add_option("--timeout", options.timeout, "Limit for one attempt, connection included")
      ->check(PositiveSeconds())
      ->type_name("SECONDS");
  app.add_option("--connect-timeout", options.connect_timeout, "Limit for connecting")
      ->check(PositiveSeconds())
      ->type_name("SECONDS");
  app.add_option("--retries", options.retries, "Extra attempts on transient failures")
      ->check(CLI::Range(0, 100).description(""))
      ->type_name("N");
  app.add_option("--cacert", options.cacert,
                 "CA bundle to trust (env TOUCAN_CA_BUNDLE; default: the system store)")
      ->type_name("FILE");
  app.add_flag("--dry-run", options.dry_run, "Print the request that would be sent; send nothing");
  app.add_flag("-v,--verbose", options.verbose, "Progress and diagnostics on stderr");

  CLI::App* batch = app.add_subcommand(
      "batch", "Mint one token per line of FILE (JSON Lines; - or none for stdin)");
  batch->fallthrough();
  batch->add_option("file", options.batch_file, "Input: JSON Lines, one user per line")
      ->type_name("FILE|-");
  batch->add_option("--concurrency", options.concurrency, "Requests in flight")
      ->check(CLI::Range(1, 256).description(""))
      ->type_name("N");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    throw UsageError(std::string(e.what()) + " (see toucan-token --help)");
  }

  const bool batch_mode = batch->parsed();
  if (options.base_url.empty()) {
    const char* env = std::getenv("TOUCAN_BASE_URL");
    options.base_url = env && *env ? env : std::string(toucan::kDefaultBaseUrl);
  }
  if (options.cacert.empty()) {
    if (const char* env = std::getenv("TOUCAN_CA_BUNDLE"); env && *env) options.cacert = env;
  }
  if (batch_mode) {
    if (app.count("--distinct-id") > 0) {
      throw UsageError(
          "-u/--distinct-id cannot be used with batch: each input line names its user");
    }
    if (app.count("--output") > 0) {
      throw UsageError("-o/--output cannot be used with batch: it always writes JSON Lines");
    }
  } else if (app.count("--distinct-id") == 0) {
    throw UsageError("--distinct-id is required (e.g. toucan-token -u user-42); see --help");
  }
  CheckStdinUse(options, batch_mode);

  toucan::TokenRequest request;
  request.distinct_id = options.distinct_id;
  request.role = options.role;
  if (!options.attributes_input.empty()) {
    request.attributes = ReadJsonObjectInput(options.attributes_input, "--attributes");
  }
  for (const auto& argument : options.attribute_args) {
    toucan::ApplyAttributeArgument(request.attributes, argument);
  }
  if (!options.permissions_input.empty()) {
    request.permissions = ReadJsonObjectInput(options.permissions_input, "--permissions");
  }
  // Checks the id, role and attributes even for batch, where they are the defaults.
  if (batch_mode) request.distinct_id = "-";
  const Json body = toucan::BuildRequestBody(request);

  // --dry-run needs no key, but one that is configured is still read and checked.
  auto [key, key_source] = ReadApiKey(options);
  if (key.empty() && !options.dry_run) {
    throw UsageError("no API key: set " + options.api_key_env +
                     " (or use --api-key-file); it is never taken from the command line");
  }

  if (batch_mode) {
    toucan::BatchOptions batch_options;
    batch_options.defaults = request;
    batch_options.concurrency = options.concurrency;
    batch_options.progress = isatty(STDERR_FILENO) == 1;
    std::ifstream file;
    std::istream* input = &std::cin;
    if (!options.batch_file.empty() && options.batch_file != "-") {
      file.open(options.batch_file, std::ios::binary);
      if (!file) {
        throw UsageError("cannot read batch file '" + options.batch_file +
                         "': " + std::strerror(errno));
      }
      input = &file;
      // A regular file can be counted up front, so that progress shows done/total.
      if (batch_options.progress)
        batch_options.total_lines = toucan::CountBatchLines(options.batch_file);
    }
    if (options.dry_run) {
      const std::string url = toucan::ResolveEndpointUrl(options.base_url, options.endpoint_path);
      return toucan::RunBatchDryRun(*input, batch_options, url, stdout, stderr);
    }
    toucan::Client client(MakeClientOptions(options, key, key_source));
    return toucan::RunBatch(client, *input, batch_options, stdout, stderr);
  }

  if (options.dry_run) {
    const std::string url = toucan::ResolveEndpointUrl(options.base_url, options.endpoint_path);
    WriteStdout(toucan::DryRunRequest(url, body).dump() + "\n");
    return 0;
  }
  toucan::Client client(MakeClientOptions(options, key, key_source));
  const toucan::TokenResponse response = client.Mint(request);
  const std::string result = FormatResult(response, options.output);
  if (!response.expires_in) {
    PrintError("warning: the reply has no usable expiresIn, so the expiry is unknown (null)");
  }
  WriteStdout(result);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    // libcurl is initialised by the first Client, so --version and --help never load it.
    return Run(argc, argv);
  } catch (const Error& e) {
    PrintError(e.what());
    return toucan::ExitCode(e.kind());
  } catch (const std::exception& e) {
    PrintError(std::string("internal error: ") + e.what() + " (please report this)");
    return 1;
  }
}
