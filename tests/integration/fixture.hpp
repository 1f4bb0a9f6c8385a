#pragma once
#include <fstream>
// Shared by the integration tests: a distinctive API key that every run checks for in all
// output, and helpers around the recording server.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "key_forms.hpp"
#include "run_tool.hpp"
#include "test_server.hpp"
#include "toucan/version.hpp"

namespace toucan::test {

inline constexpr const char* kApiKey = "tk_test_Zq8VwS3cr3tKey_4f1d9b7e";
inline constexpr const char* kToken = "eyJhbGciOiJkaXIifQ..iv-part.cipher_text-part.tag-part";

inline std::string Certs(const std::string& name) {
  return std::string(TOUCAN_TEST_CERTS) + "/" + name;
}

inline Env KeyAndUrl(const std::string& url) {
  return {{"TOUCAN_API_KEY", kApiKey}, {"TOUCAN_BASE_URL", url}};
}

// Runs the tool and asserts what must hold for every run: the key is in no output in any form,
// and stderr lines carry the tool's prefix.
inline RunResult RunChecked(const std::vector<std::string>& args, const Env& env,
                            const std::optional<std::string>& stdin_data = std::nullopt) {
  RunResult result = RunTool(args, env, stdin_data);
  // Written apart from the Redactor: verbatim, any case, JSON-escaped, percent-encoded, HTML
  // references, and every 8-character window of the key.
  const auto on_stdout = key_forms::FindKeyForm(result.out, kApiKey);
  const auto on_stderr = key_forms::FindKeyForm(result.err, kApiKey);
  EXPECT_EQ(on_stdout, std::nullopt) << "the API key (in some form) on stdout: " << result.out;
  EXPECT_EQ(on_stderr, std::nullopt) << "the API key (in some form) on stderr: " << result.err;
  std::size_t start = 0;
  while (start < result.err.size()) {
    const auto end = result.err.find('\n', start);
    const std::string line = result.err.substr(start, end - start);
    EXPECT_EQ(line.rfind("toucan-token: ", 0), 0u) << "stderr line without prefix: " << line;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return result;
}

// Runs the tool through bash so that `redirections` can close or replace a standard stream
// (`2>&-`, `>/dev/full`); the key must show in no form either way.
inline RunResult Shell(const std::string& redirections, const std::vector<std::string>& args,
                       const Env& env, const std::optional<std::string>& input = std::nullopt) {
  std::string script = "exec \"$0\"";
  for (std::size_t i = 1; i <= args.size(); ++i) script += " \"${" + std::to_string(i) + "}\"";
  script += " " + redirections;
  std::vector<std::string> argv{"-c", script, TOUCAN_TOKEN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult result = RunTool(argv, env, input, "/bin/bash");
  EXPECT_EQ(key_forms::FindKeyForm(result.out, kApiKey), std::nullopt) << result.out;
  EXPECT_EQ(key_forms::FindKeyForm(result.err, kApiKey), std::nullopt) << result.err;
  return result;
}

// `toucan-token -u u1 EXTRA...` against `url` with the test key; `env` adds to (and overrides)
// the environment.
inline RunResult Mint(const std::string& url, const std::vector<std::string>& extra = {},
                      const Env& env = {}) {
  std::vector<std::string> args{"-u", "u1"};
  args.insert(args.end(), extra.begin(), extra.end());
  Env full = KeyAndUrl(url);
  for (const auto& [name, value] : env) full[name] = value;
  return RunChecked(args, full);
}

inline Handler TokenReply(const std::string& extra = R"("expiresIn":3600)") {
  return Reply(200, std::string(R"({"token":")") + kToken + "\"," + extra + "}");
}

// Files a test writes, removed after it.
// ctest runs each test in its own process, two at a time: the pid keeps their files apart.
inline std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "toucan-" + std::to_string(getpid()) + "-" + name;
}

inline std::string TempFile(const std::string& name, const std::string& content) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

class WithTempFiles : public ::testing::Test {
 protected:
  std::string TempFile(const std::string& name, const std::string& content) {
    files_.push_back(toucan::test::TempFile(name, content));
    return files_.back();
  }
  void TearDown() override {
    for (const auto& path : files_) std::remove(path.c_str());
  }
  std::vector<std::string> files_;
};

// One line, newline-terminated, prefixed: the shape of every error the tool reports.
inline void ExpectOneErrorLine(const RunResult& result, const std::string& says) {
  EXPECT_EQ(result.out, "");
  ASSERT_FALSE(result.err.empty());
  EXPECT_EQ(result.err.back(), '\n');
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_NE(result.err.find(says), std::string::npos) << "stderr: " << result.err;
}

// A loopback port with nothing listening, held bound (never listened on) for the holder's
// lifetime: connecting is refused, and no other process can take the port meanwhile.
class ClosedPortHolder {
 public:
  ClosedPortHolder() {
    sockaddr_in address{};
    fd_ = BindLoopback(address);
    port_ = ntohs(address.sin_port);
  }
  ~ClosedPortHolder() { close(fd_); }
  ClosedPortHolder(const ClosedPortHolder&) = delete;
  ClosedPortHolder& operator=(const ClosedPortHolder&) = delete;
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace toucan::test
