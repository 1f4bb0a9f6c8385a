// RFC 4180 records: quoted cells, "" for a quote, CRLF or LF, line breaks inside quotes.
#include "csv.hpp"

namespace toucan {

bool CsvRecord::Feed(std::string_view line) {
  const bool crlf = !line.empty() && line.back() == '\r';
  if (crlf) line.remove_suffix(1);
  bytes_ += line.size() + 1;
  if (bytes_ > max_bytes_) DropCells();
  const auto keep = [this](char c) {
    if (!oversized_) current_.push_back(c);
  };
  for (const char c : line) {
    if (state_ == State::kQuoted) {
      if (c == '"') state_ = State::kQuoteInQuoted;
      if (c != '"') keep(c);
    } else if (c == ',') {
      EndCell();
    } else if (c == '"' && state_ != State::kUnquoted) {
      if (state_ == State::kQuoteInQuoted) keep(c);  // "" inside quotes
      state_ = State::kQuoted;
    } else {
      if (c == '"') Malformed("a quote inside an unquoted cell (write \"a\"\"b\" for a\"b)");
      if (state_ == State::kQuoteInQuoted) Malformed("text after the closing quote of a cell");
      keep(c);
      state_ = State::kUnquoted;
    }
  }
  if (state_ == State::kQuoted) {
    if (crlf) keep('\r');
    keep('\n');
    return false;
  }
  EndCell();
  return true;
}

void CsvRecord::DropCells() {
  oversized_ = true;
  cells_ = {};
  current_ = {};
}

void CsvRecord::EndOfInput() {
  if (state_ == State::kQuoted)
    Malformed("a quoted cell is not closed before the end of the input");
  EndCell();
}

void CsvRecord::EndCell() {
  if (!oversized_) cells_.push_back(std::move(current_));
  current_.clear();
  state_ = State::kCellStart;
}

void CsvRecord::Malformed(const std::string& why) {
  if (error_.empty()) error_ = why;
}

}  // namespace toucan
