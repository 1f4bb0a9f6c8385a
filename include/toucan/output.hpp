#pragma once
// Whole-line output with checked results, shared by single and batch mode.
#include <cstdint>
#include <string>
#include <string_view>

namespace toucan {

// Writes each line with one write(2) (looping only over a short write), so that a reader never
// sees part of a row, with SIGINT/SIGTERM held back meanwhile so that even a forced exit leaves
// rows whole. A failed write throws Error(kOutput); EPIPE is left to SIGPIPE, as Unix tools do.
class LineWriter {
 public:
  explicit LineWriter(int fd) : fd_(fd) {}
  // `line` without its newline; the newline is added.
  void Write(std::string_view line);
  std::uint64_t lines_written() const { return lines_; }

 private:
  int fd_;
  std::uint64_t lines_ = 0;
};

// Reads lines from a file descriptor with a bound: a line over `max_bytes` is reported as
// oversized and the rest of it is skipped without being held in memory.
class LineReader {
 public:
  enum class Status { kLine, kOversized, kEnd, kError, kInterrupted };
  LineReader(int fd, std::size_t max_bytes) : fd_(fd), max_bytes_(max_bytes) {}
  // The next line (without its newline) in `line`. kInterrupted: a signal arrived while
  // waiting for input; call again to go on waiting.
  Status Next(std::string& line);
  int error() const { return error_; }  // errno of a kError

 private:
  bool Fill();
  int fd_;
  std::size_t max_bytes_;
  std::string buffer_;
  std::size_t start_ = 0;
  bool eof_ = false;
  bool interrupted_ = false;
  int error_ = 0;
};

// Reads at most `max_bytes` of a whole input (file descriptor); more is Error(kUsage) naming
// `what`. `first_line_only` stops at the first newline (an API key file).
std::string ReadBounded(int fd, std::size_t max_bytes, const std::string& what,
                        bool first_line_only = false);

}  // namespace toucan
