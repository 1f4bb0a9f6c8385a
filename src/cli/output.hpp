#pragma once
// Whole-line output with checked results, and bounded reads of input and files.
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace toucan {

// The formats of -o/--output, TOUCAN_OUTPUT and a profile's `output`.
inline constexpr std::array<std::string_view, 6> kOutputFormats{"json", "token", "header",
                                                                "env",  "shell", "github"};
inline constexpr const char* kOutputFormatList = "json, token, header, env, shell or github";
inline bool IsOutputFormat(std::string_view name) {
  return std::find(kOutputFormats.begin(), kOutputFormats.end(), name) != kOutputFormats.end();
}

// Holds SIGINT/SIGTERM back for its lifetime: a signal then ends the program only once the row
// being written is whole, or the command being started has its pid stored.
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

// Writes each line with one write(2) (looping only over a short write), so that a reader never
// sees part of a row, with SIGINT/SIGTERM held back meanwhile so that even a forced exit leaves
// rows whole. A failed write throws Error(kOutput) naming `what`; EPIPE is left to SIGPIPE, as
// Unix tools do.
class LineWriter {
 public:
  explicit LineWriter(int fd, std::string what = "standard output")
      : fd_(fd), what_(std::move(what)) {}
  // `line` without its newline; the newline is added.
  void Write(std::string_view line);
  std::uint64_t lines_written() const { return lines_; }

 private:
  int fd_;
  std::string what_;
  std::uint64_t lines_ = 0;
};

// Reads lines from a file descriptor with a bound: a line over `max_bytes` is reported as
// oversized and the rest of it is skipped without being held in memory.
class LineReader {
 public:
  enum class Status { kLine, kOversized, kEnd, kError, kInterrupted };
  // `stop`, when given, is asked before each read: an endless line (/dev/zero) must not keep
  // an interrupted program reading.
  LineReader(int fd, std::size_t max_bytes, std::function<bool()> stop = {})
      : fd_(fd), max_bytes_(max_bytes), stop_(std::move(stop)) {}
  // The next line (without its newline) in `line`. kInterrupted: a signal arrived while
  // waiting for input; call again to go on waiting.
  Status Next(std::string& line);
  int error() const { return error_; }  // errno of a kError
  void ClearStop() { stop_ = nullptr; }

 private:
  int fd_;
  std::size_t max_bytes_;
  std::function<bool()> stop_;
  std::string buffer_;
  std::size_t start_ = 0;
  bool eof_ = false;
  int error_ = 0;
};

// The one bounded reader: at most `max_bytes` of a whole input (file descriptor), so that a huge
// file or /dev/zero cannot exhaust memory; more is Error(kUsage) naming `what`.
// `first_line_only` stops at the first newline (an API key file).
std::string ReadBounded(int fd, std::size_t max_bytes, const std::string& what,
                        bool first_line_only = false);

struct FileText {
  std::string text;
  mode_t mode = 0;
  uid_t owner = 0;
};

// ReadBounded on a regular file, opened without blocking (a FIFO or a device is refused before
// any read). Empty when the file does not exist and `missing_ok`. Throws Error(kUsage) naming
// `what` and the path otherwise.
std::optional<FileText> ReadRegularFile(const std::string& path, std::string_view what,
                                        std::size_t max_bytes, bool missing_ok);

}  // namespace toucan
