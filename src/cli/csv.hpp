#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace toucan {

// One record, fed a line at a time (without its '\n'), as a quoted cell may hold line breaks.
// Past `max_bytes` the cells are dropped, while the quotes are followed to find the record's end.
class CsvRecord {
 public:
  explicit CsvRecord(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // True when the record is complete, false when a quoted cell goes on.
  bool Feed(std::string_view line);
  // Past `max_bytes`, or for a line too long to keep: the record is oversized, its cells dropped.
  void DropCells();
  // A record left open at the end of the input.
  void EndOfInput();

  bool oversized() const { return oversized_; }
  // Why the record is malformed; empty when it is not.
  const std::string& error() const { return error_; }
  const std::vector<std::string>& cells() const { return cells_; }

 private:
  enum class State { kCellStart, kUnquoted, kQuoted, kQuoteInQuoted };
  void EndCell();
  void Malformed(const std::string& why);

  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  State state_ = State::kCellStart;
  std::string current_;
  std::vector<std::string> cells_;
  bool oversized_ = false;
  std::string error_;
};

}  // namespace toucan
