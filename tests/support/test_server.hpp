#pragma once
// An HTTP or HTTPS server on an ephemeral loopback port that records every request it receives.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace toucan::test {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> headers;  // names in lower case
  std::string body;
  int remote_port = 0;

  std::string Header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
  std::size_t HeaderCount(const std::string& name) const { return headers.count(name); }
};

using Handler = std::function<void(const httplib::Request&, httplib::Response&, int index)>;

class TestServer {
 public:
  struct Tls {
    std::string cert;
    std::string key;
    std::string client_ca;  // when set, the server demands a client certificate signed by it
  };

  explicit TestServer(Handler handler, std::optional<Tls> tls = std::nullopt)
      : handler_(std::move(handler)), tls_(tls.has_value()) {
    if (tls) {
      server_ = std::make_unique<httplib::SSLServer>(
          tls->cert.c_str(), tls->key.c_str(),
          tls->client_ca.empty() ? nullptr : tls->client_ca.c_str());
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    server_->set_keep_alive_max_count(100000);
    server_->set_tcp_nodelay(true);
    const auto record = [this](const httplib::Request& request, httplib::Response& response) {
      int index = 0;
      {
        std::lock_guard lock(mutex_);
        RecordedRequest recorded;
        recorded.method = request.method;
        recorded.path = request.path;
        for (const auto& [name, value] : request.headers) {
          std::string lower = name;
          for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          recorded.headers.emplace(lower, value);
        }
        recorded.body = request.body;
        recorded.remote_port = request.remote_port;
        requests_.push_back(std::move(recorded));
        index = static_cast<int>(requests_.size()) - 1;
      }
      handler_(request, response, index);
    };
    server_->Post(".*", record);
    server_->Get(".*", record);
    server_->Put(".*", record);
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("test server: cannot bind a loopback port");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // The socket accepts connections from bind on; this waits for the accept loop itself.
    while (!server_->is_running()) std::this_thread::yield();
  }

  ~TestServer() {
    Release();
    server_->stop();
    thread_.join();
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  int port() const { return port_; }
  std::string url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t request_count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  // Distinct client ports seen: one per TCP connection.
  std::size_t connection_count() const {
    std::lock_guard lock(mutex_);
    std::set<int> ports;
    for (const auto& request : requests_) ports.insert(request.remote_port);
    return ports.size();
  }

  // For handlers that must hang: blocks until the server is being torn down.
  void WaitForRelease() {
    std::unique_lock lock(release_mutex_);
    release_cv_.wait(lock, [this] { return released_; });
  }

 private:
  void Release() {
    {
      std::lock_guard lock(release_mutex_);
      released_ = true;
    }
    release_cv_.notify_all();
  }

  Handler handler_;
  bool tls_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
  std::mutex release_mutex_;
  std::condition_variable release_cv_;
  bool released_ = false;
};

// A handler that answers every request with a fixed status, body and headers.
inline Handler Reply(int status, std::string body, std::string content_type = "application/json",
                     std::multimap<std::string, std::string> headers = {}) {
  return [=](const httplib::Request&, httplib::Response& response, int) {
    response.status = status;
    for (const auto& [name, value] : headers) response.set_header(name, value);
    response.set_content(body, content_type.c_str());
  };
}

}  // namespace toucan::test

namespace toucan::test {

// A TCP socket bound to an ephemeral loopback port, not yet listening; `address` receives where.
inline int BindLoopback(sockaddr_in& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot bind a loopback port");
  }
  return fd;
}

// A TCP listener on an ephemeral loopback port for servers that do not speak HTTP properly:
// `serve` gets each accepted socket and the connection's index, and the socket is closed after.
class RawServer {
 public:
  explicit RawServer(std::function<void(int fd, int index)> serve) : serve_(std::move(serve)) {
    sockaddr_in address{};
    listener_ = BindLoopback(address);
    if (::listen(listener_, 16) != 0) throw std::runtime_error("raw server: cannot listen");
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      for (int index = 0;; ++index) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) return;  // shut down
        accepted_ = index + 1;
        serve_(fd, index);
        ::close(fd);
      }
    });
  }
  ~RawServer() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }

 private:
  std::function<void(int, int)> serve_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// Reads what the client sends up to the end of its headers (enough for our small requests).
inline void ReadRequestHead(int fd) {
  std::string seen;
  char buffer[4096];
  while (seen.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return;
    seen.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace toucan::test
