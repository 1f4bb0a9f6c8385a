// toucan-token-standin: a local stand-in for Toucan's token endpoint, for trying the tool without
// an account. It checks the request as the real service would need it and mints fake tokens.
//
//   toucan-token-standin [--port N] [--api-key KEY] [--tls CERT KEY]
//
// Prints "listening on <url>" once it accepts connections, then serves until killed.
// httplib's listen backlog is 5: a batch opening 64 connections at once would see SYNs dropped
// and retried a second later.
#define CPPHTTPLIB_LISTEN_BACKLOG 1024
#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace {

std::string RandomSegment(std::mt19937_64& random, std::size_t length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::uniform_int_distribution<std::size_t> pick(0, sizeof kAlphabet - 2);
  std::string out;
  for (std::size_t i = 0; i < length; ++i) out += kAlphabet[pick(random)];
  return out;
}

void Fail(httplib::Response& response, int status, const std::string& message) {
  response.status = status;
  response.set_content(nlohmann::json{{"message", message}}.dump(), "application/json");
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string expected_key;
  std::string cert, key;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
      if (port >= 1 && port <= 65535) continue;
    } else if (arg == "--api-key" && i + 1 < argc) {
      expected_key = argv[++i];
      continue;
    } else if (arg == "--tls" && i + 2 < argc) {
      cert = argv[++i];
      key = argv[++i];
      continue;
    }
    std::fprintf(stderr,
                 "usage: toucan-token-standin [--port 1-65535] [--api-key KEY] [--tls CERT KEY]\n");
    return 2;
  }
  std::unique_ptr<httplib::Server> server;
  if (cert.empty()) {
    server = std::make_unique<httplib::Server>();
  } else {
    server = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
  }
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(100000);
  // A thread per kept-alive connection: with httplib's default pool (8 threads) a batch at
  // --concurrency 9 or more waits for idle connections to time out. 260 covers the tool's 256.
  server->new_task_queue = [] { return new httplib::ThreadPool(260); };
  std::mutex mutex;
  std::mt19937_64 random{std::random_device{}()};
  server->Post(
      "/embed/generate-token", [&](const httplib::Request& request, httplib::Response& response) {
        const std::string given = request.get_header_value("x-api-key");
        if (given.empty() || (!expected_key.empty() && given != expected_key)) {
          return Fail(response, 401, "Invalid API key");
        }
        nlohmann::json body;
        try {
          body = nlohmann::json::parse(request.body);
        } catch (const nlohmann::json::exception&) {
          return Fail(response, 400, "Body is not JSON");
        }
        const auto& user = body.value("user", nlohmann::json::object());
        if (!user.is_object() || !user.value("distinctId", nlohmann::json()).is_string() ||
            !user.value("role", nlohmann::json()).is_string() ||
            !user.value("attributes", nlohmann::json()).is_object()) {
          return Fail(response, 400, "user.distinctId, user.role and user.attributes are required");
        }
        std::string token;
        {
          std::lock_guard lock(mutex);
          // Shaped like a compact JWE (five base64url parts); it encrypts nothing.
          token = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0.." + RandomSegment(random, 16) + "." +
                  RandomSegment(random, 64) + "." + RandomSegment(random, 22);
        }
        response.set_content(nlohmann::json{{"token", token}, {"expiresIn", 3600}}.dump(),
                             "application/json");
      });
  // Without SO_REUSEPORT (cpp-httplib's default may set it): a busy port is an error, not a
  // second server sharing it.
  server->set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const int bound = port > 0 ? (server->bind_to_port("127.0.0.1", port) ? port : -1)
                             : server->bind_to_any_port("127.0.0.1");
  if (bound <= 0) {
    std::fprintf(stderr, "toucan-token-standin: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  std::printf("listening on %s://127.0.0.1:%d\n", cert.empty() ? "http" : "https", bound);
  std::fflush(stdout);
  return server->listen_after_bind() ? 0 : 1;
}
