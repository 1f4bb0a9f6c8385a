// api-key-command: the key from a program, run without a shell, bounded in time and output.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config.hpp"
#include "output.hpp"

namespace toucan {
namespace {

constexpr std::size_t kMaxKeyLineBytes = 4096;

// The command running, for StopKeyCommand in a signal handler; plain storage, no locks.
volatile sig_atomic_t g_command_pid = 0;
volatile sig_atomic_t g_command_has_group = 0;
volatile sig_atomic_t g_command_stopped = 0;

// Starts the command with its stdout into a pipe; returns the pipe's read end.
int Spawn(const std::vector<std::string>& argv, const std::string& name, pid_t& pid) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw UsageError(name + ": " + std::strerror(errno));
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Without a controlling terminal (CI, cron, a service) the command gets a process group of its
  // own, so that past the limit everything it started is stopped with it: a process left behind
  // would hold the job's output pipes open. With one, it stays in ours: a program that prompts on
  // the terminal (pass, gpg) must stay in the foreground group to read it.
  const int tty = ::open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (tty >= 0) ::close(tty);
  g_command_has_group = tty < 0;
  // Until its pid is stored, a signal handler could not stop the command: the signals wait. The
  // command starts with the mask as it was.
  const SignalsHeld held;
  posix_spawnattr_setsigmask(&attributes, &held.previous());
  posix_spawnattr_setflags(&attributes,
                           static_cast<short>(POSIX_SPAWN_SETSIGMASK |
                                              (g_command_has_group ? POSIX_SPAWN_SETPGROUP : 0)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  // Standard input belongs to the tool (a batch may read its lines from it): a command that
  // reads it would take a user's line for the key. Prompting programs use the terminal itself.
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& part : argv) args.push_back(const_cast<char*>(part.c_str()));
  args.push_back(nullptr);
  const int error = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(fds[1]);
  if (error != 0) {
    ::close(fds[0]);
    throw UsageError(name + " could not be started: " + std::strerror(error));
  }
  g_command_pid = pid;
  return fds[0];
}

// Reads the child's stdout into `head` (at most a line of 4 KiB and its newline) until it exits;
// empty when the deadline passes first. The rest is drained, so a chatty command cannot block on
// a full pipe. The exit ends the reading even if the pipe stays open: a process it left behind
// (an agent started in the background) may hold it for ever.
std::optional<int> ReadUntilExit(int fd, pid_t pid, std::chrono::steady_clock::time_point deadline,
                                 std::string& head) {
  pollfd poller{fd, POLLIN, 0};
  char buffer[4096];
  const auto keep = [&](ssize_t got) {
    head.append(buffer, std::min<std::size_t>(kMaxKeyLineBytes + 1 - head.size(), got));
  };
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);  // -1: StopKeyCommand reaped it
    if (done == pid || (done < 0 && errno != EINTR)) {
      ::fcntl(fd, F_SETFL, O_NONBLOCK);  // what it wrote before exiting, without waiting
      for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) > 0;) keep(got);
      return status;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    // At the end of the output the fd is set to -1: poll then only waits for the exit.
    const std::chrono::milliseconds most(poller.fd < 0 ? 5 : 20);
    if (::poll(&poller, 1, static_cast<int>(std::min(left, most).count())) > 0) {
      const ssize_t got = ::read(fd, buffer, sizeof buffer);
      if (got > 0) keep(got);
      if (got == 0 || (got < 0 && errno != EINTR)) poller.fd = -1;
    }
  }
}

// The command, with its process group when it leads one. Async-signal-safe.
void KillCommand(pid_t pid) { ::kill(g_command_has_group ? -pid : pid, SIGKILL); }

}  // namespace

std::string RunKeyCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty() || argv.front().empty()) throw UsageError("api-key-command is empty");
  const std::string name = "api-key-command " + Quoted(Join(argv, " "));
  pid_t pid = -1;
  const int fd = Spawn(argv, name, pid);
  if (g_command_stopped) StopKeyCommand();  // a signal came before it was started
  std::string head;
  const auto status = ReadUntilExit(fd, pid, std::chrono::steady_clock::now() + timeout, head);
  // Past the limit the command is stopped before its output pipe closes, so that it is reported
  // as too slow, not as killed by the SIGPIPE that closing would cause.
  if (!status) KillCommand(pid);
  ::close(fd);
  while (!status && ::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  g_command_pid = 0;
  if (g_command_stopped) throw Error(ErrorKind::kInterrupted, "interrupted while " + name + " ran");
  if (!status) {
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", static_cast<double>(timeout.count()) / 1000.0);
    throw UsageError(name + " did not finish within " + limit + " s and was stopped");
  }
  if (WIFSIGNALED(*status)) {
    throw UsageError(name + " was ended by signal " + std::to_string(WTERMSIG(*status)));
  }
  if (WEXITSTATUS(*status) != 0) {
    throw UsageError(name + " failed with exit status " + std::to_string(WEXITSTATUS(*status)));
  }
  const std::string line = head.substr(0, head.find('\n'));
  if (line.size() > kMaxKeyLineBytes) {
    throw UsageError(name + " printed a first line longer than 4 KiB");
  }
  std::string key(Trim(line));
  if (key.empty()) throw UsageError(name + " printed no key on its standard output");
  return key;
}

void StopKeyCommand() noexcept {
  g_command_stopped = 1;
  if (const pid_t pid = g_command_pid; pid > 0) {
    const int saved = errno;  // a handler must leave errno as the code it interrupted had it
    KillCommand(pid);
    // Reaped before the program exits: a command merely sent SIGKILL may still be running when
    // whoever waits for the program looks (waitpid is async-signal-safe).
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    // What it started is not ours to reap: wait (2 s at most) until the group is gone.
    const timespec pause{0, 10'000'000};
    for (int i = 0; g_command_has_group && i < 200 && ::kill(-pid, 0) == 0; ++i) {
      ::nanosleep(&pause, nullptr);
    }
    errno = saved;
  }
}

}  // namespace toucan
