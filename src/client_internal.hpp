#pragma once
// Pieces of the client shared by client.cpp, endpoint.cpp and batch.cpp, not part of the
// library's public API.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "toucan/token.hpp"

namespace toucan {

// ---- endpoint.cpp: where the request goes and what it carries ------------------------------

struct Endpoint {
  std::string url;
  std::string host;  // host[:port], for messages
  bool https = true;
  bool loopback = false;
};

// The base URL and endpoint path checked as text, before libcurl parses the URL.
struct EndpointParts {
  std::string base;      // trimmed
  std::string quoted;    // "base URL '…'" for messages, userinfo shown as ***@
  std::string endpoint;  // starts with '/'
  bool https = true;
};

EndpointParts SplitBaseUrl(std::string_view base_url, std::string_view endpoint_path);
// The rules on the parsed URL: https, or http to loopback; a host; no userinfo. (A query or a
// fragment, even an empty one, is refused in the text by SplitBaseUrl.)
void CheckBaseUrlParts(EndpointParts& parts, const std::string& scheme, const std::string& host,
                       bool has_userinfo);
bool IsLoopbackHost(std::string_view host);
// The URL with any userinfo shown as ***@, so that no message repeats a password.
std::string MaskUserinfo(std::string_view url);

// The one table of request headers, for the real request and (key as "***") for display.
std::vector<std::pair<std::string, std::string>> RequestHeaders(std::string_view api_key);

// Throws Error(kUsage) unless `path` is a readable regular file holding a PEM certificate.
void CheckCaBundle(const std::string& path);

// client.cpp, with libcurl.
Endpoint ResolveEndpoint(std::string_view base_url, std::string_view endpoint_path);

// ---- the transfer loop's interface (batch.cpp drives it) -----------------------------------

struct MintJob {
  std::uint64_t id = 0;
  std::string body;
};

struct MintOutcome {
  std::optional<TokenResponse> response;
  std::optional<Error> error;
};

// What the job source answers when asked for the next job.
struct NextJob {
  enum class State { kJob, kNotNow, kEnd } state = State::kEnd;
  MintJob job;
};

struct RunCallbacks {
  std::function<NextJob()> next;                         // asked for jobs whenever there is room
  std::function<void(std::uint64_t, MintOutcome)> done;  // each job's outcome, completion order
  // Polled; once true nothing new starts and requests in flight get 2 s to finish.
  std::function<bool()> interrupted;
  // A failure that every request would meet (FailsEveryRequest) stops the run as a long
  // Retry-After does, unless `keep_going`; `stopped` is told the job that met it and the failure.
  bool keep_going = false;
  std::function<void(std::uint64_t, const Error&)> stopped;
};

}  // namespace toucan
