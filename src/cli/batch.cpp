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
#include "cli.hpp"
#include "output.hpp"

namespace toucan {
namespace {

using Clock = std::chrono::steady_clock;

Json ErrorRow(std::uint64_t line, const std::optional<std::string>& distinct_id, int exit_code,
              std::optional<long> status, const std::string& message) {
  return Json{{"line", line},
              {"distinctId", distinct_id ? Json(*distinct_id) : Json()},
              {"error", {{"exit", exit_code}, {"status", status ? Json(*status) : Json()},
                         {"message", message}}}};
}

// "1 row", "2 rows".
std::string Count(std::uint64_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

struct Tally {
  unsigned long long minted = 0, failed = 0;  // for printf's %llu
  int first_exit = 0;
};

// Emits rows in input order however they complete; holds at most a window of lines. After a
// failed write nothing more is written, but outcomes are still counted for the final message.
class OrderedRows {
 public:
  OrderedRows(int out_fd, const BatchOptions& options, std::FILE* err)
      : out_(out_fd), err_(err), options_(options) {}

  void Expect(std::uint64_t line) { order_.push_back(line); }
  std::size_t held() const { return order_.size(); }
  std::uint64_t written() const { return out_.lines_written(); }
  void Complete(std::uint64_t line, const Json& row, int exit_code) {
    // Rows are always valid JSON and valid UTF-8, whatever text reached them.
    Complete(line, row.dump(-1, ' ', false, Json::error_handler_t::replace), exit_code);
  }
  void Complete(std::uint64_t line, std::string row, int exit_code);
  void ShowProgress(bool final);
  // `stopped`: why the batch ended before its last line, if it did.
  void Summary(const std::string& stopped);

  Tally tally;
  std::optional<Error> write_error;

 private:
  LineWriter out_;
  std::FILE* err_;
  const BatchOptions& options_;
  std::deque<std::uint64_t> order_;
  std::unordered_map<std::uint64_t, std::pair<std::string, int>> ready_;  // row, exit code
  Clock::time_point started_ = Clock::now();
  Clock::time_point last_progress_{};
};

void OrderedRows::Complete(std::uint64_t line, std::string row, int exit_code) {
  if (options_.redact) row = options_.redact(std::move(row));
  ready_.emplace(line, std::pair{std::move(row), exit_code});
  const std::size_t held = order_.size();
  while (!order_.empty() && ready_.contains(order_.front())) {
    const auto ready = ready_.extract(order_.front());
    order_.pop_front();
    const auto& [text, code] = ready.mapped();
    ++(code == 0 ? tally.minted : tally.failed);
    if (tally.first_exit == 0) tally.first_exit = code;
    try {
      if (!write_error) out_.Write(text);
    } catch (const Error& e) {
      write_error = e;
    }
  }
  if (order_.size() < held) ShowProgress(false);
}

void OrderedRows::ShowProgress(bool final) {
  if (!options_.progress) return;
  const auto now = Clock::now();
  if (!final && now - last_progress_ < std::chrono::milliseconds(100)) return;
  last_progress_ = now;
  const double seconds = std::chrono::duration<double>(now - started_).count();
  const auto done = tally.minted + tally.failed;
  const std::string of_total =
      options_.total_lines ? "/" + std::to_string(*options_.total_lines) : "";
  std::fprintf(err_, "\r\033[Ktoucan-token: %llu%s done, %llu failed, %.0f/s", done,
               of_total.c_str(), tally.failed,
               seconds > 0 ? static_cast<double>(done) / seconds : 0.0);
  if (final) std::fputs("\r\033[K", err_);
  std::fflush(err_);
}

void OrderedRows::Summary(const std::string& stopped) {
  ShowProgress(true);
  const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  std::fprintf(err_, "toucan-token: %llu minted, %llu failed in %.3f s%s\n", tally.minted,
               tally.failed, seconds, stopped.empty() ? "" : ("; " + stopped).c_str());
}

// Numbered, bounded, non-blank input: JSON Lines, or CSV records.
class BatchInput {
 public:
  BatchInput(int fd, const std::function<bool()>& interrupted, bool csv)
      : fd_(fd),
        reader_(fd, kMaxBatchLineBytes, interrupted),
        interrupted_(interrupted),
        csv_(csv) {}

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
  std::optional<std::uint64_t> CountRest();

  std::uint64_t number() const { return first_; }
  const CsvRecord& record() const { return record_; }
  bool failed() const { return failed_; }
  int error() const { return reader_.error(); }

 private:
  Got NextLine(std::string& line);  // the next line, blank or not
  Got NextRecord(std::string& line);

  int fd_;
  LineReader reader_;
  std::function<bool()> interrupted_;
  bool csv_;
  CsvRecord record_{kMaxBatchLineBytes};
  std::uint64_t number_ = 0;  // lines read
  std::uint64_t first_ = 0;   // the line the last user began on
  bool failed_ = false;
};

// After an interrupt: the users left, read to the end for a regular file, or what a pipe
// already holds (never waiting for more); empty when that cannot be known.
std::optional<std::uint64_t> BatchInput::CountRest() {
  struct stat info {};
  if (fstat(fd_, &info) != 0 || !(S_ISREG(info.st_mode) || S_ISFIFO(info.st_mode))) {
    return std::nullopt;
  }
  const int flags = fcntl(fd_, F_GETFL);
  if (S_ISFIFO(info.st_mode)) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  reader_.ClearStop();
  interrupted_ = nullptr;
  const bool failed = failed_;
  std::uint64_t count = 0;
  std::string line;
  // Bounded, so that a writer that keeps writing cannot keep the program here.
  while (count < 10'000'000 && Next(line) != Got::kEnd) ++count;
  failed_ = failed;  // a pipe with nothing more to read now is no read error
  fcntl(fd_, F_SETFL, flags);
  return count;
}

BatchInput::Got BatchInput::NextLine(std::string& line) {
  using Status = LineReader::Status;
  Status status = Status::kInterrupted;
  while (status == Status::kInterrupted) {
    if (interrupted_ && interrupted_()) return Got::kEnd;
    status = reader_.Next(line);
  }
  failed_ = failed_ || status == Status::kError;
  if (status == Status::kEnd || status == Status::kError) return Got::kEnd;
  ++number_;
  // A byte-order mark some editors write would otherwise become part of an id, or turn a
  // user object into one; files joined with cat carry one at each file's first line.
  if (status == Status::kLine && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
  return status == Status::kOversized ? Got::kOversized : Got::kLine;
}

BatchInput::Got BatchInput::NextRecord(std::string& line) {
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

// A `{...}` line: its fields over the defaults. Unknown fields are errors, so that a typo such
// as "atributes" cannot pass silently.
void ApplyUserObject(const Json& object, TokenRequest& request, BatchLine& result) {
  if (const auto id = object.find("distinctId"); id != object.end() && id->is_string()) {
    result.distinct_id = id->get<std::string>();
  }
  // A non-object `attributes` is refused by MergeAttributes, `permissions` by BuildRequestBody.
  for (const auto& [key, value] : object.items()) {
    if ((key == "distinctId" || key == "role") && !value.is_string()) {
      throw UsageError("\"" + key + "\" must be a string");
    } else if (key == "role") {
      request.role = value.get<std::string>();
    } else if (key == "attributes") {
      MergeAttributes(request.attributes, value);
    } else if (key == "permissions") {
      request.permissions = value;
    } else if (key != "distinctId") {
      throw UsageError("unknown field \"" + Excerpt(key, 100) +
                       "\" (a line may hold distinctId, role, attributes, permissions)");
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
  std::optional<std::size_t> id, role, permissions;
  std::unordered_map<std::string, std::size_t> seen;  // name → column

  void Add(std::string name, const std::string& where);
};

// One header cell, checked.
void CsvColumns::Add(std::string name, const std::string& where) {
  const std::size_t index = names.size();
  const std::string column = where + ": column " + std::to_string(index + 1);
  if (!IsValidUtf8(name)) throw UsageError(where + " is not valid UTF-8");
  if (name.empty()) throw UsageError(column + " has no name");
  if (FindControl(name) != std::string::npos) {  // a file of CR-only line ends is one "line"
    throw UsageError(column + "'s name holds a control character" +
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
      throw UsageError(where + ": '" + names[*id] + "' and '" + name + "' both name the distinct id");
    }
    id = index;
  }
  if (name == "role") role = index;
  if (name == "permissions") permissions = index;
  names.push_back(std::move(name));
}

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
  if (!input.record().error().empty()) throw UsageError(where + ": " + input.record().error());
  CsvColumns columns;
  for (const std::string& cell : input.record().cells()) columns.Add(std::string(Trim(cell)), where);
  if (!columns.id) {
    const std::string& first = columns.names.front();
    throw UsageError(where + " has no distinctId column (distinct_id or id also do); its first " +
                     "column is '" + Excerpt(first, 100) + "'" +
                     (first.find_first_of(";\t") != std::string::npos
                          ? ": the file seems to separate cells with ';' or tabs, CSV uses commas"
                          : ": add a header row such as distinctId,region"));
  }
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
// an empty cell leaves its attribute out. Throws Error(kUsage).
void ParseCsvCells(const std::vector<std::string>& cells, const CsvColumns& columns,
                   const BatchOptions& options, BatchLine& result) {
  if (cells.size() != columns.names.size()) {
    throw UsageError("the row has " + Count(cells.size(), "cell") + ", the header " +
                     Count(columns.names.size(), "column"));
  }
  if (!std::all_of(cells.begin(), cells.end(), [](const auto& c) { return IsValidUtf8(c); })) {
    throw UsageError("the row is not valid UTF-8");
  }
  const std::string_view id = Trim(cells[*columns.id]);
  if (id.empty()) throw UsageError("the " + columns.names[*columns.id] + " cell is empty");
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
    const std::string& name = columns.names[i];
    if (i == columns.id || cell.empty()) continue;
    if (i == columns.role) {
      request.role = cell;
    } else if (i == columns.permissions) {
      request.permissions = ParseJsonObject(cell, "the permissions cell");
    } else {
      members.emplace_back(name, options.cell_value ? options.cell_value(name, cell) : Json(cell));
    }
  }
  MergeAttributes(request.attributes, attributes);
  CompleteRequest(std::move(request), options.check_line, result);
}

// One batch run: hands out a job per valid line (in a dry run, writes its request instead),
// turns outcomes into rows.
class BatchRun {
 public:
  BatchRun(int input_fd, const BatchOptions& options, int out_fd, std::FILE* err,
           const std::string* dry_url)
      : options_(options),
        err_(err),
        dry_url_(dry_url),
        rows_(out_fd, options, err),
        input_(input_fd, options.interrupted, options.csv),
        // Enough lines in hand to keep every connection busy while one slow line holds up the
        // output; bounded so that memory stays flat however long the input is.
        window_(1024 + 16 * static_cast<std::size_t>(options.concurrency)) {
    if (options.csv) csv_ = ReadCsvHeader(input_);
  }

  bool Interrupted() {
    return interrupted_ = interrupted_ || (options_.interrupted && options_.interrupted());
  }
  NextJob Next();
  void Done(std::uint64_t id, const MintOutcome& outcome);
  void Stopped(std::uint64_t line, const Error& failure) {
    stopped_ = "stopped at line " + std::to_string(line) + ", lines not yet sent skipped: " +
               WithHint(failure) + "; --keep-going sends every line anyway";
  }
  int Finish();

 private:
  BatchLine Parse(BatchInput::Got got);

  const BatchOptions& options_;
  std::FILE* err_;
  const std::string* dry_url_;  // a dry run: nothing is sent
  OrderedRows rows_;
  BatchInput input_;
  std::size_t window_;
  std::unordered_map<std::uint64_t, std::string> ids_;  // lines in flight → distinct id
  std::optional<CsvColumns> csv_;
  std::string line_;
  bool interrupted_ = false;
  std::string stopped_;  // why the batch stopped early, for the summary
};

// The line or CSV record just read, as a request or an error.
BatchLine BatchRun::Parse(BatchInput::Got got) {
  BatchLine parsed;
  if (got == BatchInput::Got::kOversized) {
    parsed.error = std::string(options_.csv ? "the row" : "the line") + " is longer than " +
                   std::to_string(kMaxBatchLineBytes / 1024 / 1024) + " MiB; it was skipped";
    return parsed;
  }
  if (!csv_) return ParseBatchLine(line_, options_.defaults, options_.check_line);
  try {
    if (!input_.record().error().empty()) throw UsageError(input_.record().error());
    ParseCsvCells(input_.record().cells(), *csv_, options_, parsed);
  } catch (const Error& e) {
    parsed.error = e.what();
  }
  return parsed;
}

NextJob BatchRun::Next() {
  // After a failed write, no further request starts.
  while (!rows_.write_error && !Interrupted()) {
    if (rows_.held() >= window_) return {NextJob::State::kNotNow, {}};
    const auto got = input_.Next(line_);
    if (got == BatchInput::Got::kEnd) break;
    const std::uint64_t number = input_.number();
    rows_.Expect(number);
    BatchLine parsed = Parse(got);
    if (!parsed.request) {
      const Json row = ErrorRow(number, parsed.distinct_id, 2, std::nullopt, parsed.error);
      rows_.Complete(number, row, 2);
    } else if (dry_url_) {
      rows_.Complete(number, DryRunRequest(*dry_url_, parsed.body), 0);
    } else {
      ids_.emplace(number, *parsed.distinct_id);
      return {NextJob::State::kJob, MintJob{number, parsed.body.dump()}};
    }
  }
  return {};
}

void BatchRun::Done(std::uint64_t id, const MintOutcome& outcome) {
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
  const int exit_code = ExitCode(error.kind());
  rows_.Complete(id, ErrorRow(id, distinct_id, exit_code, error.http_status(), WithHint(error)),
                 exit_code);
}

// The exit status and the last words of the run. A dry run has no summary unless interrupted.
int BatchRun::Finish() {
  Interrupted();  // the signal may have arrived while the input was being read
  const std::optional<std::uint64_t> rest =
      interrupted_ ? input_.CountRest() : std::optional<std::uint64_t>();
  if (!dry_url_ || (interrupted_ && !rows_.write_error)) rows_.Summary(stopped_);
  const Tally& tally = rows_.tally;
  if (rows_.write_error) {
    const std::string minted = dry_url_ ? "" : ", " + Count(tally.minted, "token") + " minted";
    std::fprintf(err_, "toucan-token: %s; %s written%s\n", rows_.write_error->what(),
                 Count(rows_.written(), "row").c_str(), minted.c_str());
    return ExitCode(ErrorKind::kOutput);
  }
  if (interrupted_) {
    std::fprintf(err_, "toucan-token: interrupted: %llu minted, %llu failed, %s not attempted\n",
                 tally.minted, tally.failed,
                 rest ? std::to_string(*rest).c_str() : "the remaining lines");
    return ExitCode(ErrorKind::kInterrupted);
  }
  if (input_.failed()) {
    std::fprintf(err_, "toucan-token: reading the batch input failed: %s\n",
                 std::strerror(input_.error()));
    return tally.first_exit != 0 ? tally.first_exit : ExitCode(ErrorKind::kUsage);
  }
  return tally.first_exit;
}

}  // namespace

std::optional<std::uint64_t> CountBatchLines(const std::string& path, bool csv) {
  // Only a regular file: a pipe or FIFO read here would be consumed before the batch reads it.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::uint64_t> count;
  struct stat info {};
  if (fstat(fd, &info) == 0 && S_ISREG(info.st_mode)) {
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
  try {
    if (line.empty()) throw UsageError("the line is blank");
    if (!IsValidUtf8(line)) throw UsageError("the line is not valid UTF-8");
    TokenRequest request = defaults;
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

int RunBatch(Client& client, int input_fd, const BatchOptions& options, int out_fd,
             std::FILE* err) {
  BatchRun run(input_fd, options, out_fd, err, nullptr);
  RunCallbacks callbacks;
  callbacks.interrupted = [&] { return run.Interrupted(); };
  callbacks.next = [&] { return run.Next(); };
  callbacks.done = [&](std::uint64_t id, const MintOutcome& outcome) { run.Done(id, outcome); };
  callbacks.keep_going = options.keep_going;
  callbacks.stopped = [&](std::uint64_t line, const Error& failure) { run.Stopped(line, failure); };
  client.MintMany(callbacks, options.concurrency);
  return run.Finish();
}

int RunBatchDryRun(int input_fd, const BatchOptions& options, const std::string& url, int out_fd,
                   std::FILE* err) {
  BatchOptions quiet = options;
  quiet.progress = false;
  BatchRun run(input_fd, quiet, out_fd, err, &url);
  run.Next();  // writes every row itself
  return run.Finish();
}

}  // namespace toucan
