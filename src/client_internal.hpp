#pragma once
// Pieces of the client shared by client.cpp and endpoint.cpp, not part of the
// library's public API.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "toucan/client.hpp"

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

// The one table of request headers, for the real request and (key as "***") for display.
std::vector<std::pair<std::string, std::string>> RequestHeaders(std::string_view api_key);


// client.cpp, with libcurl.
Endpoint ResolveEndpoint(std::string_view base_url, std::string_view endpoint_path);

}  // namespace toucan
