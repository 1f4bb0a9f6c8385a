#pragma once
// RFC 4180 records, for CSV batch input. Internal: not installed.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace toucan {

// One record, fed a physical line at a time (without its '\n'; a CR before it is dropped) so
// that a quoted cell may hold line breaks. Memory stays within `max_bytes`: past it, the cells
// are dropped as they come while the quoting is still followed to find where the record ends.
class CsvRecord {
 public:
  explicit CsvRecord(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Adds the record's next line; true when the record is complete, false when a quoted cell
  // goes on to the next line.
  bool Feed(std::string_view line);
  // A line too long to have been kept: the record is oversized, and is taken to end there (the
  // quotes in the lost text cannot be followed).
  void FeedLostLine();
  // A record left open at the end of the input.
  void EndOfInput();
  void Clear();

  bool empty() const { return bytes_ == 0 && cells_.empty() && current_.empty(); }
  bool oversized() const { return oversized_; }
  // Why the record is malformed (a quote out of place, a quote never closed); empty when it is not.
  const std::string& error() const { return error_; }
  const std::vector<std::string>& cells() const { return cells_; }

 private:
  enum class State { kCellStart, kUnquoted, kQuoted, kQuoteInQuoted };
  void EndCell();
  void DropCells();
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
