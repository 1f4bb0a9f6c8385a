#pragma once
// Pieces of the client shared by client.cpp and endpoint.cpp, not part of the
// library's public API.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "toucan/client.hpp"

namespace toucan {

struct Endpoint {
  std::string url;
  std::string host;  // host[:port], for messages
  bool https = true;
  bool loopback = false;
};

// Joins and checks the base URL and the endpoint path (see ResolveEndpointUrl).
Endpoint ResolveEndpoint(std::string_view base_url, std::string_view endpoint_path);

// The one table of request headers, for the real request and (key as "***") for display.
std::vector<std::pair<std::string, std::string>> RequestHeaders(std::string_view api_key);

}  // namespace toucan
