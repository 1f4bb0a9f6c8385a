// What the tool says on stderr (a failure with its hint) and writes as rows, all redacted.
#include <cstdio>

#include "cli.hpp"

namespace toucan::cli {
namespace {

// The library's messages say what happened and tag what it was about (Error::cause); only the
// CLI knows its flags.
std::string Hint(const Error& error) {
  const auto& facts = error.facts();
  if (error.cause() == Cause::kEndpoint) {
    return ": check --base-url and --endpoint-path" +
           (facts.empty() ? std::string() : " (the URL was " + facts[0] + ")");
  }
  if (error.cause() == Cause::kTimeout && facts.size() >= 2) {
    return "; limits: --connect-timeout " + facts[0] + " s, --timeout " + facts[1] + " s";
  }
  static const std::map<Cause, std::string> kHints{
      {Cause::kRedirect, ": point --base-url at the final address"},
      {Cause::kUnknownHost, ": check --base-url, DNS and proxy settings"},
      {Cause::kNoConnection,
       ": check --base-url and that the service is up; for a proxy, check HTTPS_PROXY and "
       "NO_PROXY"},
      {Cause::kNotHttp, "; check --base-url"},
      {Cause::kRetriesSpent, ", or raise --retries"},
      {Cause::kUntrusted,
       ". If the server uses a private CA or a TLS-inspecting proxy, pass that CA with --cacert "
       "(or TOUCAN_CA_BUNDLE)"},
      {Cause::kRequestRefused, ": check the request with --dry-run"}};
  const auto found = kHints.find(error.cause());
  return found == kHints.end() ? std::string() : found->second;
}

}  // namespace

std::string WithHint(const Error& error) { return error.what() + EscapeControls(Hint(error)); }

KnownKeys g_keys;
bool g_quiet = false;

void PrintError(const std::string& message) {
  const std::string line = "toucan-token: " + g_keys.Apply(message) + "\n";
  [[maybe_unused]] const auto written = std::fwrite(line.data(), 1, line.size(), stderr);
}

void Warn(const std::string& message) {
  if (!g_quiet) PrintError("warning: " + message);
}

std::string KnownKeys::ApplyToJson(const std::string& line, const Redactor* also) const {
  std::string masked = Apply(line, also);
  if (masked == line || Json::accept(masked)) return masked;
  Json value = Json::parse(line);
  Mask(value, also);
  return Apply(value.dump(-1, ' ', false, Json::error_handler_t::replace), also);
}

// Numbers (and true, false, null) whose text shows a key become "***"; names and strings are
// masked in the text, where a key stays inside its quotes.
void KnownKeys::Mask(Json& value, const Redactor* also) const {
  if (value.is_structured()) {
    for (Json& item : value) Mask(item, also);
  } else if (!value.is_string() && Apply(value.dump(), also) != value.dump()) {
    value = "***";
  }
}

void WriteRow(LineWriter& out, const Json& row) {
  out.Write(g_keys.ApplyToJson(row.dump(-1, ' ', false, Json::error_handler_t::replace)));
}

}  // namespace toucan::cli
