#pragma once
// Runs the real toucan-token binary with a clean environment and captures everything it says.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace toucan::test {

struct RunResult {
  int exit_code = -1;  // 128 + signal when the child was killed by one
  bool signaled = false;
  std::string out;
  std::string err;
  double seconds = 0;
  double cpu_seconds = 0;  // user + system time of the child: its work, however busy the machine
};

using Env = std::map<std::string, std::string>;

// `env` is the whole environment of the child: nothing is inherited but PATH and the sanitizer
// settings, so no proxy variable or stray TOUCAN_* setting of the machine can change a test.
// `on_output`, when given, sees the child's pid and its stdout so far after every read: a test
// can signal the child once it has printed something (a readiness wait, not a sleep). It is
// also called once at the start, with nothing printed yet.
using OutputWatcher = std::function<void(pid_t, const std::string&)>;

inline RunResult RunTool(const std::vector<std::string>& args, const Env& env,
                         const std::optional<std::string>& stdin_data = std::nullopt,
                         const std::string& binary = TOUCAN_TOKEN_BINARY,
                         const OutputWatcher& on_output = {}) {
  std::vector<std::string> env_strings;
  Env full = env;
  for (const char* name : {"PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name); value && !full.count(name)) full[name] = value;
  }
  for (const auto& [name, value] : full) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
    throw std::runtime_error("pipe failed");
  }
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  if (on_output) on_output(pid, "");
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  signal(SIGPIPE, SIG_IGN);

  std::string input = stdin_data.value_or("");
  std::size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  RunResult result;
  bool out_open = true, err_open = true;
  const auto deadline = started + std::chrono::seconds(240);
  while (out_open || err_open) {
    std::vector<pollfd> fds;
    if (out_open) fds.push_back({out_pipe[0], POLLIN, 0});
    if (err_open) fds.push_back({err_pipe[0], POLLIN, 0});
    if (in_fd >= 0) fds.push_back({in_fd, POLLOUT, 0});
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds.data(), fds.size(), 1000) < 0) continue;
    for (const auto& fd : fds) {
      if (fd.revents == 0) continue;
      if (fd.fd == in_fd) {
        const ssize_t n = write(in_fd, input.data() + written, input.size() - written);
        if (n > 0) written += static_cast<std::size_t>(n);
        if (n < 0 || written == input.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buffer[65536];
      const ssize_t n = read(fd.fd, buffer, sizeof buffer);
      std::string& sink = fd.fd == out_pipe[0] ? result.out : result.err;
      if (n > 0) {
        sink.append(buffer, static_cast<std::size_t>(n));
        if (on_output && fd.fd == out_pipe[0]) on_output(pid, result.out);
      } else {
        (fd.fd == out_pipe[0] ? out_open : err_open) = false;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  result.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.signaled = WIFSIGNALED(status);
  return result;
}

}  // namespace toucan::test
