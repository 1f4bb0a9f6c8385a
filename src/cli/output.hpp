#pragma once
// Whole-line output with checked results, and bounded reads of input and files.
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace toucan {

// The formats of -o/--output, TOUCAN_OUTPUT and a profile's `output`.
inline constexpr std::array<std::string_view, 6> kOutputFormats{"json", "token", "header",
                                                                "env",  "shell", "github"};
inline constexpr const char* kOutputFormatList = "json, token, header, env, shell or github";
inline bool IsOutputFormat(std::string_view name) {
  return std::find(kOutputFormats.begin(), kOutputFormats.end(), name) != kOutputFormats.end();
}

// Holds the signals the program handles back for its lifetime, so that a row ends whole.
class SignalsHeld {
 public:
  SignalsHeld();
  ~SignalsHeld();
  SignalsHeld(const SignalsHeld&) = delete;
  SignalsHeld& operator=(const SignalsHeld&) = delete;
  const sigset_t& previous() const { return previous_; }

 private:
  sigset_t previous_{};
};

// Every byte of `data`, a write at a time; false with errno set when one fails.
bool WriteAll(int fd, std::string_view data);

// Each line (a newline is added) in one write(2), signals held, so a reader never sees part of a
// row. A failed write throws Error(kOutput) naming `what`; EPIPE is left to SIGPIPE.
class LineWriter {
 public:
  explicit LineWriter(int fd, std::string what = "standard output")
      : fd_(fd), what_(std::move(what)) {}
  void Write(std::string_view line);
  std::uint64_t lines_written() const { return lines_; }

 private:
  int fd_;
  std::string what_;
  std::uint64_t lines_ = 0;
};

// A whole input of at most `max_bytes` (more is Error(kUsage) naming `what`), or its first line.
std::string ReadBounded(int fd, std::size_t max_bytes, const std::string& what,
                        bool first_line_only = false);

struct FileText {
  std::string text;
  mode_t mode = 0;
  uid_t owner = 0;
};

// ReadBounded on a regular file (a FIFO or device is refused unread); empty when it is missing
// and `missing_ok`. Throws Error(kUsage) naming `what` and the path.
std::optional<FileText> ReadRegularFile(const std::string& path, std::string_view what,
                                        std::size_t max_bytes, bool missing_ok);

std::string Join(const std::vector<std::string>& parts, std::string_view separator);

}  // namespace toucan
