#pragma once
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "output.hpp"
#include "schema.hpp"
#include "toucan/client.hpp"

namespace toucan::cli {

struct Options {
  std::string distinct_id, role{kDefaultRole}, attributes_input, permissions_input;
  std::vector<std::string> attribute_args;
  std::string base_url{kDefaultBaseUrl}, endpoint_path{kDefaultEndpointPath};
  std::string api_key_env{"TOUCAN_API_KEY"}, api_key_file;
  std::vector<std::string> api_key_command;  // from the profile
  std::string output{"json"}, cacert, profile, schema;
  double timeout = 30, connect_timeout = 10;
  int retries = 2;
  bool dry_run = false, verbose = false, quiet = false, cache = false, no_cache = false;
  long min_ttl = -1;  // -1: the default margin
  std::string batch_file, completion_shell;
  int concurrency = 8;
  bool csv = false, keep_going = false;
};

struct Parsed {
  Options options;
  std::string command;  // the subcommand given; empty: a mint
  // Where each setting not at its default came from, by option ("--base-url"): "flag",
  // "env TOUCAN_BASE_URL", "profile prod (PATH:LINE)".
  std::map<std::string, std::string> origin;
  std::string base_url_conflict;  // for `config`: why a mint would refuse TOUCAN_BASE_URL

  std::string Source(const std::string& flag) const {
    const auto found = origin.find(flag);
    return found == origin.end() ? "default" : found->second;
  }
  // Set by a flag or its environment variable: above a profile.
  bool Given(const std::string& flag) const {
    return Source(flag) == "flag" || Source(flag).starts_with("env ");
  }
};

// Every API key this run knows of: the one it reads, and those the environment offers. A key
// passed where a name, path, URL or attribute goes would be repeated by a message or row quoting
// that input; so all of stderr, and every batch or dry-run row, goes through Apply.
class KnownKeys {
 public:
  // 8 characters and more: a shorter key would blot out the tool's own words ("check" with a
  // key of "k"); the client redacts the key in use from what a server says, whatever its length.
  void Add(std::string_view key) {
    key = Trim(key);
    if (key.size() >= 8 && keys_.emplace(key).second) redactors_.emplace_back(std::string(key));
  }
  void AddFromEnvironment(const std::string& name) {
    if (const char* value = std::getenv(name.c_str())) Add(value);
  }
  std::string Apply(std::string text, const Redactor* also = nullptr) const {
    for (const auto& redactor : redactors_) text = redactor.Apply(text);
    return also ? also->Apply(text) : text;
  }
  // A JSON line, masked so that it stays JSON (a key's run of digits may fill a number).
  std::string ApplyToJson(const std::string& line, const Redactor* also = nullptr) const;

 private:
  void Mask(Json& value, const Redactor* also) const;
  std::set<std::string, std::less<>> keys_;
  std::vector<Redactor> redactors_;
};

// report.cpp: the error's message with what the user can change about its cause, if anything;
// stderr, every line redacted; Warn is silenced by g_quiet (-q).
std::string WithHint(const Error& error);
extern KnownKeys g_keys;
extern bool g_quiet;
void PrintError(const std::string& message);
void Warn(const std::string& message);
void WriteRow(LineWriter& out, const Json& row);

// command_line.cpp. Returns an exit status when the run ends here (--help, --version, no args).
std::optional<int> ParseCommandLine(int argc, char** argv, Parsed& parsed);
// " (did you mean X?)" for a word close to one of `names` ('_' read as '-'), or empty.
std::string DidYouMean(std::string word, const std::vector<std::string>& names);

// settings.cpp.
bool NamesStandardInput(const std::string& path);
int OpenInput(const std::string& path, const std::string& what);
Json ReadJsonObjectInput(const std::string& input, const std::string& flag);

struct ApiKey {
  std::string key;  // empty when none is configured
  std::string source;
};
ApiKey ReadApiKey(const Options& options);

void ApplyEnvironmentAndProfile(Parsed& parsed, const std::optional<Profile>& profile,
                                const Environment& env);
std::optional<Schema> LoadSchema(const Parsed& parsed, const std::optional<Profile>& profile);
// Each attribute's values, lowest layer first, with the source of each: for `config`.
using AttributeLayers = std::map<std::string, std::vector<std::pair<Json, std::string>>>;
TokenRequest BuildDefaultRequest(const Parsed& parsed, const std::optional<Profile>& profile,
                                 const Schema* schema, AttributeLayers& layers);

// Every setting and attribute with its source: `toucan-token config` and --dry-run -v.
std::vector<Json> OriginRows(const Parsed& parsed, const Config& config,
                             const std::optional<Profile>& profile, const Json& attributes,
                             const AttributeLayers& layers);
void PrintOrigins(const std::vector<Json>& rows);

// formats.cpp: -o json, token, header, env, shell, github.
class ResultPrinter {
 public:
  // -o github opens its files now: a file that cannot be opened costs no token.
  ResultPrinter(std::string format, const Environment& env);
  // Throws Error(kBadResponse) for a token the format cannot carry, before anything is written.
  void Check(const TokenResponse& response) const;
  void Print(const TokenResponse& response);

 private:
  struct GithubFile {
    LineWriter writer;
    const char* token_name;
    const char* expires_name;
    bool open_line;  // the file ends without a newline: ours must not join that line
  };
  std::string format_;
  std::vector<GithubFile> github_;
};

}  // namespace toucan::cli
