#include "output.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "toucan/error.hpp"

namespace toucan {
SignalsHeld::SignalsHeld() {
  sigset_t held;
  sigemptyset(&held);
  for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&held, signal);
  pthread_sigmask(SIG_BLOCK, &held, &previous_);
}

SignalsHeld::~SignalsHeld() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    pollfd ready{fd, POLLOUT, 0};  // a non-blocking descriptor (left so by a parent) is waited on
    if (n < 0 && (errno == EINTR || (errno == EAGAIN && poll(&ready, 1, -1) >= 0))) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void LineWriter::Write(std::string_view line) {
  SignalsHeld held;
  if (!WriteAll(fd_, std::string(line) + '\n')) {
    throw Error(ErrorKind::kOutput, "cannot write to " + what_ + ": " + std::strerror(errno));
  }
  ++lines_;
}

std::string ReadBounded(int fd, std::size_t max_bytes, const std::string& what,
                        bool first_line_only) {
  std::string text;
  char chunk[65536];
  while (true) {
    const std::size_t want = std::min(sizeof chunk, max_bytes + 1 - text.size());
    const ssize_t n = read(fd, chunk, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorKind::kUsage, "cannot read " + what + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(chunk, static_cast<std::size_t>(n));
    const auto newline = first_line_only ? text.find('\n') : std::string::npos;
    if (newline != std::string::npos) return text.substr(0, newline);
    if (text.size() > max_bytes) {
      throw Error(ErrorKind::kUsage,
                  what + " is larger than " + std::to_string(max_bytes / 1024) + " KiB");
    }
  }
  return text;
}

std::optional<FileText> ReadRegularFile(const std::string& path, std::string_view what,
                                        std::size_t max_bytes, bool missing_ok) {
  const std::string name = std::string(what) + " " + path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT && missing_ok) return std::nullopt;
    throw UsageError(name + ": " + std::strerror(error));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) throw UsageError(name + ": " + std::strerror(errno));
  if (S_ISDIR(info.st_mode)) throw UsageError(name + " is a directory");
  if (!S_ISREG(info.st_mode)) throw UsageError(name + " is not a regular file");
  return FileText{ReadBounded(fd, max_bytes, name), info.st_mode, info.st_uid};
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out.append(i ? separator : "").append(parts[i]);
  return out;
}

}  // namespace toucan
