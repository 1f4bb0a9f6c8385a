// HTTP/2 through nginx that closes every connection after use (keepalive_timeout 0), in front of
// a slightly slow upstream: retries after a dying connection must go over a fresh one, so that
// a batch loses no row at any concurrency.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;

constexpr const char* kNginx = "/usr/sbin/nginx";

class Nginx {
 public:
  explicit Nginx(int upstream_port) {
    dir_ = ::testing::TempDir() + "/toucan-nginx-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
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
        << Certs("server.key") << ";\nlocation / { proxy_pass http://127.0.0.1:" << upstream_port
        << "; } } }\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execl(kNginx, kNginx, "-p", dir_.c_str(), "-c", (dir_ + "/nginx.conf").c_str(), nullptr);
      ::_exit(127);
    }
  }
  ~Nginx() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    std::filesystem::remove_all(dir_);
  }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  // Readiness: nginx accepts connections (or has died).
  bool WaitUntilListening() const {
    for (int i = 0; i < 1000; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return false;
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(port_));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      ::close(fd);
      if (up) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
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
  ASSERT_TRUE(nginx.WaitUntilListening());
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
