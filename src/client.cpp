// The HTTP side: libcurl handles, URL rules, retries and the mapping of failures to exit codes.
// This is the only file that includes <curl/curl.h>; libcurl itself is loaded at run time.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "toucan/token.hpp"

namespace toucan {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// libcurl is loaded on first use instead of being linked: Debian's libcurl pulls in OpenSSL,
// GnuTLS (through librtmp), LDAP and Kerberos, whose loading and constructors cost about 9 ms at
// every start. --version, --help and input errors should not pay that; a mint pays it as curl does.
#define TOUCAN_CURL_FUNCTIONS(X) \
  X(easy_cleanup)                \
  X(easy_getinfo)                \
  X(easy_header)                 \
  X(easy_init)                   \
  X(easy_reset)                  \
  X(easy_setopt)                 \
  X(easy_strerror)               \
  X(free)                        \
  X(global_init)                 \
  X(multi_add_handle)            \
  X(multi_cleanup)               \
  X(multi_info_read)             \
  X(multi_init)                  \
  X(multi_perform)               \
  X(multi_poll)                  \
  X(multi_remove_handle)         \
  X(multi_setopt)                \
  X(slist_append)                \
  X(slist_free_all)              \
  X(url)                         \
  X(url_cleanup)                 \
  X(url_get)                     \
  X(url_set)                     \
  X(url_strerror)

struct CurlApi {
#define TOUCAN_CURL_POINTER(name) \
  decltype(&::curl_##name) name = nullptr;  // NOLINT(bugprone-macro-parentheses)
  TOUCAN_CURL_FUNCTIONS(TOUCAN_CURL_POINTER)
#undef TOUCAN_CURL_POINTER
};

CurlApi LoadCurl() {
  void* library = nullptr;
  for (const char* soname : {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so"}) {
    library = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
    if (library) break;
  }
  if (!library) {
    throw Error(ErrorKind::kInternal, "cannot load libcurl (libcurl.so.4): install libcurl4");
  }
  CurlApi api;
#define TOUCAN_CURL_RESOLVE(name)                                                 \
  api.name = reinterpret_cast<decltype(api.name)>(dlsym(library, "curl_" #name)); \
  if (!api.name) throw Error(ErrorKind::kInternal, "libcurl lacks curl_" #name ": it is too old");
  TOUCAN_CURL_FUNCTIONS(TOUCAN_CURL_RESOLVE)
#undef TOUCAN_CURL_RESOLVE
  // Never unloaded: its handles may live until exit.
  return api;
}

const CurlApi& Curl() {
  static const CurlApi api = LoadCurl();
  return api;
}

// A server that asks for a longer wait has an outage or a quota problem that a token tool
// should report at once rather than sit through.
constexpr auto kMaxRetryAfter = std::chrono::seconds(60);
constexpr auto kBackoffBase = milliseconds(500);
constexpr auto kBackoffCap = milliseconds(20'000);

struct EasyDeleter {
  void operator()(CURL* handle) const { Curl().easy_cleanup(handle); }
};
struct MultiDeleter {
  void operator()(CURLM* handle) const { Curl().multi_cleanup(handle); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { Curl().slist_free_all(list); }
};
struct UrlDeleter {
  void operator()(CURLU* url) const { Curl().url_cleanup(url); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  if (Lower(host) == "localhost" || host == "[::1]") return true;
  in_addr address{};
  const std::string text(host);
  if (inet_pton(AF_INET, text.c_str(), &address) != 1) return false;
  return (ntohl(address.s_addr) >> 24) == 127;
}

std::string UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (Curl().url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return {};
  std::string out(value);
  Curl().free(value);
  return out;
}

std::string Seconds(Clock::duration duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", std::chrono::duration<double>(duration).count());
  return text;
}

std::string SecondsSetting(milliseconds value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(value.count()) / 1000.0);
  return text;
}

// One request in flight or waiting to be retried. Held by unique_ptr: libcurl keeps pointers to
// the error buffer and to this object (write callback), so its address must not change.
struct Transfer {
  MintJob job;
  int attempts = 0;
  EasyHandle easy;
  std::string reply;
  bool reply_too_large = false;
  char error_buffer[CURL_ERROR_SIZE] = {};
  Clock::time_point started;
  Clock::time_point ready_at;  // for retries waiting their turn
};

std::size_t CollectReply(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (transfer->reply.size() + bytes > kMaxResponseBytes) {
    transfer->reply_too_large = true;
    return CURL_WRITEFUNC_ERROR;
  }
  transfer->reply.append(data, bytes);
  return bytes;
}

// What one finished attempt amounts to.
struct Verdict {
  MintOutcome outcome;
  bool retryable = false;
  std::optional<milliseconds> retry_after;  // the server's wish, when it said one
  long status = 0;
};

}  // namespace

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (Curl().global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw Error(ErrorKind::kInternal, "libcurl failed to initialise");
    }
  });
}

namespace {

struct Endpoint {
  std::string url;
  std::string host;  // host[:port], for messages
  bool https = true;
};

Endpoint ResolveEndpoint(std::string_view base_url, std::string_view endpoint_path) {
  if (!IsValidUtf8(base_url)) throw UsageError("the base URL is not valid UTF-8");
  if (!IsValidUtf8(endpoint_path)) throw UsageError("the endpoint path is not valid UTF-8");
  const std::string base(Trim(base_url));
  const std::string quoted = "base URL '" + base + "'";
  UrlHandle url(Curl().url());
  if (!url) throw Error(ErrorKind::kInternal, "out of memory");
  if (base.find("://") == std::string::npos) {
    throw UsageError(quoted + " has no scheme: write it as https://" + base);
  }
  if (const auto rc = Curl().url_set(url.get(), CURLUPART_URL, base.c_str(), 0); rc != CURLUE_OK) {
    throw UsageError(quoted + " does not parse (" + Curl().url_strerror(rc) + ")");
  }
  const std::string scheme = Lower(UrlPart(url.get(), CURLUPART_SCHEME));
  const std::string host = UrlPart(url.get(), CURLUPART_HOST);
  if (scheme != "https" && scheme != "http") {
    throw UsageError(quoted + " must use https://");
  }
  if (host.empty()) throw UsageError(quoted + " has no host");
  if (scheme == "http" && !IsLoopbackHost(host)) {
    throw UsageError(quoted +
                     " uses plain http:// to a host that is not loopback; the API key "
                     "would cross the network unencrypted: use https:// (http:// is allowed only "
                     "for localhost, 127.0.0.0/8 and [::1])");
  }
  if (!UrlPart(url.get(), CURLUPART_USER).empty()) {
    throw UsageError(quoted +
                     " must not carry credentials; the key comes from the environment "
                     "or --api-key-file");
  }
  if (!UrlPart(url.get(), CURLUPART_QUERY).empty() ||
      !UrlPart(url.get(), CURLUPART_FRAGMENT).empty()) {
    throw UsageError(quoted + " must not carry a query or a fragment");
  }
  std::string path = UrlPart(url.get(), CURLUPART_PATH);
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string endpoint(Trim(endpoint_path));
  if (endpoint.empty() || endpoint.front() != '/') endpoint = "/" + endpoint;
  path += endpoint;
  if (const auto rc = Curl().url_set(url.get(), CURLUPART_PATH, path.c_str(), 0); rc != CURLUE_OK) {
    throw UsageError("endpoint path '" + endpoint + "' does not parse (" + Curl().url_strerror(rc) +
                     ")");
  }
  Endpoint resolved;
  resolved.url = UrlPart(url.get(), CURLUPART_URL);
  resolved.host = host;
  if (const auto port = UrlPart(url.get(), CURLUPART_PORT); !port.empty()) {
    resolved.host += ":" + port;
  }
  resolved.https = scheme == "https";
  return resolved;
}

}  // namespace

std::string ResolveEndpointUrl(std::string_view base_url, std::string_view endpoint_path) {
  return ResolveEndpoint(base_url, endpoint_path).url;
}

Json RedactedRequestHeaders() {
  Json headers = Json::object();
  headers["x-api-key"] = "***";
  headers["Content-Type"] = "application/json";
  headers["Accept"] = "application/json";
  headers["User-Agent"] = std::string("toucan-token/") + kVersion;
  return headers;
}

Json DryRunRequest(const std::string& url, const Json& body) {
  Json request = Json::object();
  request["method"] = "POST";
  request["url"] = url;
  request["headers"] = RedactedRequestHeaders();
  request["body"] = body;
  return request;
}

struct Client::Impl {
  ClientOptions options;
  std::string url;
  std::string host;  // host[:port], for messages
  bool https = true;
  HeaderList headers;
  MultiHandle multi;
  std::vector<EasyHandle> idle;  // finished handles, reused to keep their TLS session state
  std::mt19937_64 random{std::random_device{}()};

  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  std::string Redact(std::string text) const {
    const std::string& key = options.api_key;
    if (key.empty()) return text;
    for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos)) {
      text.replace(pos, key.size(), "***");
    }
    return text;
  }

  std::unique_ptr<Transfer> Prepare(MintJob job) {
    auto transfer = std::make_unique<Transfer>();
    transfer->job = std::move(job);
    return transfer;
  }

  void Start(Transfer& transfer) {
    if (!idle.empty()) {
      transfer.easy = std::move(idle.back());
      idle.pop_back();
      Curl().easy_reset(transfer.easy.get());
    } else {
      transfer.easy.reset(Curl().easy_init());
      if (!transfer.easy) throw Error(ErrorKind::kInternal, "out of memory");
    }
    transfer.reply.clear();
    transfer.reply_too_large = false;
    transfer.error_buffer[0] = '\0';
    CURL* easy = transfer.easy.get();
    Curl().easy_setopt(easy, CURLOPT_URL, url.c_str());
    Curl().easy_setopt(easy, CURLOPT_PRIVATE, &transfer);
    Curl().easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    Curl().easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
    Curl().easy_setopt(easy, CURLOPT_POSTFIELDS, transfer.job.body.c_str());
    Curl().easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(transfer.job.body.size()));
    Curl().easy_setopt(easy, CURLOPT_WRITEFUNCTION, CollectReply);
    Curl().easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
    Curl().easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error_buffer);
    Curl().easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxResponseBytes));
    Curl().easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    Curl().easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(options.connect_timeout.count()));
    // Redirects are refused: following one would send the key to whatever host it names.
    Curl().easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    Curl().easy_setopt(easy, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
    Curl().easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    Curl().easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options.ca_bundle.empty())
      Curl().easy_setopt(easy, CURLOPT_CAINFO, options.ca_bundle.c_str());
    // Over HTTP/2, wait for the one connection to multiplex on instead of opening more.
    if (https) Curl().easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    transfer.started = Clock::now();
    ++transfer.attempts;
    if (Curl().multi_add_handle(multi.get(), easy) != CURLM_OK) {
      throw Error(ErrorKind::kInternal, "libcurl refused a transfer");
    }
  }

  void Release(Transfer& transfer) {
    if (!transfer.easy) return;
    Curl().multi_remove_handle(multi.get(), transfer.easy.get());
    idle.push_back(std::move(transfer.easy));
  }

  Verdict FromStatus(Transfer& transfer, long status) const {
    Verdict verdict;
    verdict.status = status;
    const auto fail = [&](ErrorKind kind, const std::string& message) {
      verdict.outcome.error = Error(kind, message, status);
    };
    // Server text is redacted: the key must never reach a message, even when a server echoes it.
    const std::string said = Redact(ServerMessageExcerpt(transfer.reply));
    const std::string reply =
        "HTTP " + std::to_string(status) + (said.empty() ? std::string() : ": \"" + said + "\"");
    if (status >= 200 && status < 300) {
      if (transfer.reply_too_large) {
        fail(ErrorKind::kBadResponse,
             "the reply from " + host +
                 " is larger than 1 MiB; a token "
                 "reply is a few KiB: check --base-url and --endpoint-path");
        return verdict;
      }
      try {
        verdict.outcome.response =
            ParseTokenResponse(transfer.reply, std::chrono::system_clock::now());
      } catch (const Error& e) {
        fail(ErrorKind::kBadResponse, std::string("bad reply from ") + host + " (HTTP " +
                                          std::to_string(status) + "): " + e.what() +
                                          "; check --base-url and --endpoint-path");
      }
      return verdict;
    }
    if (status >= 300 && status < 400) {
      char* location = nullptr;
      Curl().easy_getinfo(transfer.easy.get(), CURLINFO_REDIRECT_URL, &location);
      std::string target = "another place";
      if (location) target.assign("'").append(Redact(location)).append("'");
      fail(ErrorKind::kRejected,
           "the server answered " + std::to_string(status) + " redirecting to " + target +
               "; redirects are not followed so the key never goes elsewhere: point --base-url "
               "at the final address");
      return verdict;
    }
    if (status == 401 || status == 403) {
      fail(ErrorKind::kCredentials, "credentials rejected (" + reply + "): check " +
                                        options.api_key_source +
                                        " and that the key belongs to the instance at " + host);
      return verdict;
    }
    if (status == 429 || status == 502 || status == 503 || status == 504) {
      verdict.retryable = true;
      if (curl_header* header = nullptr;
          Curl().easy_header(transfer.easy.get(), "Retry-After", 0, CURLH_HEADER, -1, &header) ==
          CURLHE_OK) {
        curl_off_t wait = 0;
        Curl().easy_getinfo(transfer.easy.get(), CURLINFO_RETRY_AFTER, &wait);
        verdict.retry_after = std::chrono::seconds(std::max<curl_off_t>(wait, 0));
      }
      fail(ErrorKind::kUnavailable,
           std::string(status == 429 ? "rate limited" : "service unavailable") + " (" + reply +
               ") after " + std::to_string(transfer.attempts) +
               (transfer.attempts == 1 ? " attempt" : " attempts") +
               ": try again later, or raise --retries");
      return verdict;
    }
    if (status >= 400 && status < 500) {
      const std::string hint =
          status == 404 ? "check --base-url and --endpoint-path (the URL was " + url + ")"
          : status == 400 || status == 422
              ? "check the distinct id, role, attributes and permissions"
              : "check the request with --dry-run";
      fail(ErrorKind::kRejected, "request rejected (" + reply + "): " + hint);
      return verdict;
    }
    if (status >= 500 && status < 600) {
      fail(ErrorKind::kUnavailable,
           "server error (" + reply + "): the service at " + host + " failed; try again later");
      return verdict;
    }
    fail(ErrorKind::kBadResponse, "unexpected reply (" + reply + ") from " + host);
    return verdict;
  }

  Verdict FromTransport(Transfer& transfer, CURLcode code) const {
    Verdict verdict;
    const std::string detail =
        Redact(transfer.error_buffer[0] ? transfer.error_buffer : Curl().easy_strerror(code));
    const auto fail = [&](ErrorKind kind, bool retry, const std::string& message) {
      verdict.outcome.error = Error(kind, message);
      verdict.retryable = retry;
    };
    switch (code) {
      case CURLE_COULDNT_RESOLVE_HOST:
        fail(ErrorKind::kNetwork, true,
             "could not resolve the host of " + url + " (" + detail +
                 "): check --base-url, DNS and proxy settings");
        break;
      case CURLE_COULDNT_RESOLVE_PROXY:
        fail(ErrorKind::kNetwork, true,
             "could not resolve the proxy (" + detail + "): check HTTPS_PROXY / ALL_PROXY");
        break;
      case CURLE_COULDNT_CONNECT:
        fail(ErrorKind::kNetwork, true,
             "could not connect to " + host + " (" + detail +
                 "): check --base-url and that the service is up; "
                 "for a proxy, check HTTPS_PROXY and NO_PROXY");
        break;
      case CURLE_OPERATION_TIMEDOUT:
        fail(ErrorKind::kNetwork, true,
             "timed out talking to " + host + " (" + detail + "); limits: --connect-timeout " +
                 SecondsSetting(options.connect_timeout) + " s, --timeout " +
                 SecondsSetting(options.timeout) + " s");
        break;
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
        fail(ErrorKind::kNetwork, true,
             "the connection to " + host + " failed (" + detail + "); check the network");
        break;
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CONNECT_ERROR:
        fail(ErrorKind::kNetwork, false,
             "TLS with " + host + " failed (" + detail +
                 "): if the server uses a private CA or "
                 "a TLS-inspecting proxy, pass its CA bundle with --cacert (or TOUCAN_CA_BUNDLE)");
        break;
      case CURLE_WEIRD_SERVER_REPLY:
      case CURLE_UNSUPPORTED_PROTOCOL:  // the URL was checked before: this is the reply (HTTP/0.9)
        fail(ErrorKind::kBadResponse, false,
             "the reply from " + host + " is not HTTP (" + detail + "); check --base-url");
        break;
      case CURLE_FILESIZE_EXCEEDED:
        fail(ErrorKind::kBadResponse, false, "the reply from " + host + " is larger than 1 MiB");
        break;
      case CURLE_URL_MALFORMAT:
        fail(ErrorKind::kUsage, false, "cannot use " + url + " (" + detail + ")");
        break;
      default:
        fail(ErrorKind::kNetwork, false, "the request to " + host + " failed (" + detail + ")");
    }
    return verdict;
  }

  Verdict Judge(Transfer& transfer, CURLcode code) const {
    long status = 0;
    Curl().easy_getinfo(transfer.easy.get(), CURLINFO_RESPONSE_CODE, &status);
    // A reply cut at the size cap (by the write callback or by a Content-Length over it) still
    // has a status worth judging: an oversized 2xx is a bad reply, an oversized 4xx still a 4xx.
    if (code == CURLE_FILESIZE_EXCEEDED) transfer.reply_too_large = true;
    if (status > 0 && (code == CURLE_OK || transfer.reply_too_large)) {
      return FromStatus(transfer, status);
    }
    return FromTransport(transfer, code);
  }

  milliseconds Backoff(int attempts) {
    // Full jitter: a uniform wait up to the exponential bound, so that clients that failed
    // together do not retry together.
    const double bound =
        std::min<double>(static_cast<double>(kBackoffCap.count()),
                         static_cast<double>(kBackoffBase.count()) * std::pow(2.0, attempts - 1));
    std::uniform_real_distribution<double> pick(0.0, bound);
    return milliseconds(static_cast<milliseconds::rep>(pick(random)));
  }

  void Run(const std::function<NextJob()>& next,
           const std::function<void(std::uint64_t, MintOutcome)>& done, int concurrency);
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  GlobalInit();
  Impl& impl = *impl_;
  impl.options = std::move(options);
  Endpoint endpoint = ResolveEndpoint(impl.options.base_url, impl.options.endpoint_path);
  impl.url = std::move(endpoint.url);
  impl.host = std::move(endpoint.host);
  impl.https = endpoint.https;
  ValidateApiKey(impl.options.api_key, impl.options.api_key_source);
  if (!impl.options.ca_bundle.empty() && !std::ifstream(impl.options.ca_bundle).good()) {
    throw UsageError("cannot read the CA bundle '" + impl.options.ca_bundle + "'");
  }
  if (impl.options.timeout.count() <= 0 || impl.options.connect_timeout.count() <= 0) {
    throw UsageError("timeouts must be greater than zero");
  }
  if (impl.options.retries < 0) throw UsageError("--retries must not be negative");
  const auto append = [&](const std::string& line) {
    curl_slist* list = Curl().slist_append(impl.headers.get(), line.c_str());
    if (!list) throw Error(ErrorKind::kInternal, "out of memory");
    // The list head stays the same once it exists; keep ownership in one place.
    [[maybe_unused]] curl_slist* previous = impl.headers.release();
    impl.headers.reset(list);
  };
  append("x-api-key: " + impl.options.api_key);
  append("Content-Type: application/json");
  append("Accept: application/json");
  append(std::string("User-Agent: toucan-token/") + kVersion);
  append("Expect:");  // no 100-continue round trip
  impl.multi.reset(Curl().multi_init());
  if (!impl.multi) throw Error(ErrorKind::kInternal, "out of memory");
}

Client::~Client() = default;

const std::string& Client::url() const { return impl_->url; }

void Client::Impl::Run(const std::function<NextJob()>& next,
                       const std::function<void(std::uint64_t, MintOutcome)>& done,
                       int concurrency) {
  concurrency = std::clamp(concurrency, 1, 256);
  Curl().multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(concurrency));
  Curl().multi_setopt(multi.get(), CURLMOPT_MAXCONNECTS, static_cast<long>(concurrency));
  std::map<CURL*, std::unique_ptr<Transfer>> active;
  std::deque<std::unique_ptr<Transfer>> waiting;  // retries waiting for their time
  Clock::time_point paused_until{};               // shared 429 backoff
  bool source_done = false;
  std::optional<Error> stop;

  const auto start = [&](std::unique_ptr<Transfer> transfer) {
    Start(*transfer);
    if (options.log) {
      Log("POST " + url + " (request " + std::to_string(transfer->job.id) + ", attempt " +
          std::to_string(transfer->attempts) + " of " + std::to_string(options.retries + 1) + ")");
    }
    CURL* easy = transfer->easy.get();
    active.emplace(easy, std::move(transfer));
  };

  const auto finish = [&](std::unique_ptr<Transfer> transfer, CURLcode code) {
    Verdict verdict = Judge(*transfer, code);
    const auto now = Clock::now();
    const std::string elapsed = Seconds(now - transfer->started);
    Release(*transfer);
    Log("request " + std::to_string(transfer->job.id) + " attempt " +
        std::to_string(transfer->attempts) + ": " +
        (verdict.status
             ? "HTTP " + std::to_string(verdict.status) + " after " + elapsed + " s"
             : "failed after " + elapsed + " s: " +
                   std::string(verdict.outcome.error ? verdict.outcome.error->what() : "")));
    if (verdict.retryable && verdict.retry_after && *verdict.retry_after > kMaxRetryAfter) {
      const auto when = std::chrono::system_clock::now() + *verdict.retry_after;
      stop = Error(
          ErrorKind::kUnavailable,
          std::string(verdict.status == 429 ? "rate limited" : "service unavailable") + " (HTTP " +
              std::to_string(verdict.status) + "): the server asks to retry after " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(*verdict.retry_after).count()) +
              " s; try again at " + FormatRfc3339(when),
          verdict.status);
      done(transfer->job.id, MintOutcome{std::nullopt, stop});
      return;
    }
    if (verdict.retryable && transfer->attempts <= options.retries) {
      const milliseconds wait =
          verdict.retry_after ? *verdict.retry_after : Backoff(transfer->attempts);
      transfer->ready_at = now + wait;
      if (verdict.status == 429) paused_until = std::max(paused_until, transfer->ready_at);
      Log("retrying request " + std::to_string(transfer->job.id) + " in " + Seconds(wait) + " s" +
          (verdict.retry_after ? " (Retry-After)" : ""));
      waiting.push_back(std::move(transfer));
      return;
    }
    done(transfer->job.id, std::move(verdict.outcome));
  };

  while (true) {
    auto now = Clock::now();
    if (stop) {
      for (auto& [easy, transfer] : active) {
        Release(*transfer);
        done(transfer->job.id, MintOutcome{std::nullopt, stop});
      }
      active.clear();
      for (auto& transfer : waiting) done(transfer->job.id, MintOutcome{std::nullopt, stop});
      waiting.clear();
      while (!source_done) {
        NextJob job = next();
        if (job.state != NextJob::State::kJob) break;
        done(job.job.id, MintOutcome{std::nullopt, stop});
      }
      return;
    }
    if (now >= paused_until) {
      // Retries first, in order, then new jobs while there is room.
      for (auto it = waiting.begin();
           it != waiting.end() && active.size() < static_cast<std::size_t>(concurrency);) {
        if ((*it)->ready_at > now) {
          ++it;
          continue;
        }
        auto transfer = std::move(*it);
        it = waiting.erase(it);
        start(std::move(transfer));
      }
      while (!source_done &&
             active.size() + waiting.size() < static_cast<std::size_t>(concurrency)) {
        NextJob job = next();
        if (job.state == NextJob::State::kEnd) source_done = true;
        if (job.state != NextJob::State::kJob) break;
        start(Prepare(std::move(job.job)));
      }
    }
    if (active.empty() && waiting.empty() && source_done) return;

    int running = 0;
    Curl().multi_perform(multi.get(), &running);
    int left = 0;
    bool finished_any = false;
    while (CURLMsg* message = Curl().multi_info_read(multi.get(), &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      const auto found = active.find(message->easy_handle);
      if (found == active.end()) continue;
      auto transfer = std::move(found->second);
      active.erase(found);
      finish(std::move(transfer), message->data.result);
      finished_any = true;
    }
    // A finished transfer frees room for the next job: hand it out before sleeping.
    if (stop || finished_any) continue;

    // Sleep until a socket is ready or the next retry or pause is due.
    now = Clock::now();
    auto wake = now + milliseconds(1000);
    for (const auto& transfer : waiting) wake = std::min(wake, transfer->ready_at);
    if (paused_until > now) wake = std::min(wake, paused_until);
    const auto timeout = std::chrono::duration_cast<milliseconds>(wake - now).count();
    if (!active.empty() || timeout > 0) {
      Curl().multi_poll(multi.get(), nullptr, 0, static_cast<int>(std::max<long long>(timeout, 0)),
                        nullptr);
    }
  }
}

void Client::MintMany(const std::function<NextJob()>& next,
                      const std::function<void(std::uint64_t, MintOutcome)>& done,
                      int concurrency) {
  impl_->Run(next, done, concurrency);
}

TokenResponse Client::Mint(const TokenRequest& request) {
  const std::string body = BuildRequestBody(request).dump();
  if (impl_->options.log) {
    impl_->Log("request headers: " + RedactedRequestHeaders().dump());
    impl_->Log("request body: " + body);
  }
  bool given = false;
  MintOutcome result;
  impl_->Run(
      [&] {
        NextJob next;
        if (!given) {
          given = true;
          next.state = NextJob::State::kJob;
          next.job = MintJob{1, body};
        }
        return next;
      },
      [&](std::uint64_t, MintOutcome outcome) { result = std::move(outcome); }, 1);
  if (result.error) throw *result.error;
  if (!result.response) throw Error(ErrorKind::kInternal, "the request ended without an outcome");
  return std::move(*result.response);
}

}  // namespace toucan
