#pragma once

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
// Larger replies are refused: a token response is a few KiB, and an unbounded read would let a
// broken or hostile server exhaust memory.
inline constexpr std::size_t kMaxResponseBytes = std::size_t{1024} * 1024;

// ---- request.cpp: what is sent -------------------------------------------------------------

// JSON nesting allowed in everything parsed, user input and replies alike; checked while parsing,
// so a deeper document is never built.
inline constexpr std::size_t kMaxJsonDepth = 64;

struct TokenRequest {
  std::string distinct_id;
  std::string role{kDefaultRole};
  Json attributes = Json::object();
  std::optional<Json> permissions;  // left out of the body when empty
};

// Checks the request (non-empty id, role and attribute keys, objects where objects are due,
// valid UTF-8) and returns the JSON body. Throws Error(kUsage).
Json BuildRequestBody(const TokenRequest& request);

// The checks of BuildRequestBody but the distinct id's: for defaults that lines complete.
void CheckRequestDefaults(const TokenRequest& request);

// Throws Error(kUsage) unless every key of `attributes` is non-empty and free of control
// characters (C0, DEL and C1: U+009B is a terminal escape).
void CheckAttributeKeys(const Json& attributes);

// Applies one `-a` argument to `attributes`: `KEY=VALUE` sets a string, `KEY:=JSON` a typed
// value. Throws Error(kUsage) naming the argument.
void ApplyAttributeArgument(Json& attributes, std::string_view argument);

// Sets every member of the object `source` in the object `target`, later wins, in time linear in
// both (Json's own operator[] scans the object for each key).
void MergeAttributes(Json& target, const Json& source);
// The same for several objects in turn, in one pass.
void MergeAttributes(Json& target, std::span<const Json> sources);

// Parses user input as JSON in linear time: nesting deeper than kMaxJsonDepth, a number that a
// double or a 64-bit integer cannot hold exactly (`12345678901234567890123`, `1e400`,
// `0.1000000000000000000001`; `2.50` is fine and is sent as `2.5`), and duplicate keys (the last
// wins, as in the rest of the tool) are handled while parsing. `what` names the input in error
// messages. Throws Error(kUsage).
Json ParseJsonValue(std::string_view text, std::string_view what);

// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, the JSON number grammar, and nothing more.
bool IsJsonNumber(std::string_view text);

// ParseJsonValue, and the value must be an object. Throws Error(kUsage).
Json ParseJsonObject(std::string_view text, std::string_view what);

// Throws Error(kUsage) unless `key` is non-empty printable ASCII without spaces (anything else
// could inject headers). `source` names where the key came from, never the key itself.
void ValidateApiKey(std::string_view key, std::string_view source);

// ---- text.cpp: bytes that become messages ----------------------------------------------------

inline constexpr std::size_t kMaxExcerptChars = 300;

constexpr char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
inline std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

bool IsValidUtf8(std::string_view text);

// Leading and trailing whitespace removed.
std::string_view Trim(std::string_view text);

// EscapeControls (error.hpp) over at most `max_chars` characters of `text`, with "..." when some
// were left out. Reads only what it keeps, so a 1 MiB body costs no more than a short one.
std::string Excerpt(std::string_view text, std::size_t max_chars = kMaxExcerptChars);

// A name from the user or a file inside a message: `'text'`, an Excerpt of `max_chars`.
std::string Quoted(std::string_view text, std::size_t max_chars = 100);

// Where the first C0 control, DEL or C1 control (U+0080-U+009F, as UTF-8) in `text` starts, or
// npos.
std::size_t FindControl(std::string_view text);

// Replaces every appearance of the API key in text from a server with "***": verbatim, in any
// mix of case, JSON-escaped (`\"`, `\\`, `\/`, `\u00XX`), percent-encoded (either case), as HTML
// character references, and any run of 8 or more consecutive characters of the key (the whole
// key when it is shorter), so a key cut short or echoed in part never shows 8 of its characters.
// Linear in the text; holds the key only as the set of its windows. (For a key that holds `*`,
// the markers are made of key characters; what lies between two markers never shows the key.)
class Redactor {
 public:
  explicit Redactor(std::string key);
  // Tests pass a `marker` no key can hold to check that nothing of the key survives between two.
  std::string Apply(std::string_view raw, std::string_view marker = "***") const;
  // Whether Apply would change `raw`.
  bool Finds(std::string_view raw) const;

 private:
  bool Scan(std::string_view raw, std::vector<bool>* covered) const;

  std::size_t gram_ = 0;  // characters per window: 8, or the key's length when shorter
  std::uint64_t mask_ = 0;
  std::vector<std::uint64_t> table_;  // the key's windows, sorted
};

// ---- response.cpp: what comes back ---------------------------------------------------------

struct TokenResponse {
  std::string token;
  std::optional<std::int64_t> expires_in;  // seconds; empty when the server gave no usable expiry
  std::optional<std::chrono::system_clock::time_point> expires_at;
  // The server's other fields in its order, as a JSON parse reads them (64-bit integers exact,
  // other numbers as doubles, one beyond a double's range as null), minus `token`, `expiresIn`
  // and `expiresAt` (ours win). The API key is replaced by "***" in names and strings, and a
  // value that would still show it is "***" whole.
  Json extra = Json::object();
};

// Seconds from the server's `expiresIn`: a non-negative number (fraction dropped), a string of
// digits, or a duration such as "1h30m" or "2d". Empty for anything else.
std::optional<std::int64_t> ExpiryFromValue(const Json& value);

// Parses a 2xx body in time linear in its size. Throws Error(kBadResponse) when it is larger than
// kMaxResponseBytes, is not JSON, nests deeper than kMaxJsonDepth, is not an object, or has no
// usable token (a token that holds the key is not usable either). Messages quote the body only
// through `redactor` (none: only for callers that hold no key).
TokenResponse ParseTokenResponse(std::string_view body,
                                 std::chrono::system_clock::time_point received_at,
                                 const Redactor& redactor = Redactor(""));

// True when the token is printable ASCII without spaces, so it is safe in a header or a shell.
bool IsSafeToken(std::string_view token);

// RFC 3339 UTC with second precision, e.g. 2026-11-24T19:38:28Z.
std::string FormatRfc3339(std::chrono::system_clock::time_point when);

// A short, printable account of an error body (or a header such as Location) for a message: the
// `message`/`error`/`detail`/`error_description` field of a JSON body (or its nested
// `message`), the title or text of an HTML page, or the start of plain text, escaped (valid
// UTF-8, no control characters) and cut at 300 characters; the key is redacted last, from what
// is shown. Linear in the body. Empty when the body says nothing. Without a redactor: only for
// callers that hold no key.
std::string ServerMessageExcerpt(std::string_view body, const Redactor& redactor = Redactor(""));

// Other server text for a message (a header such as Location, libcurl's error text): escaped
// and cut at 300 characters, then the key redacted, as ServerMessageExcerpt does with a body.
std::string RedactedExcerpt(std::string_view text, const Redactor& redactor);

// ResponseToJson as printed by `-o json`: one line, no newline, valid UTF-8, control characters
// (C0, DEL, C1, bidirectional formatting) escaped.
std::string ResponseJsonLine(const TokenResponse& response);

// A batch row for a minted line: `{"line","distinctId","token","expiresIn","expiresAt",...}`.
// Server fields named `line`, `distinctId` or `error` are dropped: they would pass for ours.
std::string BatchRowJsonLine(std::uint64_t line, const std::optional<std::string>& distinct_id,
                             const TokenResponse& response);

// `{"token","expiresIn","expiresAt",...extra}`: what ResponseJsonLine prints, as a Json value.
Json ResponseToJson(const TokenResponse& response);

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
  // Receives diagnostics for --verbose, one line each, without the key. Empty: silent.
  std::function<void(const std::string&)> log;
};

// Joins the base URL and the endpoint path and checks the result: a URL that parses, https, or
// http to a loopback host, no userinfo, no dot segments. Throws Error(kUsage).
std::string ResolveEndpointUrl(std::string_view base_url, std::string_view endpoint_path);

// Throws Error(kUsage) unless `path` is a readable regular file holding a PEM certificate.
void CheckCaBundle(const std::string& path);

// The URL with any userinfo shown as ***@, so that no message repeats a password.
std::string MaskUserinfo(std::string_view url);

// The headers sent, with the key shown as "***" (for --dry-run and --verbose).
Json RedactedRequestHeaders();

// What --dry-run prints: {"method", "url", "headers" (key as "***"), "body"}.
Json DryRunRequest(const std::string& url, const Json& body);

// "libcurl 7.88.1\nTLS: OpenSSL/3.0.x\nHTTP/2: yes (nghttp2 …)\n", for --version.
std::string LibraryVersions();

// ---- many requests at once ---------------------------------------------------------------

struct MintJob {
  std::uint64_t id = 0;
  std::string body;  // a body built by BuildRequestBody, dumped
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
  // A failure that every request would meet (a rejected key, a wrong URL) stops the run as a
  // long Retry-After does, unless `keep_going`; `stopped` is told the job that met it and why.
  bool keep_going = false;
  std::function<void(std::uint64_t, const Error&)> stopped;
};

struct ClientState;  // libcurl handles and settings, defined in client.cpp

class Client {
 public:
  // Validates the options (URL, key, CA bundle); throws Error(kUsage).
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Mints one token, retrying transient failures. Throws Error.
  TokenResponse Mint(const TokenRequest& request);
  // The same for a body already built by BuildRequestBody.
  TokenResponse Mint(const Json& body);

  // Runs jobs with up to `concurrency` requests in flight over shared connections. A 429 pauses
  // every request; a Retry-After over 60 s, or a failure every request would meet (a rejected
  // key, a wrong URL), stops the run: the jobs not yet sent fail at once. An error's cause()
  // says what a front end may hint at; its message names none of the options.
  void MintMany(const RunCallbacks& callbacks, int concurrency);

  const std::string& url() const;

 private:
  std::unique_ptr<ClientState> impl_;
};

// Calls curl_global_init, once; Client does it, so calling it is optional.
// Call it before starting threads that make Clients.
void GlobalInit();

}  // namespace toucan
