#include "hints.hpp"

namespace toucan {
namespace {

std::string Hint(const Error& error) {
  const auto& facts = error.facts();
  switch (error.cause()) {
    case Cause::kEndpoint:
      return ": check --base-url and --endpoint-path" +
             (facts.empty() ? std::string() : " (the URL was " + facts[0] + ")");
    case Cause::kRedirect:
      return ": point --base-url at the final address";
    case Cause::kUnknownHost:
      return ": check --base-url, DNS and proxy settings";
    case Cause::kNoConnection:
      return ": check --base-url and that the service is up; for a proxy, check HTTPS_PROXY and "
             "NO_PROXY";
    case Cause::kNotHttp:
      return "; check --base-url";
    case Cause::kRetriesSpent:
      return ", or raise --retries";
    case Cause::kTimeout:
      if (facts.size() < 2) return {};
      return "; limits: --connect-timeout " + facts[0] + " s, --timeout " + facts[1] + " s";
    case Cause::kUntrusted:
      return ". If the server uses a private CA or a TLS-inspecting proxy, pass that CA with "
             "--cacert (or TOUCAN_CA_BUNDLE)";
    case Cause::kRequestRefused:
      return ": check the request with --dry-run";
    case Cause::kNone:
      break;
  }
  return {};
}

}  // namespace

std::string WithHint(const Error& error) { return error.what() + EscapeControls(Hint(error)); }

}  // namespace toucan
