// Batch minting: JSON Lines or CSV in, JSON Lines out in input order, requests run concurrently.
#include "batch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "csv.hpp"
#include "hints.hpp"
#include "output.hpp"

namespace toucan {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kLineFields = "distinctId, role, attributes, permissions";

// Rows are always valid JSON and valid UTF-8, whatever text reached them.
std::string Dump(const Json& row) {
  return row.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json ErrorRow(std::uint64_t line, const std::optional<std::string>& distinct_id, int exit_code,
              std::optional<long> status, const std::string& message) {
  Json row = Json::object();
  row["line"] = line;
  row["distinctId"] = distinct_id ? Json(*distinct_id) : Json(nullptr);
  Json error = Json::object();
  error["exit"] = exit_code;
  error["status"] = status ? Json(*status) : Json(nullptr);
  error["message"] = message;
  row["error"] = std::move(error);
  return row;
}

struct Tally {
  std::uint64_t minted = 0;
  std::uint64_t failed = 0;
  int first_exit = 0;
};

// Emits rows in input order however they complete; holds at most a window of lines. After a
// failed write nothing more is written, but outcomes are still counted for the final message.
class OrderedRows {
 public:
  OrderedRows(int out_fd, const BatchOptions& options, std::FILE* err)
      : out_(out_fd),
        err_(err),
        progress_(options.progress),
        total_(options.total_lines),
        redact_(options.redact) {}

  void Expect(std::uint64_t line) { order_.push_back(line); }
  std::size_t held() const { return order_.size(); }
  const Tally& tally() const { return tally_; }
  const std::optional<Error>& write_error() const { return write_error_; }
  std::uint64_t written() const { return out_.lines_written(); }

  void Complete(std::uint64_t line, const Json& row, int exit_code) {
    Complete(line, Dump(row), exit_code);
  }

  void Complete(std::uint64_t line, std::string row, int exit_code) {
    if (redact_) row = redact_(std::move(row));
    ready_.emplace(line, Entry{std::move(row), exit_code});
    bool wrote = false;
    while (!order_.empty()) {
      const auto found = ready_.find(order_.front());
      if (found == ready_.end()) break;
      Emit(found->second);
      ready_.erase(found);
      order_.pop_front();
      wrote = true;
    }
    if (wrote) ShowProgress(false);
  }

  void ShowProgress(bool final) {
    if (!progress_) return;
    const auto now = Clock::now();
    if (!final && now - last_progress_ < std::chrono::milliseconds(100)) return;
    last_progress_ = now;
    const double seconds = std::chrono::duration<double>(now - started_).count();
    const auto done = static_cast<unsigned long long>(tally_.minted + tally_.failed);
    std::string of_total;
    if (total_) of_total = "/" + std::to_string(*total_);
    std::fprintf(err_, "\r\033[Ktoucan-token: %llu%s done, %llu failed, %.0f/s", done,
                 of_total.c_str(), static_cast<unsigned long long>(tally_.failed),
                 seconds > 0 ? static_cast<double>(done) / seconds : 0.0);
    if (final) std::fputs("\r\033[K", err_);
    std::fflush(err_);
  }

  // `stopped`: why the batch ended before its last line, if it did.
  void Summary(const std::string& stopped) {
    ShowProgress(true);
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    std::fprintf(err_, "toucan-token: %llu minted, %llu failed in %.3f s%s\n",
                 static_cast<unsigned long long>(tally_.minted),
                 static_cast<unsigned long long>(tally_.failed), seconds,
                 stopped.empty() ? "" : ("; " + stopped).c_str());
  }

 private:
  struct Entry {
    std::string text;
    int exit_code;
  };

  void Emit(const Entry& entry) {
    if (entry.exit_code == 0) {
      ++tally_.minted;
    } else {
      ++tally_.failed;
      if (tally_.first_exit == 0) tally_.first_exit = entry.exit_code;
    }
    if (write_error_) return;
    try {
      out_.Write(entry.text);
    } catch (const Error& e) {
      write_error_ = e;
    }
  }

  LineWriter out_;
  std::FILE* err_;
  bool progress_;
  std::optional<std::uint64_t> total_;
  std::function<std::string(std::string)> redact_;
  std::deque<std::uint64_t> order_;
  std::unordered_map<std::uint64_t, Entry> ready_;
  Tally tally_;
  std::optional<Error> write_error_;
  Clock::time_point started_ = Clock::now();
  Clock::time_point last_progress_{};
};

// Numbered, bounded, non-blank input: JSON Lines, or CSV records.
class BatchInput {
 public:
  BatchInput(int fd, const std::function<bool()>& interrupted, bool csv)
      : reader_(fd, kMaxBatchLineBytes, interrupted), interrupted_(interrupted), csv_(csv) {}

  enum class Got { kLine, kOversized, kEnd };
  // The next non-blank line in `line`, or CSV record in record(); number() is its (first) line.
  // kEnd at the end, on a read error, or when interrupted.
  Got Next(std::string& line) {
    if (csv_) return NextRecord(line);
    while (true) {
      const Got got = NextLine(line);
      first_ = number_;
      if (got != Got::kLine || !Trim(line).empty()) return got;
    }
  }

  // After an interrupt: the users left, read to the end for a regular file, or what a pipe
  // already holds (never waiting for more); empty when that cannot be known.
  std::optional<std::uint64_t> CountRest(int fd) {
    struct stat info {};
    if (fstat(fd, &info) != 0 || !(S_ISREG(info.st_mode) || S_ISFIFO(info.st_mode))) {
      return std::nullopt;
    }
    const int flags = fcntl(fd, F_GETFL);
    if (S_ISFIFO(info.st_mode)) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    reader_.ClearStop();
    interrupted_ = nullptr;
    const bool failed = failed_;
    std::uint64_t count = 0;
    std::string line;
    // Bounded, so that a writer that keeps writing cannot keep the program here.
    while (count < 10'000'000 && Next(line) != Got::kEnd) ++count;
    failed_ = failed;  // a pipe with nothing more to read now is no read error
    fcntl(fd, F_SETFL, flags);
    return count;
  }

  std::uint64_t number() const { return first_; }
  const CsvRecord& record() const { return record_; }
  bool failed() const { return failed_; }
  int error() const { return reader_.error(); }

 private:
  // The next line, blank or not.
  Got NextLine(std::string& line) {
    while (true) {
      if (interrupted_ && interrupted_()) return Got::kEnd;
      const auto status = reader_.Next(line);
      if (status == LineReader::Status::kInterrupted) continue;
      // A byte-order mark some editors write would otherwise become part of an id, or turn a
      // user object into one; files joined with cat carry one at each file's first line.
      if (status == LineReader::Status::kLine && line.rfind("\xEF\xBB\xBF", 0) == 0) {
        line.erase(0, 3);
      }
      if (status == LineReader::Status::kError) failed_ = true;
      if (status == LineReader::Status::kEnd || status == LineReader::Status::kError) {
        return Got::kEnd;
      }
      ++number_;
      return status == LineReader::Status::kOversized ? Got::kOversized : Got::kLine;
    }
  }

  Got NextRecord(std::string& line) {
    record_.Clear();
    first_ = 0;
    while (true) {
      const Got got = NextLine(line);
      if (got == Got::kEnd) {
        // A record cut short by a signal or a read error is not the user's mistake: no row.
        if (first_ == 0 || failed_ || (interrupted_ && interrupted_())) return Got::kEnd;
        record_.EndOfInput();
        break;
      }
      if (first_ == 0) {
        if (got == Got::kLine && Trim(line).empty()) continue;
        first_ = number_;
      }
      if (got == Got::kOversized) {
        record_.FeedLostLine();
        break;
      }
      if (record_.Feed(line)) break;
    }
    return record_.oversized() ? Got::kOversized : Got::kLine;
  }

  LineReader reader_;
  std::function<bool()> interrupted_;
  bool csv_;
  CsvRecord record_{kMaxBatchLineBytes};
  std::uint64_t number_ = 0;  // lines read
  std::uint64_t first_ = 0;   // the line the last user began on
  bool failed_ = false;
};

std::string TooLong(bool csv) {
  return std::string(csv ? "the row" : "the line") + " is longer than " +
         std::to_string(kMaxBatchLineBytes / 1024 / 1024) + " MiB; it was skipped";
}

// "1 row", "2 rows".
std::string Count(std::uint64_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// The exit status and the last words of a batch run.
int FinishRun(OrderedRows& rows, const BatchInput& input,
              std::optional<std::uint64_t> not_attempted, bool interrupted,
              const BatchOptions& options, std::FILE* err, const std::string& stopped = {}) {
  rows.Summary(stopped);
  const Tally& tally = rows.tally();
  if (rows.write_error()) {
    std::fprintf(err, "toucan-token: %s; %s written, %s minted\n", rows.write_error()->what(),
                 Count(rows.written(), "row").c_str(), Count(tally.minted, "token").c_str());
    return ExitCode(ErrorKind::kOutput);
  }
  if (interrupted) {
    std::fprintf(err, "toucan-token: interrupted: %llu minted, %llu failed, %s not attempted\n",
                 static_cast<unsigned long long>(tally.minted),
                 static_cast<unsigned long long>(tally.failed),
                 not_attempted ? std::to_string(*not_attempted).c_str() : "the remaining lines");
    return options.interrupt_exit;
  }
  if (input.failed()) {
    std::fprintf(err, "toucan-token: reading the batch input failed: %s\n",
                 std::strerror(input.error()));
    return tally.first_exit != 0 ? tally.first_exit : ExitCode(ErrorKind::kUsage);
  }
  return tally.first_exit;
}

bool IsRegularFile(int fd) {
  struct stat info {};
  return fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
}

// A `{...}` line: its fields over the defaults. Unknown fields are errors, so that a typo such
// as "atributes" cannot pass silently.
void ApplyUserObject(const Json& object, TokenRequest& request, BatchLine& result) {
  if (const auto id = object.find("distinctId"); id != object.end() && id->is_string()) {
    result.distinct_id = id->get<std::string>();
  }
  for (const auto& [key, value] : object.items()) {
    if (key == "distinctId") {
      if (!value.is_string()) throw UsageError("\"distinctId\" must be a string");
    } else if (key == "role") {
      if (!value.is_string()) throw UsageError("\"role\" must be a string");
      request.role = value.get<std::string>();
    } else if (key == "attributes") {
      if (!value.is_object()) throw UsageError("\"attributes\" must be a JSON object");
      MergeAttributes(request.attributes, value);
    } else if (key == "permissions") {
      if (!value.is_object()) throw UsageError("\"permissions\" must be a JSON object");
      request.permissions = value;
    } else {
      throw UsageError("unknown field \"" + Excerpt(key, 100) + "\" (a line may hold " +
                       std::string(kLineFields) + ")");
    }
  }
  if (!result.distinct_id) throw UsageError("the line has no \"distinctId\"");
}

// No user is named with a NUL, a tab or a bare CR: such a line comes from a UTF-16 file, a
// table pasted as is, or old Mac line endings, and would mint for a garbage id. A C1 control
// (U+009B is CSI to some terminals) is no more a name.
void CheckBareId(std::string_view line) {
  const std::size_t control = FindControl(line);
  if (control == std::string_view::npos) return;
  const bool c1 = static_cast<unsigned char>(line[control]) >= 0x80;
  throw UsageError("the line holds a control character (" +
                   std::string(line.substr(control, c1 ? 2 : 1)) +
                   (line[control] == '\0' ? "; is the file UTF-16?" : "") +
                   "); a distinct id that holds one must be written as a JSON string");
}

// A spreadsheet export piped in without --csv must not mint users named "distinct_id,region",
// nor "distinctId" (the header of a one-column export), nor `line"` (the end of a quoted cell
// that spans lines).
void CheckNotCsv(std::string_view line) {
  const auto at = line.find_first_of(",;\t\"");
  const std::string lower = AsciiLower(line);
  if (at == std::string_view::npos && lower != "distinctid" && lower != "distinct_id" &&
      lower != "id") {
    return;
  }
  const char* what = at == std::string_view::npos ? "only a CSV header name"
                     : line[at] == ','            ? "a comma"
                     : line[at] == ';'            ? "a semicolon"
                     : line[at] == '"'            ? "a double quote"
                                                  : "a tab";
  throw UsageError(std::string("the line holds ") + what +
                   ": for CSV input use --csv (or a file named *.csv); a distinct id like this " +
                   "must be written as a JSON string");
}

// The columns of a CSV batch, named by its header.
struct CsvColumns {
  std::vector<std::string> names;
  std::size_t id = 0;
  std::optional<std::size_t> role, permissions;
};

// The header of a CSV batch, checked before anything is sent. Throws Error(kUsage).
CsvColumns ReadCsvHeader(BatchInput& input) {
  std::string unused;
  const auto got = input.Next(unused);
  if (got == BatchInput::Got::kEnd) {
    throw UsageError(
        "the CSV input is empty: its first row must name the columns (distinctId,...)");
  }
  const std::string where = "the CSV header (line " + std::to_string(input.number()) + ")";
  if (got == BatchInput::Got::kOversized) throw UsageError(where + " is longer than 1 MiB");
  const CsvRecord& record = input.record();
  if (!record.error().empty()) throw UsageError(where + ": " + record.error());
  CsvColumns columns;
  std::unordered_map<std::string, std::size_t> seen;
  std::optional<std::size_t> id;
  for (const std::string& cell : record.cells()) {
    const std::string name(Trim(cell));
    const std::size_t index = columns.names.size();
    if (!IsValidUtf8(name)) throw UsageError(where + " is not valid UTF-8");
    if (name.empty())
      throw UsageError(where + ": column " + std::to_string(index + 1) + " has no name");
    if (FindControl(name) != std::string::npos) {  // a file of CR-only line ends is one "line"
      throw UsageError(where + ": column " + std::to_string(index + 1) +
                       "'s name holds a control character" +
                       (name.find('\r') != std::string::npos
                            ? " (a carriage return: lines must end in LF or CRLF)"
                            : ""));
    }
    if (const auto [at, added] = seen.emplace(name, index); !added) {
      throw UsageError(where + " names '" + Excerpt(name, 100) + "' twice (columns " +
                       std::to_string(at->second + 1) + " and " + std::to_string(index + 1) + ")");
    }
    if (name == "distinctId" || name == "distinct_id" || name == "id") {
      if (id) {
        throw UsageError(where + ": '" + columns.names[*id] + "' and '" + name +
                         "' both name the distinct id");
      }
      id = index;
    }
    if (name == "role") columns.role = index;
    if (name == "permissions") columns.permissions = index;
    columns.names.push_back(name);
  }
  if (!id) {
    const std::string& first = columns.names.front();
    throw UsageError(where + " has no distinctId column (distinct_id or id also do); its first " +
                     "column is '" + Excerpt(first, 100) + "'" +
                     (first.find_first_of(";\t") != std::string::npos
                          ? ": the file seems to separate cells with ';' or tabs, CSV uses commas"
                          : ": add a header row such as distinctId,region"));
  }
  columns.id = *id;
  return columns;
}

// The line's request checked as a single request is, then by `check` (the schema).
void CompleteRequest(TokenRequest request, const std::function<void(const TokenRequest&)>& check,
                     BatchLine& result) {
  result.body = BuildRequestBody(request);
  if (check) check(request);
  result.request = std::move(request);
}

// One CSV record over the defaults: the id, role and permissions cells, the others attributes;
// an empty cell leaves its attribute out.
BatchLine ParseCsvRow(const CsvRecord& record, const CsvColumns& columns,
                      const BatchOptions& options) {
  BatchLine result;
  const auto& cells = record.cells();
  try {
    if (!record.error().empty()) throw UsageError(record.error());
    if (cells.size() != columns.names.size()) {
      throw UsageError("the row has " + Count(cells.size(), "cell") + ", the header " +
                       Count(columns.names.size(), "column"));
    }
    if (!std::all_of(cells.begin(), cells.end(), [](const auto& c) { return IsValidUtf8(c); })) {
      throw UsageError("the row is not valid UTF-8");
    }
    const std::string_view id = Trim(cells[columns.id]);
    if (id.empty()) throw UsageError("the " + columns.names[columns.id] + " cell is empty");
    result.distinct_id = std::string(id);
    CheckBareId(id);
    TokenRequest request = options.defaults;
    request.distinct_id = *result.distinct_id;
    Json attributes = Json::object();
    // Header names are unique: appended as they are, in linear time.
    auto& members = static_cast<Json::object_t::Container&>(attributes.get_ref<Json::object_t&>());
    for (std::size_t i = 0; i < cells.size(); ++i) {
      // Trimmed as the id and the header names are: `ana, EU` must not send " EU", which would
      // match no row.
      const std::string cell(Trim(cells[i]));
      if (i == columns.id || cell.empty()) continue;
      if (i == columns.role) {
        request.role = cell;
      } else if (i == columns.permissions) {
        request.permissions = ParseJsonObject(cell, "the permissions cell");
      } else {
        const std::string& name = columns.names[i];
        members.emplace_back(name,
                             options.cell_value ? options.cell_value(name, cell) : Json(cell));
      }
    }
    MergeAttributes(request.attributes, attributes);
    CompleteRequest(std::move(request), options.check_line, result);
  } catch (const Error& e) {
    result.error = e.what();
  }
  return result;
}

// The next non-blank line or CSV record, read and parsed; one that cannot become a request gets
// its error row here (`request` is then empty). Empty at the end of the input.
std::optional<BatchLine> NextValidLine(BatchInput& input, OrderedRows& rows, std::string& line,
                                       const BatchOptions& options, const CsvColumns* csv) {
  const auto got = input.Next(line);
  if (got == BatchInput::Got::kEnd) return std::nullopt;
  const std::uint64_t number = input.number();
  rows.Expect(number);
  BatchLine parsed;
  if (got == BatchInput::Got::kOversized) {
    parsed.error = TooLong(csv != nullptr);
  } else if (csv) {
    parsed = ParseCsvRow(input.record(), *csv, options);
  } else {
    parsed = ParseBatchLine(line, options.defaults, options.check_line);
  }
  if (!parsed.request) {
    rows.Complete(number, ErrorRow(number, parsed.distinct_id, 2, std::nullopt, parsed.error), 2);
  }
  return parsed;
}

}  // namespace

std::optional<std::uint64_t> CountBatchLines(const std::string& path, bool csv) {
  // Only a regular file: a pipe or FIFO read here would be consumed before the batch reads it.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::uint64_t> count;
  if (IsRegularFile(fd)) {
    BatchInput input(fd, nullptr, csv);
    std::string line;
    std::uint64_t users = 0;
    while (input.Next(line) != BatchInput::Got::kEnd) ++users;
    if (csv && users > 0) --users;  // the header
    if (!input.failed()) count = users;
  }
  close(fd);
  return count;
}

BatchLine ParseBatchLine(std::string_view raw, const TokenRequest& defaults,
                         const std::function<void(const TokenRequest&)>& check) {
  BatchLine result;
  const std::string_view line = Trim(raw);
  if (line.empty()) {
    result.error = "the line is blank";
    return result;
  }
  if (!IsValidUtf8(line)) {
    result.error = "the line is not valid UTF-8";
    return result;
  }
  TokenRequest request = defaults;
  try {
    if (line.front() == '{') {
      ApplyUserObject(ParseJsonObject(line, "the line"), request, result);
    } else if (line.front() == '"') {
      Json id;
      try {
        id = ParseJsonValue(line, "the line");
      } catch (const Error& e) {  // `"Smith, Jo",EU`: a CSV row with a quoted first cell
        throw UsageError(std::string(e.what()) + "; for CSV input use --csv");
      }
      if (!id.is_string()) throw UsageError("the line must hold a JSON string");
      result.distinct_id = id.get<std::string>();
    } else {
      CheckNotCsv(line);
      CheckBareId(line);
      result.distinct_id = std::string(line);
    }
    request.distinct_id = *result.distinct_id;
    CompleteRequest(std::move(request), check, result);
  } catch (const Error& e) {
    result.error = e.what();
  }
  return result;
}

namespace {

// One batch run: hands out a job per valid line, turns outcomes into rows.
class BatchRun {
 public:
  BatchRun(int input_fd, const BatchOptions& options, int out_fd, std::FILE* err)
      : options_(options),
        rows_(out_fd, options, err),
        input_(input_fd, options.interrupted, options.csv),
        // Enough lines in hand to keep every connection busy while one slow line holds up the
        // output; bounded so that memory stays flat however long the input is.
        window_(1024 + 16 * static_cast<std::size_t>(options.concurrency)) {
    if (options.csv) csv_ = ReadCsvHeader(input_);
  }

  bool Interrupted() {
    if (!interrupted_ && options_.interrupted && options_.interrupted()) interrupted_ = true;
    return interrupted_;
  }

  NextJob Next() {
    NextJob answer;  // kEnd
    while (true) {
      // After a failed write, no further request starts.
      if (rows_.write_error() || Interrupted()) return answer;
      if (rows_.held() >= window_) {
        answer.state = NextJob::State::kNotNow;
        return answer;
      }
      std::optional<BatchLine> parsed =
          NextValidLine(input_, rows_, line_, options_, csv_ ? &*csv_ : nullptr);
      if (!parsed) return answer;
      const std::uint64_t number = input_.number();
      if (!parsed->request) continue;  // its error row is written
      ids_.emplace(number, *parsed->distinct_id);
      answer.state = NextJob::State::kJob;
      answer.job = MintJob{number, parsed->body.dump()};
      return answer;
    }
  }

  void Done(std::uint64_t id, const MintOutcome& outcome) {
    const auto found = ids_.find(id);
    std::optional<std::string> distinct_id;
    if (found != ids_.end()) {
      distinct_id = std::move(found->second);
      ids_.erase(found);
    }
    if (outcome.response)
      // Server fields named line, distinctId or error are dropped: they would pass for ours.
      return rows_.Complete(id, BatchRowJsonLine(id, distinct_id, *outcome.response), 0);
    const Error& error = *outcome.error;
    const int exit_code =
        error.kind() == ErrorKind::kInterrupted ? options_.interrupt_exit : ExitCode(error.kind());
    rows_.Complete(id, ErrorRow(id, distinct_id, exit_code, error.http_status(), WithHint(error)),
                   exit_code);
  }

  int Finish(int input_fd, std::FILE* err) {
    Interrupted();  // the signal may have arrived while the input was being read
    std::optional<std::uint64_t> not_attempted;
    if (interrupted_) not_attempted = input_.CountRest(input_fd);
    return FinishRun(rows_, input_, not_attempted, interrupted_, options_, err, stopped_);
  }

  void Stopped(std::uint64_t line, const Error& failure) {
    stopped_ = "stopped at line " + std::to_string(line) +
               ", lines not yet sent skipped: " + WithHint(failure) +
               "; --keep-going sends every line anyway";
  }

 private:
  const BatchOptions& options_;
  OrderedRows rows_;
  BatchInput input_;
  std::size_t window_;
  std::unordered_map<std::uint64_t, std::string> ids_;  // lines in flight → distinct id
  std::optional<CsvColumns> csv_;
  std::string line_;
  bool interrupted_ = false;
  std::string stopped_;  // why the batch stopped early, for the summary
};

}  // namespace

int RunBatch(Client& client, int input_fd, const BatchOptions& options, int out_fd,
             std::FILE* err) {
  BatchRun run(input_fd, options, out_fd, err);
  RunCallbacks callbacks;
  callbacks.interrupted = [&] { return run.Interrupted(); };
  callbacks.next = [&] { return run.Next(); };
  callbacks.done = [&](std::uint64_t id, const MintOutcome& outcome) { run.Done(id, outcome); };
  callbacks.keep_going = options.keep_going;
  callbacks.stopped = [&](std::uint64_t line, const Error& failure) { run.Stopped(line, failure); };
  client.MintMany(callbacks, options.concurrency);
  return run.Finish(input_fd, err);
}

int RunBatchDryRun(int input_fd, const BatchOptions& options, const std::string& url, int out_fd,
                   std::FILE* err) {
  BatchOptions quiet = options;
  quiet.progress = false;
  OrderedRows rows(out_fd, quiet, err);
  BatchInput input(input_fd, options.interrupted, options.csv);
  std::optional<CsvColumns> csv;
  if (options.csv) csv = ReadCsvHeader(input);
  std::string line;
  while (!rows.write_error()) {
    const std::optional<BatchLine> parsed =
        NextValidLine(input, rows, line, options, csv ? &*csv : nullptr);
    if (!parsed) break;
    if (parsed->request) rows.Complete(input.number(), DryRunRequest(url, parsed->body), 0);
  }
  if (rows.write_error()) {
    std::fprintf(err, "toucan-token: %s; %s written\n", rows.write_error()->what(),
                 Count(rows.written(), "row").c_str());
    return ExitCode(ErrorKind::kOutput);
  }
  if (options.interrupted && options.interrupted()) {
    return FinishRun(rows, input, input.CountRest(input_fd), true, options, err);
  }
  if (input.failed()) {
    std::fprintf(err, "toucan-token: reading the batch input failed: %s\n",
                 std::strerror(input.error()));
    return ExitCode(ErrorKind::kUsage);
  }
  return rows.tally().first_exit;
}

}  // namespace toucan
