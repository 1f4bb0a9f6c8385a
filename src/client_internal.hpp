#pragma once
// Shared by client.cpp and endpoint.cpp; not public.
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

// ResolveEndpointUrl, and what the client needs of the result.
Endpoint ResolveEndpoint(std::string_view base_url, std::string_view endpoint_path);

// The one table of request headers, for the real request and (key as "***") for display.
std::vector<std::pair<std::string, std::string>> RequestHeaders(std::string_view api_key);

}  // namespace toucan
