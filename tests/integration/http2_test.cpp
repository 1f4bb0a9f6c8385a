// HTTP/2 through nginx that closes every connection after use (keepalive_timeout 0), in front of
// a slightly slow upstream: retries after a dying connection must go over a fresh one, so that
// a batch loses no row at any concurrency.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;

constexpr const char* kNginx = "/usr/sbin/nginx";

// nginx on a loopback port of its own. A free port can only be found by asking the kernel and
// handing the port over, so another process may take it first: then nginx fails with "Address
// already in use" and is started again on a fresh port, a bounded number of times. Readiness is
// asked of nginx itself (a location that answers this instance's nonce), so a stranger who took
// the port is never mistaken for it.
class Nginx {
 public:
  explicit Nginx(int upstream_port) : upstream_port_(upstream_port) {
    dir_ = ::testing::TempDir() + "/toucan-nginx-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    nonce_ = "toucan-nginx-" + std::to_string(::getpid()) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  ~Nginx() {
    Stop();
    std::filesystem::remove_all(dir_);
  }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  // Starts nginx and waits until it answers; false (with the reason in `failure()`) if it
  // cannot be started.
  bool Start() {
    for (int attempt = 1; attempt <= kAttempts; ++attempt) {
      Launch();
      switch (WaitUntilServing()) {
        case State::kServing:
          return true;
        case State::kPortTaken:
          continue;  // someone took the port between the probe and nginx's bind
        case State::kFailed:
          return false;
      }
    }
    failure_ = "the port was taken " + std::to_string(kAttempts) + " times in a row: " + failure_;
    return false;
  }
  const std::string& failure() const { return failure_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  static constexpr int kAttempts = 5;
  enum class State { kServing, kPortTaken, kFailed };

  void Launch() {
    sockaddr_in address{};
    const int probe = BindLoopback(address);  // a free port for nginx, handed over just below
    port_ = ntohs(address.sin_port);
    ::close(probe);
    std::ofstream(dir_ + "/nginx.conf")
        << "daemon off; worker_processes 1; pid " << dir_ << "/nginx.pid; error_log " << dir_
        << "/error.log warn;\nevents { worker_connections 4096; }\nhttp { access_log off;\n"
        << "client_body_temp_path " << dir_ << "/body; proxy_temp_path " << dir_ << "/proxy;\n"
        << "keepalive_timeout 0;\nserver { listen 127.0.0.1:" << port_ << " ssl http2;\n"
        << "ssl_certificate " << Certs("server.pem") << "; ssl_certificate_key "
        << Certs("server.key") << ";\nlocation = /toucan-nginx-ready { return 200 \"" << nonce_
        << "\"; }\nlocation / { proxy_pass http://127.0.0.1:" << upstream_port_ << "; } } }\n";
    std::filesystem::remove(dir_ + "/error.log");  // what an earlier attempt said is not news
    const std::string log = dir_ + "/stderr.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(null, 1);
      ::dup2(err >= 0 ? err : null, 2);
      ::execl(kNginx, kNginx, "-p", dir_.c_str(), "-c", (dir_ + "/nginx.conf").c_str(), nullptr);
      ::_exit(127);
    }
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // What nginx said on stderr and in its error log.
  std::string Said() const {
    std::string said;
    for (const char* name : {"/stderr.log", "/error.log"}) {
      std::ifstream file(dir_ + name);
      said += std::string(std::istreambuf_iterator<char>(file), {});
    }
    return said;
  }

  // Our nginx answers its readiness location with our nonce.
  bool Answers() const {
    httplib::SSLClient client("127.0.0.1", port_);
    client.set_ca_cert_path(Certs("ca.pem").c_str());
    client.set_connection_timeout(std::chrono::seconds(2));
    client.set_read_timeout(std::chrono::seconds(5));
    const auto reply = client.Get("/toucan-nginx-ready");
    return reply && reply->status == 200 && reply->body == nonce_;
  }

  State WaitUntilServing() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // reaped: never signal that pid again
        failure_ = Said();
        return failure_.find("Address already in use") != std::string::npos ? State::kPortTaken
                                                                            : State::kFailed;
      }
      if (Answers()) return State::kServing;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Stop();
    failure_ = "nginx did not answer within 60 s: " + Said();
    return State::kFailed;
  }

  std::string dir_;
  std::string nonce_;
  std::string failure_;
  int upstream_port_ = 0;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST(Http2, ConnectionsClosedByTheServerCostNoRow) {
  if (::access(kNginx, X_OK) != 0) GTEST_SKIP() << "nginx is not installed (scripts/install-deps)";
  TestServer upstream([](const httplib::Request& request, httplib::Response& response, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::string id = json::parse(request.body)["user"]["distinctId"];
    response.set_content(json{{"token", "tok-" + id}, {"expiresIn", 60}}.dump(),
                         "application/json");
  });
  Nginx nginx(upstream.port());
  ASSERT_TRUE(nginx.Start()) << nginx.failure();
  std::string input;
  for (int i = 1; i <= 500; ++i) input += "u" + std::to_string(i) + "\n";
  for (const char* concurrency : {"64", "256"}) {
    const RunResult result =
        RunChecked({"batch", "--concurrency", concurrency, "--cacert", Certs("ca.pem")},
                   KeyAndUrl(nginx.url()), input);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::istringstream lines(result.out);
    int row = 0;
    for (std::string line; std::getline(lines, line);) {
      const json parsed = json::parse(line);
      ++row;
      EXPECT_EQ(parsed["token"], "tok-u" + std::to_string(row)) << line;
    }
    EXPECT_EQ(row, 500);
  }
}

}  // namespace
}  // namespace toucan::test
