#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "toucan/error.hpp"
#include "toucan/version.hpp"

namespace toucan {

// Insertion-ordered, so bodies and outputs keep the order the user and the server wrote.
using Json = nlohmann::ordered_json;

inline constexpr std::string_view kDefaultBaseUrl = "https://toucanai.cloud";
inline constexpr std::string_view kDefaultEndpointPath = "/embed/generate-token";
inline constexpr std::string_view kDefaultRole = "explorer";
// A token reply is a few KiB: an unbounded read would let a hostile server exhaust memory.
inline constexpr std::size_t kMaxResponseBytes = std::size_t{1024} * 1024;

// ---- request.cpp: what is sent -------------------------------------------------------------

// JSON nesting allowed in user input and replies, checked while parsing.
inline constexpr std::size_t kMaxJsonDepth = 64;

struct TokenRequest {
  std::string distinct_id;
  std::string role{kDefaultRole};
  Json attributes = Json::object();
  std::optional<Json> permissions;  // left out of the body when empty
};

// The request checked (see doc/library.md), as the JSON body. Throws Error(kUsage).
Json BuildRequestBody(const TokenRequest& request);
void CheckRequestDefaults(const TokenRequest& request);  // all checks but the distinct id's
void CheckAttributeKeys(const Json& attributes);

// One `-a` argument: `KEY=VALUE` sets a string, `KEY:=JSON` a typed value.
void ApplyAttributeArgument(Json& attributes, std::string_view argument);

// Later wins; linear (Json's own operator[] scans the object for each key).
void MergeAttributes(Json& target, std::span<const Json> sources);

// User input as JSON (see doc/library.md). Throws Error(kUsage) naming `what`.
Json ParseJsonValue(std::string_view text, std::string_view what);
Json ParseJsonObject(std::string_view text, std::string_view what);
bool IsJsonNumber(std::string_view text);

// Printable ASCII without spaces, else a header could be injected. Messages name `source` only.
void ValidateApiKey(std::string_view key, std::string_view source);

// ---- text.cpp: bytes that become messages ----------------------------------------------------

constexpr char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
inline std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

bool IsValidUtf8(std::string_view text);
std::string_view Trim(std::string_view text);

// EscapeControls over the first `max_chars` characters, "..." if cut; reads only what it keeps.
std::string Excerpt(std::string_view text, std::size_t max_chars = 300);
std::string Quoted(std::string_view text, std::size_t max_chars = 100);  // `'text'`, an Excerpt
std::size_t FindControl(std::string_view text);  // the first C0, DEL or C1 control, or npos

// Replaces the API key in server text with "***" in every form doc/library.md lists, and any 8
// consecutive characters of it. Linear; holds the key only as the set of its windows.
class Redactor {
 public:
  explicit Redactor(std::string key);
  // Tests pass a `marker` no key can hold to check that nothing of the key survives between two.
  std::string Apply(std::string_view raw, std::string_view marker = "***") const;
  bool Finds(std::string_view raw) const;

 private:
  bool Scan(std::string_view raw, std::vector<bool>* covered) const;

  std::size_t gram_ = 0;  // characters per window: 8, or the key's length when shorter
  std::uint64_t mask_ = 0;
  std::vector<std::uint64_t> table_;  // the key's windows, sorted
  std::bitset<4096> hashed_;          // the windows' hashes: most text skips the search
};

// ---- response.cpp: what comes back ---------------------------------------------------------

struct TokenResponse {
  std::string token;
  std::optional<std::int64_t> expires_in;  // seconds; empty when the server gave no usable expiry
  std::optional<std::chrono::system_clock::time_point> expires_at;
  // The server's other fields in its order, minus ours, the key redacted.
  Json extra = Json::object();
};

std::optional<std::int64_t> ExpiryFromValue(const Json& value);  // see doc/library.md

// A 2xx body, in linear time. Throws Error(kBadResponse); quotes the body only through `redactor`
// (none: only for callers that hold no key).
TokenResponse ParseTokenResponse(std::string_view body,
                                 std::chrono::system_clock::time_point received_at,
                                 const Redactor& redactor = Redactor(""));

bool IsSafeToken(std::string_view token);  // printable ASCII without spaces
std::string FormatRfc3339(std::chrono::system_clock::time_point when);  // 2026-11-24T19:38:28Z

// What an error body says (see doc/library.md), escaped, cut, then redacted; empty if nothing.
std::string ServerMessageExcerpt(std::string_view body, const Redactor& redactor = Redactor(""));

// Other server text (a Location, libcurl's error text): escaped, cut, then redacted.
std::string RedactedExcerpt(std::string_view text, const Redactor& redactor);
// ResponseToJson on one line for `-o json`, control and bidi characters escaped.
std::string ResponseJsonLine(const TokenResponse& response);

// A batch row for a minted line: `{"line","distinctId","token","expiresIn","expiresAt",...}`.
// Server fields named `line`, `distinctId` or `error` are dropped: they would pass for ours.
std::string BatchRowJsonLine(std::uint64_t line, const std::optional<std::string>& distinct_id,
                             const TokenResponse& response);

Json ResponseToJson(const TokenResponse& response);  // {"token","expiresIn","expiresAt",...extra}

// ---- client.cpp: libcurl -------------------------------------------------------------------

struct ClientOptions {
  std::string base_url{kDefaultBaseUrl};
  std::string endpoint_path{kDefaultEndpointPath};
  std::string api_key;
  std::string api_key_source{"ClientOptions::api_key"};  // named in messages, never the key
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds connect_timeout{10'000};
  int retries = 2;
  std::string ca_bundle;  // empty: the system store; else it replaces the system store
  std::function<void(const std::string&)> log;  // --verbose lines, without the key
};

// https, or http to a loopback host; no userinfo, no dot segments. Throws Error(kUsage).
std::string ResolveEndpointUrl(std::string_view base_url, std::string_view endpoint_path);
void CheckCaBundle(const std::string& path);     // a readable PEM file, else Error(kUsage)
std::string MaskUserinfo(std::string_view url);  // any userinfo shown as ***@
Json RedactedRequestHeaders();                   // the key as "***"
Json DryRunRequest(const std::string& url, const Json& body);  // {"method","url","headers","body"}
std::string LibraryVersions();                                 // for --version

// ---- many requests at once ---------------------------------------------------------------

struct MintJob {
  std::uint64_t id = 0;
  std::string body;  // a body built by BuildRequestBody, dumped
};

struct MintOutcome {
  std::optional<TokenResponse> response;
  std::optional<Error> error;
};

struct NextJob {
  enum class State { kJob, kNotNow, kEnd } state = State::kEnd;
  MintJob job;
};

struct RunCallbacks {
  std::function<NextJob()> next;
  std::function<void(std::uint64_t, MintOutcome)> done;  // in completion order
  std::function<bool()> interrupted;                     // polled; in-flight requests then get 2 s
  bool keep_going = false;                               // see doc/library.md
  std::function<void(std::uint64_t, const Error&)> stopped;
};

struct ClientState;  // libcurl handles and settings, defined in client.cpp

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();

  // Retries transient failures; throws Error.
  TokenResponse Mint(const TokenRequest& request);
  TokenResponse Mint(const Json& body);  // a body from BuildRequestBody
  void MintMany(const RunCallbacks& callbacks, int concurrency);

 private:
  std::unique_ptr<ClientState> impl_;
};

}  // namespace toucan
