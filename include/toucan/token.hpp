#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "toucan/error.hpp"
#include "toucan/version.hpp"

namespace toucan {

// Insertion-ordered, so bodies and outputs keep the order the user and the server wrote.
using Json = nlohmann::ordered_json;

inline constexpr std::string_view kDefaultBaseUrl = "https://toucanai.cloud";
inline constexpr std::string_view kDefaultEndpointPath = "/embed/generate-token";
inline constexpr std::string_view kDefaultRole = "explorer";
// Larger replies are refused: a token response is a few KiB, and an unbounded read would let a
// broken or hostile server exhaust memory.
inline constexpr std::size_t kMaxResponseBytes = std::size_t{1024} * 1024;

// ---- request.cpp: what is sent -------------------------------------------------------------

struct TokenRequest {
  std::string distinct_id;
  std::string role{kDefaultRole};
  Json attributes = Json::object();
  std::optional<Json> permissions;  // left out of the body when empty
};

// Checks the request (non-empty id, role and attribute keys, objects where objects are due,
// valid UTF-8) and returns the JSON body. Throws Error(kUsage).
Json BuildRequestBody(const TokenRequest& request);

// Applies one `-a` argument to `attributes`: `KEY=VALUE` sets a string, `KEY:=JSON` a typed
// value. Throws Error(kUsage) naming the argument.
void ApplyAttributeArgument(Json& attributes, std::string_view argument);

// Parses `text` as JSON; `what` names the input in error messages. Throws Error(kUsage).
Json ParseJsonValue(std::string_view text, std::string_view what);

// Parses `text` as a JSON object; `what` names the input in error messages. Throws Error(kUsage)
// saying where the JSON is broken.
Json ParseJsonObject(std::string_view text, std::string_view what);

bool IsValidUtf8(std::string_view text);

// Throws Error(kUsage) unless `key` is non-empty printable ASCII without spaces (anything else
// could inject headers). `source` names where the key came from, never the key itself.
void ValidateApiKey(std::string_view key, std::string_view source);

// Leading and trailing whitespace removed.
std::string_view Trim(std::string_view text);

// ---- response.cpp: what comes back ---------------------------------------------------------

struct TokenResponse {
  std::string token;
  std::optional<std::int64_t> expires_in;  // seconds; empty when the server gave no usable expiry
  std::optional<std::chrono::system_clock::time_point> expires_at;
  Json extra = Json::object();  // the server's other fields, unchanged
};

// Seconds from the server's `expiresIn`: a non-negative number (fraction dropped), a string of
// digits, or a duration such as "1h30m" or "2d". Empty for anything else.
std::optional<std::int64_t> ExpiryFromValue(const Json& value);

// Parses a 2xx body. Throws Error(kBadResponse) when it is not a JSON object with a usable token.
TokenResponse ParseTokenResponse(std::string_view body,
                                 std::chrono::system_clock::time_point received_at);

// True when the token is printable ASCII without spaces, so it is safe in a header or a shell.
bool IsSafeToken(std::string_view token);

// RFC 3339 UTC with second precision, e.g. 2026-11-24T19:38:28Z.
std::string FormatRfc3339(std::chrono::system_clock::time_point when);

// A short, printable account of an error body for a message: the `message`/`error` field of a
// JSON body, the title or text of an HTML page, or the start of plain text, control characters
// escaped, at most 300 characters. Empty when the body says nothing.
std::string ServerMessageExcerpt(std::string_view body);

// `{"token", "expiresIn", "expiresAt", ...extra}` as printed by `-o json`.
Json ResponseToJson(const TokenResponse& response);

// ---- client.cpp: libcurl -------------------------------------------------------------------

struct ClientOptions {
  std::string base_url{kDefaultBaseUrl};
  std::string endpoint_path{kDefaultEndpointPath};
  std::string api_key;
  std::string api_key_source{"TOUCAN_API_KEY"};  // named in "credentials rejected" hints
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds connect_timeout{10'000};
  int retries = 2;
  std::string ca_bundle;  // empty: the system store; else it replaces the system store
  // Receives diagnostics for --verbose, one line each, without the key. Empty: silent.
  std::function<void(const std::string&)> log;
};

// Joins the base URL and the endpoint path and checks the result: a URL that parses, https, or
// http to a loopback host, no userinfo, no dot segments. Throws Error(kUsage).
std::string ResolveEndpointUrl(std::string_view base_url, std::string_view endpoint_path);

// The headers sent, with the key shown as "***" (for --dry-run and --verbose).
Json RedactedRequestHeaders();

// What --dry-run prints: {"method", "url", "headers" (key as "***"), "body"}.
Json DryRunRequest(const std::string& url, const Json& body);

// "libcurl 7.88.1\nTLS: OpenSSL/3.0.x\nHTTP/2: yes (nghttp2 …)\n", for --version.
std::string LibraryVersions();

struct RunCallbacks;  // the batch runner's interface to the transfer loop

class Client {
 public:
  // Validates the options (URL, key, CA bundle); throws Error(kUsage).
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Mints one token, retrying transient failures. Throws Error.
  TokenResponse Mint(const TokenRequest& request);

  // For RunBatch: runs jobs with up to `concurrency` requests in flight over shared
  // connections. A 429 pauses every request; a Retry-After over 60 s fails the running and
  // remaining jobs at once with kUnavailable.
  void MintMany(const RunCallbacks& callbacks, int concurrency);

  const std::string& url() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Calls curl_global_init, once; Client does it, so calling it is optional.
// Call it before starting threads that make Clients.
void GlobalInit();

}  // namespace toucan
