// Where the request goes and what it carries: URL rules, the header table, the CA bundle check.
// libcurl's URL parser reads the URL as the transfer will; client.cpp makes the transfer.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "outcome.hpp"
#include "text.hpp"

namespace toucan {

std::string MaskUserinfo(std::string_view url) {
  // Everything that could be a user name or password, however malformed the URL around it
  // (`https:///u:pw@h`, `//u:pw@h`, `u:pw@h`): from after "scheme:" and its slashes (or from the
  // start when no slash follows a colon) up to the last '@' before any query or fragment.
  const auto end = std::min(url.find_first_of("?#"), url.size());
  // A percent-encoded '@' counts too: it is what a mistyped password often holds.
  const std::string lower = AsciiLower(url.substr(0, end));
  const auto at = std::max(lower.rfind('@') + 1, lower.rfind("%40") + 1) - 1;  // npos + 1 is 0
  if (at == std::string::npos) return std::string(url);
  std::size_t start = 0;
  const auto scheme =
      url.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
  if (scheme != std::string_view::npos && scheme > 0 && url[scheme] == ':' &&
      scheme + 1 < url.size() && url[scheme + 1] == '/') {
    start = scheme + 1;
  }
  start = std::min(url.find_first_not_of('/', start), at);
  return std::string(url.substr(0, start)) + "***" + std::string(url.substr(at));
}

namespace {

std::string UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return {};
  std::string out(value);
  curl_free(value);
  return out;
}

// Non-ASCII is percent-encoded here, as libcurl would on the wire, so that --dry-run shows the
// very URL that is sent.
std::string EncodeNonAscii(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";  // as libcurl writes them
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    out += c < 0x80 ? std::string(1, ch) : std::string{'%', kHex[c >> 4], kHex[c & 0xF]};
  }
  return out;
}

// Whitespace, control characters, `?` and `#` would change the request line or be cut off. A
// segment a server may read as `.` or `..` would climb out of the base URL's path prefix (and
// libcurl would remove it, so the URL sent would differ from the one shown): servers may
// percent-decode once or twice, drop `;parameters` (Tomcat, Jetty, Spring), take an overlong
// UTF-8 dot (%c0%ae) for '.', and read a decoded '/' or '\\' as a separator.
std::string CheckedEndpointPath(std::string_view path) {
  const std::string quoted = "the endpoint path '" + EscapeControls(path) + "'";
  if (!IsValidUtf8(path)) throw UsageError(quoted + " is not valid UTF-8");
  if (std::ranges::any_of(path, [](unsigned char c) { return c <= 0x20 || c == 0x7F; })) {
    throw UsageError(quoted + " holds whitespace or a control character");
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    throw UsageError(quoted + " must not hold '?' or '#': it is a path, not a query");
  }
  std::string endpoint = EncodeNonAscii(path);
  if (endpoint.empty() || endpoint.front() != '/') endpoint.insert(0, "/");
  // Not std::views::split: clang 14 cannot compile it against libstdc++ 12 (the fuzz build).
  for (std::size_t from = 1, to = 0; from <= endpoint.size(); from = to + 1) {
    to = std::min(endpoint.find('/', from), endpoint.size());
    std::string segment = endpoint.substr(from, to - from);
    for (int decodings = 0; decodings <= 2; ++decodings, segment = Unescape(segment)) {
      const std::string_view name = std::string_view(segment).substr(0, segment.find(';'));
      if (name == "." || name == ".." || !IsValidUtf8(segment) ||
          segment.find_first_of("/\\") != std::string::npos ||
          FindControl(segment) != std::string::npos) {
        throw UsageError(quoted +
                         " holds a segment a server may read as '.', '..' or a separator ('..;', "
                         "'%2e%2e', '%2F', '%00', '%c0%ae'); name the path below the base URL");
      }
    }
  }
  return endpoint;
}

// The base URL checked as text, before libcurl parses it; non-ASCII in its path encoded.
// `quoted` names it in messages, userinfo shown as ***@.
std::string CheckedBaseUrl(std::string base, const std::string& quoted) {
  if (!IsValidUtf8(base)) throw UsageError(quoted + " is not valid UTF-8");
  // Before libcurl sees it: a userinfo must be refused even where libcurl would not keep it, and
  // an '@' before the query is refused wherever it stands (an '@' in a base URL's path is too
  // rare to be worth telling apart from a mistyped user:password@).
  if (MaskUserinfo(base) != base) {
    throw UsageError(quoted +
                     " must not carry a user name or password ('@'); the API key is "
                     "sent in a header");
  }
  // Looked for in the text: libcurl drops an empty `?` or `#`, which would then pass unseen.
  if (base.find_first_of("?#") != std::string::npos) {
    throw UsageError(quoted + " must not carry a query or a fragment ('?', '#')");
  }
  if (base.find("://") == std::string::npos) {
    const auto host = std::min(base.find_first_not_of('/'), base.size());
    throw UsageError(quoted + (base.find(':') == std::string::npos && host < base.size()
                                   ? " has no scheme: write it as https://" + base.substr(host)
                                   : " is not of the form https://host[:port][/path]"));
  }
  // The path prefix too (not the host, which libcurl turns into punycode).
  const auto path = base.find('/', base.find("://") + 3);
  return path == std::string::npos ? base
                                   : base.substr(0, path) + EncodeNonAscii(base.substr(path));
}

}  // namespace

Endpoint ResolveEndpoint(std::string_view base_url, std::string_view endpoint_path) {
  const std::string base(Trim(base_url));
  const std::string quoted = "base URL '" + EscapeControls(MaskUserinfo(base)) + "'";
  const std::string checked = CheckedBaseUrl(base, quoted);
  const std::string endpoint = CheckedEndpointPath(endpoint_path);
  const std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> url(curl_url(), curl_url_cleanup);
  if (!url) throw Error(ErrorKind::kInternal, "out of memory");
  if (const auto rc = curl_url_set(url.get(), CURLUPART_URL, checked.c_str(), 0); rc != CURLUE_OK)
    throw UsageError(quoted + " does not parse (" + curl_url_strerror(rc) + ")");
  Endpoint resolved;
  const std::string scheme = AsciiLower(UrlPart(url.get(), CURLUPART_SCHEME));
  if (scheme != "https" && scheme != "http") throw UsageError(quoted + " must use https://");
  resolved.https = scheme == "https";
  const std::string host = UrlPart(url.get(), CURLUPART_HOST);
  in_addr address{};
  resolved.loopback =
      AsciiLower(host) == "localhost" || host == "[::1]" ||
      (inet_pton(AF_INET, host.c_str(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127);
  if (!resolved.https && !resolved.loopback) {
    throw UsageError(quoted +
                     " uses plain http:// to a host that is not loopback; the API key would "
                     "cross the network unencrypted: use https:// (http:// is allowed only for "
                     "localhost, 127.0.0.0/8 and [::1])");
  }
  std::string path = UrlPart(url.get(), CURLUPART_PATH);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (curl_url_set(url.get(), CURLUPART_PATH, (path + endpoint).c_str(), 0) != CURLUE_OK) {
    throw Error(ErrorKind::kInternal, "out of memory");  // the path is checked: nothing else fails
  }
  resolved.url = UrlPart(url.get(), CURLUPART_URL);
  const std::string port = UrlPart(url.get(), CURLUPART_PORT);
  resolved.host = port.empty() ? host : host + ":" + port;
  return resolved;
}

std::string ResolveEndpointUrl(std::string_view base_url, std::string_view endpoint_path) {
  return ResolveEndpoint(base_url, endpoint_path).url;
}

std::vector<std::pair<std::string, std::string>> RequestHeaders(std::string_view api_key) {
  return {{"x-api-key", std::string(api_key)},
          {"Content-Type", "application/json"},
          {"Accept", "application/json"},
          {"User-Agent", std::string("toucan-token/") + kVersion}};
}

Json RedactedRequestHeaders() {
  Json headers = Json::object();
  for (const auto& [name, value] : RequestHeaders("***")) headers[name] = value;
  return headers;
}

Json DryRunRequest(const std::string& url, const Json& body) {
  return {{"method", "POST"}, {"url", url}, {"headers", RedactedRequestHeaders()}, {"body", body}};
}

void CheckCaBundle(const std::string& path) {
  const std::string quoted = "the CA bundle '" + EscapeControls(path) + "'";
  // O_NONBLOCK: a FIFO named as a bundle must not hang the open.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw UsageError("cannot read " + quoted + ": " + std::strerror(errno));
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    throw UsageError(quoted + " is not a regular file");
  }
  // A bundle is a few hundred KiB; scan a bounded prefix for one PEM certificate.
  constexpr std::string_view kMarker = "-----BEGIN CERTIFICATE-----";
  std::string window;  // the end of the last block read, then the next block
  char buffer[65536];
  for (std::size_t scanned = 0;
       scanned < (std::size_t{64} << 20) && window.find(kMarker) == std::string::npos;) {
    window.erase(0, window.size() - std::min(window.size(), kMarker.size()));
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    scanned += static_cast<std::size_t>(n);
    window.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  if (window.find(kMarker) == std::string::npos) {
    throw UsageError(quoted + " holds no PEM certificate (\"" + std::string(kMarker) +
                     "\"): give a file of CA certificates");
  }
}

}  // namespace toucan
