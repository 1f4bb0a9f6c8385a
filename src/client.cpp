// The HTTP side: libcurl handles and the transfer loop. The only file that calls libcurl; what a
// reply means and when to retry is decided in outcome.cpp.
#include "toucan/client.hpp"

#include <curl/curl.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "outcome.hpp"

namespace toucan {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kInterruptGrace = std::chrono::seconds(2);  // for requests in flight, if interrupted

template <auto Free>
struct Deleter {
  void operator()(auto* handle) const { Free(handle); }
};
using EasyHandle = std::unique_ptr<CURL, Deleter<curl_easy_cleanup>>;
using MultiHandle = std::unique_ptr<CURLM, Deleter<curl_multi_cleanup>>;
using HeaderList = std::unique_ptr<curl_slist, Deleter<curl_slist_free_all>>;

// An option libcurl refuses would silently weaken a safety setting: stop instead.
template <typename Value>
void Set(CURL* easy, CURLoption option, Value value) {
  if (const CURLcode rc = curl_easy_setopt(easy, option, value); rc != CURLE_OK) {
    const curl_easyoption* known = curl_easy_option_by_id(option);
    throw Error(ErrorKind::kInternal, std::string("libcurl refused CURLOPT_") +
                                          (known ? known->name : "?") + ": " +
                                          curl_easy_strerror(rc));
  }
}

// Whether the server asked for a client certificate. Shared between the transfer that opened the
// connection and the connection's SSL_CTX, which may outlive the transfer (a reused connection).
using CertificateAsked = std::shared_ptr<std::atomic<bool>>;

// One request in flight or waiting to be retried. Held by unique_ptr: libcurl keeps pointers to
// the error buffer and to this object (callbacks), so its address must not change.
struct Transfer {
  MintJob job;
  int attempts = 0;
  bool fresh_connection = false;
  EasyHandle easy;
  struct Received {  // by the current attempt
    std::string reply;
    bool reply_too_large = false;
    std::size_t header_bytes = 0;
    bool headers_too_large = false;
    CertificateAsked certificate_asked = std::make_shared<std::atomic<bool>>(false);
    char error_buffer[CURL_ERROR_SIZE] = {};
  } got;
  Clock::time_point started;
  Clock::time_point ready_at;       // for retries waiting their turn
  std::optional<Error> last_error;  // why the retry waiting its turn is needed
};

std::size_t CollectReply(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (transfer->got.reply.size() + bytes > kMaxResponseBytes) {
    transfer->got.reply_too_large = true;
    return CURL_WRITEFUNC_ERROR;
  }
  transfer->got.reply.append(data, bytes);
  return bytes;
}

// Headers are read by libcurl itself (curl_easy_header); this only enforces the size cap.
std::size_t CountHeaders(char*, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  transfer->got.header_bytes += size * count;
  if (transfer->got.header_bytes > kMaxHeaderBytes) {
    transfer->got.headers_too_large = true;
    return 0;
  }
  return size * count;
}

// The SSL_CTX owns a reference to the flag, dropped when OpenSSL frees it.
int TlsNotesIndex() {
  static const int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* asked, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<CertificateAsked*>(asked);
      });
  return index;
}

// OpenSSL asks for a client certificate only when the server requested one: the one sure sign,
// whichever way the handshake then fails (TLS 1.3 servers reject the missing certificate only
// after the client considers the handshake done).
int NoteClientCertificateRequest(SSL* ssl, X509**, EVP_PKEY**) {
  const auto* asked =
      static_cast<CertificateAsked*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), TlsNotesIndex()));
  if (asked) **asked = true;
  return 0;  // no certificate to offer
}

CURLcode WatchClientCertificateRequests(CURL*, void* ssl_ctx, void* user) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  const auto* transfer = static_cast<const Transfer*>(user);
  delete static_cast<CertificateAsked*>(SSL_CTX_get_ex_data(ctx, TlsNotesIndex()));
  SSL_CTX_set_ex_data(ctx, TlsNotesIndex(), new CertificateAsked(transfer->got.certificate_asked));
  SSL_CTX_set_client_cert_cb(ctx, NoteClientCertificateRequest);
  return CURLE_OK;
}

std::optional<std::string> LastHeader(CURL* easy, const char* name) {
  curl_header* header = nullptr;
  if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &header) != CURLHE_OK || !header) {
    return std::nullopt;
  }
  // Without its surrounding whitespace: libcurl leaves the line's CR in an empty value.
  return std::string(Trim(header->value));
}

// A request that needed a retry keeps its last reply's status and what it said.
Error RetryNotMade(const Error& stop, const std::optional<Error>& last) {
  std::string message = std::string("the retry was not made: ") + stop.what();
  if (last) message += std::string("; the last attempt: ") + last->what();
  return {stop.kind(), message, last ? last->http_status() : std::nullopt};
}

}  // namespace

std::string LibraryVersions() {
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  const bool http2 = (info->features & CURL_VERSION_HTTP2) != 0;
  return std::string("libcurl ") + info->version +
         "\nTLS: " + (info->ssl_version ? info->ssl_version : "none") +
         "\nHTTP/2: " + (http2 ? "yes" : "no") +
         (http2 && info->nghttp2_version ? std::string(" (nghttp2 ") + info->nghttp2_version + ")"
                                         : "");
}

// Where libcurl takes a proxy from, in its order for an https URL; the http ones are listed for
// their passwords only.
constexpr const char* kProxyVariables[] = {"https_proxy", "HTTPS_PROXY", "all_proxy",
                                           "ALL_PROXY",   "http_proxy",  "HTTP_PROXY"};

// The context messages name, and the handles.
struct ClientState : RequestContext {
  // Each proxy variable's userinfo: verbatim (a space splits a Redactor's windows) and in any form.
  std::vector<std::pair<std::string, Redactor>> proxy_secrets;
  HeaderList headers;
  MultiHandle multi;
  std::vector<EasyHandle> idle;  // finished handles, reused to keep their TLS session state
  // Seeded on the first backoff: std::random_device asks the CPU (cpuid, costly in a VM) at
  // construction, which a run without retries never needs.
  std::optional<std::mt19937_64> random;

  // `line` builds the text only when someone reads it: a batch would build two lines per row.
  template <typename Line>
  void Log(const Line& line) const {
    if (options.log) options.log(line());
  }

  void Configure(Transfer& transfer) {
    CURL* easy = transfer.easy.get();
    Set(easy, CURLOPT_URL, endpoint.url.c_str());
    Set(easy, CURLOPT_NOSIGNAL, 1L);
    Set(easy, CURLOPT_HTTPHEADER, headers.get());
    Set(easy, CURLOPT_POSTFIELDS, transfer.job.body.c_str());
    Set(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(transfer.job.body.size()));
    Set(easy, CURLOPT_WRITEFUNCTION, CollectReply);
    Set(easy, CURLOPT_WRITEDATA, &transfer);
    Set(easy, CURLOPT_HEADERFUNCTION, CountHeaders);
    Set(easy, CURLOPT_HEADERDATA, &transfer);
    Set(easy, CURLOPT_ERRORBUFFER, transfer.got.error_buffer);
    Set(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxResponseBytes));
    Set(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    Set(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    // Redirects are refused: following one would send the key to whatever host it names.
    Set(easy, CURLOPT_FOLLOWLOCATION, 0L);
    Set(easy, CURLOPT_PROTOCOLS_STR, endpoint.https ? "https" : "http");
    Set(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    Set(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options.ca_bundle.empty()) {
      // The bundle replaces the system store: libcurl would otherwise still consult its built-in
      // certificate folder (/etc/ssl/certs on Debian) beside the file.
      Set(easy, CURLOPT_CAINFO, options.ca_bundle.c_str());
      Set(easy, CURLOPT_CAPATH, nullptr);
    }
    // A proxy would carry a plain-http key across the network: loopback goes direct.
    if (endpoint.loopback) Set(easy, CURLOPT_PROXY, "");
    // Only with an OpenSSL build of libcurl; elsewhere the message is a little less precise.
    if (endpoint.https && curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION,
                                           WatchClientCertificateRequests) == CURLE_OK) {
      Set(easy, CURLOPT_SSL_CTX_DATA, &transfer);
    }
    // Over HTTP/2, wait for the one connection to multiplex on instead of opening more.
    if (endpoint.https) Set(easy, CURLOPT_PIPEWAIT, 1L);
    // After a connection died, the retry must not go over it (nor over its siblings).
    if (transfer.fresh_connection) Set(easy, CURLOPT_FRESH_CONNECT, 1L);
  }

  void Release(Transfer& transfer) {
    if (!transfer.easy) return;
    curl_multi_remove_handle(multi.get(), transfer.easy.get());
    idle.push_back(std::move(transfer.easy));
  }

  Verdict Judge(Transfer& transfer, CURLcode code) {
    CURL* easy = transfer.easy.get();
    Transfer::Received& got = transfer.got;
    attempts = transfer.attempts;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    // A reply cut at the size cap (by the write callback or by a Content-Length over it) still
    // has a status worth judging: an oversized 2xx is a bad reply, an oversized 4xx still a 4xx.
    if (code == CURLE_FILESIZE_EXCEEDED) got.reply_too_large = true;
    // libcurl refuses a single header line over 100 KiB before our callback sees it, as "out of
    // memory" (CURLE_TOO_LARGE, 100, since 8.6); after a status line, that is the server's doing.
    const bool header_refused = code == CURLE_OUT_OF_MEMORY || static_cast<int>(code) == 100;
    if (header_refused && got.header_bytes > 0) got.headers_too_large = true;
    if (status > 0 && !got.headers_too_large && (code == CURLE_OK || got.reply_too_large)) {
      return JudgeReply(*this, {.status = status,
                                .body = got.reply,
                                .body_too_large = got.reply_too_large,
                                .location = LastHeader(easy, "Location"),
                                .retry_after = LastHeader(easy, "Retry-After")});
    }
    std::string detail = got.error_buffer[0] ? got.error_buffer : curl_easy_strerror(code);
    for (const auto& [secret, any_form] : proxy_secrets) {
      for (auto at = detail.find(secret); at != std::string::npos; at = detail.find(secret, at + 3))
        detail.replace(at, secret.size(), "***");
      detail = any_form.Apply(detail);
    }
    long verify = 0;
    curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &verify);
    return JudgeTransport(*this, {.code = got.reply_too_large ? CURLE_FILESIZE_EXCEEDED : code,
                                  .detail = std::move(detail),
                                  .tls_verify_result = verify,
                                  .headers_too_large = got.headers_too_large,
                                  .client_certificate_requested = *got.certificate_asked});
  }
};

namespace {

// Starts jobs while there is room, judges finished ones, queues retries, sleeps until needed.
class TransferLoop {
 public:
  TransferLoop(ClientState& impl, const RunCallbacks& callbacks, int concurrency)
      : impl_(impl),
        callbacks_(callbacks),
        concurrency_(static_cast<std::size_t>(std::clamp(concurrency, 1, 256))) {
    curl_multi_setopt(impl_.multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(concurrency_));
    curl_multi_setopt(impl_.multi.get(), CURLMOPT_MAXCONNECTS, static_cast<long>(concurrency_));
  }

  void Run() {
    while (true) {
      if (callbacks_.interrupted && callbacks_.interrupted() && !HandleInterrupt()) return;
      // A stop ends new work, but the loop goes on until the requests in flight end.
      if (stopped_by_) {
        WindDown();
      } else {
        StartReady();
      }
      if (active_.empty() && waiting_.empty() && source_done_) return;
      if (PerformAndCollect()) continue;  // a finished transfer frees room: refill first
      Sleep();
    }
  }

 private:
  void Fail(std::uint64_t id, Error error) {
    callbacks_.done(id, MintOutcome{std::nullopt, std::move(error)});
  }

  std::optional<MintJob> Pull() {
    NextJob next = callbacks_.next();
    if (next.state == NextJob::State::kEnd) source_done_ = true;
    if (next.state != NextJob::State::kJob) return std::nullopt;
    return std::move(next.job);
  }

  void Launch(std::unique_ptr<Transfer> transfer) {
    if (!impl_.idle.empty()) {
      transfer->easy = std::move(impl_.idle.back());
      impl_.idle.pop_back();
      curl_easy_reset(transfer->easy.get());
    } else {
      transfer->easy.reset(curl_easy_init());
      if (!transfer->easy) throw Error(ErrorKind::kInternal, "out of memory");
    }
    transfer->got = {};
    impl_.Configure(*transfer);
    transfer->started = Clock::now();
    ++transfer->attempts;
    if (curl_multi_add_handle(impl_.multi.get(), transfer->easy.get()) != CURLM_OK) {
      throw Error(ErrorKind::kInternal, "libcurl refused a transfer");
    }
    impl_.Log([&] {
      return "POST " + impl_.endpoint.url + " (request " + std::to_string(transfer->job.id) +
             ", attempt " + std::to_string(transfer->attempts) + " of " +
             std::to_string(impl_.options.retries + 1) + ")";
    });
    active_.emplace(transfer->easy.get(), std::move(transfer));
  }

  void StartReady() {
    const auto now = Clock::now();
    if (now < paused_until_) return;
    for (auto it = waiting_.begin(); it != waiting_.end() && active_.size() < concurrency_;) {
      if ((*it)->ready_at > now) {
        ++it;
      } else {
        Launch(std::move(*it));
        it = waiting_.erase(it);
      }
    }
    while (!source_done_ && active_.size() + waiting_.size() < concurrency_) {
      auto job = Pull();
      if (!job) break;
      auto transfer = std::make_unique<Transfer>();
      transfer->job = std::move(*job);
      Launch(std::move(transfer));
    }
  }

  bool PerformAndCollect() {
    int running = 0;
    curl_multi_perform(impl_.multi.get(), &running);
    int left = 0;
    bool finished_any = false;
    while (CURLMsg* message = curl_multi_info_read(impl_.multi.get(), &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      const auto found = active_.find(message->easy_handle);
      if (found == active_.end()) continue;
      Finish(std::move(active_.extract(found).mapped()), message->data.result);
      finished_any = true;
    }
    return finished_any;
  }

  void Finish(std::unique_ptr<Transfer> transfer, CURLcode code) {
    Verdict verdict = impl_.Judge(*transfer, code);
    impl_.Release(*transfer);
    impl_.Log([&] {
      const std::string elapsed = Seconds(Clock::now() - transfer->started);
      return "request " + std::to_string(transfer->job.id) + " attempt " +
             std::to_string(transfer->attempts) + ": " +
             (verdict.status ? "HTTP " + std::to_string(verdict.status) + " after " + elapsed + " s"
                             : "failed after " + elapsed + " s: " +
                                   std::string(verdict.error ? verdict.error->what() : ""));
    });
    // The first wait too long decides what the lines left unsent are told: when to run them.
    if (const auto& wait = verdict.retry_after; wait && wait->too_long && !stopped_by_) {
      stopped_by_ = Error(ErrorKind::kUnavailable, "the server asked to retry after " + wait->said +
                                                       " (at " + wait->until + ")");
    }
    if (!verdict.retryable || transfer->attempts > impl_.options.retries || interrupted_since_) {
      if (!stopped_by_ && !callbacks_.keep_going && verdict.fails_every_request) {
        const Error& error = *verdict.error;
        stopped_by_ = Error(error.kind(), std::string(error.what()) + " (line " +
                                              std::to_string(transfer->job.id) + ")");
        if (callbacks_.stopped) callbacks_.stopped(transfer->job.id, error);
      }
      callbacks_.done(transfer->job.id,
                      MintOutcome{std::move(verdict.response), std::move(verdict.error)});
      return;
    }
    // Winding down after a stop: no retry starts, whatever this request needed.
    if (stopped_by_) return Fail(transfer->job.id, RetryNotMade(*stopped_by_, verdict.error));
    transfer->last_error = std::move(verdict.error);
    if (!impl_.random) impl_.random.emplace(std::random_device{}());
    const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(*impl_.random);
    const milliseconds wait = RetryDelay(verdict, transfer->attempts, unit);
    transfer->ready_at = Clock::now() + wait;
    transfer->fresh_connection = verdict.fresh_connection;
    // A 429 speaks for the whole client: nothing starts before the rate-limited retry.
    if (verdict.status == 429) paused_until_ = std::max(paused_until_, transfer->ready_at);
    impl_.Log([&] {
      return "retrying request " + std::to_string(transfer->job.id) + " in " + Seconds(wait) +
             " s" + (verdict.retry_after ? " (Retry-After)" : "");
    });
    waiting_.push_back(std::move(transfer));
  }

  // After a stop, the requests in flight run to their end: the server may have minted their
  // tokens already. Queued retries and the lines still unread fail with the reason.
  void WindDown() {
    for (auto& transfer : waiting_)
      Fail(transfer->job.id, RetryNotMade(*stopped_by_, transfer->last_error));
    waiting_.clear();
    // Rows are written in input order, so the source may answer kNotNow while a request in
    // flight holds up its window: the rest is drained on a later turn, memory stays bounded.
    while (!source_done_) {
      const auto job = Pull();
      if (!job) break;
      Fail(job->id, Error(stopped_by_->kind(), std::string("not sent: ") + stopped_by_->what()));
    }
  }

  // Queued retries fail at once, requests in flight after a grace. False: the loop should end.
  bool HandleInterrupt() {
    if (!interrupted_since_) {
      interrupted_since_ = Clock::now();
      source_done_ = true;
      const Error error(ErrorKind::kInterrupted, "interrupted before a reply arrived");
      for (auto& transfer : waiting_) Fail(transfer->job.id, error);
      waiting_.clear();
    }
    if (active_.empty()) return false;
    if (Clock::now() - *interrupted_since_ < kInterruptGrace) return true;
    const Error error(ErrorKind::kInterrupted, "interrupted before the reply arrived");
    for (auto& [easy, transfer] : active_) {
      impl_.Release(*transfer);
      Fail(transfer->job.id, error);
    }
    active_.clear();
    return false;
  }

  // Until a socket is ready or the next retry, pause or interrupt check is due.
  void Sleep() {
    const auto now = Clock::now();
    // Interrupts are noticed by polling a flag, so never sleep long.
    auto wake = now + milliseconds(callbacks_.interrupted ? 100 : 1000);
    for (const auto& transfer : waiting_) wake = std::min(wake, transfer->ready_at);
    if (paused_until_ > now) wake = std::min(wake, paused_until_);
    const auto timeout = std::chrono::duration_cast<milliseconds>(wake - now).count();
    curl_multi_poll(impl_.multi.get(), nullptr, 0,
                    static_cast<int>(std::max<long long>(timeout, 0)), nullptr);
  }

  ClientState& impl_;
  const RunCallbacks& callbacks_;
  std::size_t concurrency_;
  std::map<CURL*, std::unique_ptr<Transfer>> active_;
  std::deque<std::unique_ptr<Transfer>> waiting_;  // retries waiting for their time
  Clock::time_point paused_until_{};               // shared 429 backoff
  std::optional<Clock::time_point> interrupted_since_;
  bool source_done_ = false;
  // A Retry-After over kMaxRetryAfter or a failure every request would meet: what the lines not
  // sent and the retries not made are told (the hint is on the row of the line that met it).
  std::optional<Error> stopped_by_;
};

}  // namespace

Client::Client(ClientOptions options) : impl_(std::make_unique<ClientState>()) {
  static const CURLcode initialised = curl_global_init(CURL_GLOBAL_DEFAULT);  // once, thread-safe
  if (initialised != CURLE_OK) throw Error(ErrorKind::kInternal, "libcurl failed to initialise");
  ClientState& impl = *impl_;
  impl.options = std::move(options);
  const ClientOptions& o = impl.options;
  impl.endpoint = ResolveEndpoint(o.base_url, o.endpoint_path);
  ValidateApiKey(o.api_key, o.api_key_source);
  if (!o.ca_bundle.empty()) CheckCaBundle(o.ca_bundle);
  if (o.timeout.count() <= 0 || o.connect_timeout.count() <= 0) {
    throw UsageError("timeouts must be greater than zero");
  }
  if (o.retries < 0) throw UsageError("the retry count must not be negative");
  impl.redactor = Redactor(o.api_key);
  // libcurl quotes a proxy URL it cannot use whole, password included: shown as ***@.
  for (std::size_t i = 0; i < std::size(kProxyVariables); ++i) {
    const char* value = std::getenv(kProxyVariables[i]);
    if (value == nullptr || *value == '\0') continue;
    if (impl.proxy_variable.empty() && i < 4 && impl.endpoint.https && !impl.endpoint.loopback) {
      impl.proxy_variable = kProxyVariables[i];
    }
    // A password may hold '?', '#' or a space, where a URL's authority would end: all that
    // stands before the setting's last '@' is secret.
    const std::string text(value);
    const std::size_t at = text.rfind('@');
    std::size_t from = text.find("://");
    from = from == std::string::npos || from > at ? 0 : from + 3;
    if (at == std::string::npos || at <= from) continue;
    const std::string secret = text.substr(from, at - from);
    impl.proxy_secrets.emplace_back(secret, Redactor(secret));
  }
  auto lines = RequestHeaders(o.api_key);
  lines.emplace_back("Expect", "");  // "Expect:" drops it: no 100-continue round trip
  for (const auto& [name, value] : lines) {
    const std::string line = name + (value.empty() ? ":" : ": " + value);
    curl_slist* list = curl_slist_append(impl.headers.get(), line.c_str());
    if (!list) throw Error(ErrorKind::kInternal, "out of memory");
    if (!impl.headers) impl.headers.reset(list);  // later appends keep the head
  }
  impl.multi.reset(curl_multi_init());
  if (!impl.multi) throw Error(ErrorKind::kInternal, "out of memory");
}

Client::~Client() = default;

void Client::MintMany(const RunCallbacks& callbacks, int concurrency) {
  TransferLoop(*impl_, callbacks, concurrency).Run();
}

TokenResponse Client::Mint(const TokenRequest& request) { return Mint(BuildRequestBody(request)); }

TokenResponse Client::Mint(const Json& request_body) {
  const std::string body = request_body.dump();
  impl_->Log([&] { return "request headers: " + RedactedRequestHeaders().dump(); });
  // The user's own input may hold the key (an attribute set from the wrong variable).
  impl_->Log([&] { return "request body: " + impl_->redactor.Apply(body); });
  bool given = false;
  MintOutcome result;
  RunCallbacks callbacks;
  callbacks.next = [&] {
    return std::exchange(given, true) ? NextJob{} : NextJob{NextJob::State::kJob, {1, body}};
  };
  callbacks.done = [&](std::uint64_t, MintOutcome outcome) { result = std::move(outcome); };
  MintMany(callbacks, 1);
  if (result.error) throw *result.error;
  if (!result.response) throw Error(ErrorKind::kInternal, "the request ended without an outcome");
  return std::move(*result.response);
}

}  // namespace toucan
