#include "batch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <unordered_map>

#include "cli.hpp"
#include "csv.hpp"
#include "output.hpp"

namespace toucan {
namespace {

using Clock = std::chrono::steady_clock;
// A batch line longer than this is an error row; the rest of it is skipped unread into memory.
constexpr std::size_t kMaxBatchLineBytes = std::size_t{1024} * 1024;

// A row names its line and user first. Rows are always valid JSON and valid UTF-8, whatever
// text reached them. (A minted row is built by BatchRowJsonLine, which drops server fields that
// would pass for these.)
std::string Row(std::uint64_t line, const std::optional<std::string>& distinct_id,
                const Json& fields) {
  Json row = {{"line", line}, {"distinctId", distinct_id ? Json(*distinct_id) : Json()}};
  row.update(fields);
  return row.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string ErrorRow(std::uint64_t line, const std::optional<std::string>& distinct_id,
                     int exit_code, std::optional<long> status, const std::string& message) {
  return Row(
      line, distinct_id,
      {{"error",
        {{"exit", exit_code}, {"status", status ? Json(*status) : Json()}, {"message", message}}}});
}

std::string Count(std::uint64_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// Numbered, bounded, non-blank input: JSON Lines, or CSV records.
class BatchInput {
 public:
  BatchInput(int fd, std::function<bool()> interrupted, bool csv)
      : fd_(fd), interrupted_(std::move(interrupted)), csv_(csv) {}

  enum class Got { kLine, kOversized, kEnd };
  // The next non-blank line in `line`, or CSV record in record(); number() is its (first) line.
  // kEnd at the end, on a read error, or when interrupted.
  Got Next(std::string& line) {
    record_ = CsvRecord(kMaxBatchLineBytes);
    first_ = 0;
    while (true) {
      const Got got = NextLine(line);
      if (got == Got::kEnd) {
        // A record cut short by a signal or a read error is not the user's mistake: no row.
        if (!csv_ || first_ == 0 || error_ != 0 || (interrupted_ && interrupted_())) return got;
        record_.EndOfInput();
        break;
      }
      if (first_ == 0) {
        // A CSV row of empty cells (`,,`, as spreadsheets end their exports) is blank too.
        if (got == Got::kLine &&
            Trim(line).find_first_not_of(csv_ ? "," : "") == std::string_view::npos) {
          continue;
        }
        first_ = number_;
      }
      if (!csv_) return got;
      if (got == Got::kOversized) {
        record_.DropCells();
        break;
      }
      if (record_.Feed(line)) break;
    }
    return record_.oversized() ? Got::kOversized : Got::kLine;
  }

  // The users left, read to the end: of a regular file, then read again from here when `rewind`
  // (for a progress total); or, after an interrupt, what a pipe already holds (never waiting for
  // more). Empty when that cannot be known.
  std::optional<std::uint64_t> CountRest(bool rewind = false) {
    struct stat info {};
    const off_t start = lseek(fd_, 0, SEEK_CUR);
    if (fstat(fd_, &info) != 0 || !(S_ISREG(info.st_mode) || (S_ISFIFO(info.st_mode) && !rewind))) {
      return std::nullopt;
    }
    const int flags = fcntl(fd_, F_GETFL);
    if (S_ISFIFO(info.st_mode)) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    interrupted_ = nullptr;
    const int error = error_;
    std::uint64_t count = 0;
    std::string line;
    // Bounded, so that a writer that keeps writing cannot keep the program here.
    while ((rewind || count < 10'000'000) && Next(line) != Got::kEnd) ++count;
    error_ = error;  // a pipe with nothing more to read now is no read error
    fcntl(fd_, F_SETFL, flags);
    if (rewind) lseek(fd_, start, SEEK_SET);
    return count;
  }

  std::uint64_t number() const { return first_; }
  const CsvRecord& record() const { return record_; }
  int error() const { return error_; }  // errno of a failed read, else 0

 private:
  Got NextLine(std::string& line) {  // the next line, blank or not
    bool oversized = false;
    std::size_t newline = 0;
    while ((newline = buffer_.find('\n', start_)) == std::string::npos && !eof_) {
      // No newline yet: an oversized line is dropped as it arrives, so memory stays bounded.
      oversized = oversized || buffer_.size() - start_ > kMaxBatchLineBytes;
      buffer_.erase(0, oversized ? std::string::npos : start_);
      start_ = 0;
      if (interrupted_ && interrupted_()) return Got::kEnd;
      char chunk[65536];
      const ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error_ = errno;
        return Got::kEnd;
      }
      eof_ = n == 0;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
    const std::size_t end = std::min(newline, buffer_.size());
    if (end == start_ && newline == std::string::npos && !oversized) return Got::kEnd;
    if (!oversized) line.assign(buffer_, start_, end - start_);
    start_ = std::min(end + 1, buffer_.size());
    ++number_;
    if (oversized || line.size() > kMaxBatchLineBytes) return Got::kOversized;
    // A byte-order mark some editors write would otherwise become part of an id, or turn a
    // user object into one; files joined with cat carry one at each file's first line.
    if (line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    return Got::kLine;
  }

  int fd_;
  // Asked before each read: an endless line (/dev/zero) must not keep us reading.
  std::function<bool()> interrupted_;
  bool csv_;
  std::string buffer_;  // read and not yet returned, from start_
  std::size_t start_ = 0;
  bool eof_ = false;
  int error_ = 0;
  CsvRecord record_{kMaxBatchLineBytes};
  std::uint64_t number_ = 0;  // lines read
  std::uint64_t first_ = 0;   // the line the last user began on
};

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
      MergeAttributes(request.attributes, {&value, 1});
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
void CheckBareId(std::string_view line, const std::string& cell = "") {
  const std::size_t control = FindControl(line);
  if (control == std::string_view::npos) return;
  const bool c1 = static_cast<unsigned char>(line[control]) >= 0x80;
  throw UsageError((cell.empty() ? "the line" : cell) + " holds a control character (" +
                   std::string(line.substr(control, c1 ? 2 : 1)) +
                   (line[control] == '\0' ? "; is the file UTF-16?" : "") + ")" +
                   (cell.empty() ? "; a distinct id that holds one must be written as a JSON string"
                                 : ": no distinct id holds one"));
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

struct CsvColumns {
  std::vector<std::string> names;
  std::optional<std::size_t> id;  // the distinctId column
};

// The header of a CSV batch, checked before anything is sent. Throws Error(kUsage).
CsvColumns ReadCsvHeader(BatchInput& input, const std::function<bool()>& interrupted) {
  std::string unused;
  const auto got = input.Next(unused);
  if (got == BatchInput::Got::kEnd && interrupted && interrupted()) {
    throw Error(ErrorKind::kInterrupted, "interrupted while reading the CSV header");
  }
  if (got == BatchInput::Got::kEnd) {
    throw UsageError(
        "the CSV input is empty: its first row must name the columns (distinctId,...)");
  }
  const std::string where = "the CSV header (line " + std::to_string(input.number()) + ")";
  if (got == BatchInput::Got::kOversized) throw UsageError(where + " is longer than 1 MiB");
  if (!input.record().error().empty()) throw UsageError(where + ": " + input.record().error());
  CsvColumns columns;
  std::unordered_map<std::string, std::size_t> seen;  // name → column
  for (const std::string& cell : input.record().cells()) {
    std::string name(Trim(cell));
    const std::string lower = AsciiLower(name);  // `ID`, `Role`: as spreadsheets capitalise
    if (lower == "role" || lower == "permissions") name = lower;
    const std::size_t index = columns.names.size();
    const std::string column = where + ": column " + std::to_string(index + 1);
    if (!IsValidUtf8(name)) throw UsageError(where + " is not valid UTF-8");
    if (name.empty()) throw UsageError(column + " has no name: name it or delete the column");
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
    if (lower == "distinctid" || lower == "distinct_id" || lower == "id") {
      if (columns.id) {
        throw UsageError(where + ": '" + columns.names[*columns.id] + "' and '" + name +
                         "' both name the distinct id");
      }
      columns.id = index;
    }
    columns.names.push_back(name);
  }
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

void CompleteRequest(TokenRequest request, const Schema* schema, BatchLine& result) {
  request.distinct_id = *result.distinct_id;
  result.body = BuildRequestBody(request);
  if (schema) schema->Check(request.attributes);
}

// One CSV record over the defaults: the id, role and permissions cells, the others attributes;
// an empty cell leaves its attribute out. Throws Error(kUsage).
void ParseCsvCells(const std::vector<std::string>& cells, const CsvColumns& columns,
                   const BatchOptions& options, BatchLine& result) {
  if (!std::all_of(cells.begin(), cells.end(), [](const auto& c) { return IsValidUtf8(c); })) {
    throw UsageError("the row is not valid UTF-8");
  }
  // Named even when the row is refused, so that its user can be found.
  const std::string_view id = *columns.id < cells.size() ? Trim(cells[*columns.id]) : "";
  if (!id.empty()) result.distinct_id = std::string(id);
  if (cells.size() != columns.names.size()) {
    throw UsageError("the row has " + Count(cells.size(), "cell") + ", the header " +
                     Count(columns.names.size(), "column"));
  }
  if (id.empty()) throw UsageError("the " + columns.names[*columns.id] + " cell is empty");
  CheckBareId(id, "the " + columns.names[*columns.id] + " cell");
  TokenRequest request = options.defaults;
  Json attributes = Json::object();
  // Header names are unique: appended as they are, in linear time.
  auto& members = static_cast<Json::object_t::Container&>(attributes.get_ref<Json::object_t&>());
  for (std::size_t i = 0; i < cells.size(); ++i) {
    // Trimmed as the id and the header names are: `ana, EU` must not send " EU", which would
    // match no row.
    const std::string cell(Trim(cells[i]));
    const std::string& name = columns.names[i];
    if (i == columns.id || cell.empty()) continue;
    if (name == "role") {
      request.role = cell;
    } else if (name == "permissions") {
      request.permissions = ParseJsonObject(cell, "the permissions cell");
    } else {
      members.emplace_back(name, options.schema ? options.schema->Coerce(name, cell) : Json(cell));
    }
  }
  MergeAttributes(request.attributes, {&attributes, 1});
  CompleteRequest(std::move(request), options.schema, result);
}

// One batch run: hands out a job per valid line (in a dry run, writes its request instead),
// turns outcomes into rows and writes them in input order, however they complete.
class BatchRun {
 public:
  BatchRun(int input_fd, const BatchOptions& options, int out_fd, std::FILE* err, bool dry_run)
      : options_(options),
        err_(err),
        dry_run_(dry_run),
        progress_(options.progress && !dry_run),
        out_(out_fd),
        input_(input_fd, options.interrupted, options.csv) {
    if (progress_) {
      total_ = BatchInput(input_fd, nullptr, options.csv).CountRest(true);
      if (options.csv && total_ > 0u) --*total_;  // the header is no user
    }
    if (options.csv) csv_ = ReadCsvHeader(input_, options.interrupted);
  }

  bool Interrupted() {
    return interrupted_ = interrupted_ || (options_.interrupted && options_.interrupted());
  }

  NextJob Next() {
    while (!write_error_ && !Interrupted()) {
      // Enough lines in hand to keep every connection busy while one slow line holds up the
      // output; bounded so that memory stays flat however long the input is.
      if (slots_.size() >= 1024 + 16 * static_cast<std::size_t>(options_.concurrency)) {
        return {NextJob::State::kNotNow, {}};
      }
      const auto got = input_.Next(line_);
      if (got == BatchInput::Got::kEnd) break;
      const std::uint64_t number = input_.number();
      const BatchLine parsed = Parse(got);
      slots_[number].distinct_id = parsed.distinct_id;
      if (!parsed.error.empty()) {
        Complete(number, ErrorRow(number, parsed.distinct_id, 2, std::nullopt, parsed.error), 2);
      } else if (dry_run_) {
        Complete(number, Row(number, parsed.distinct_id, DryRunRequest(options_.url, parsed.body)),
                 0);
      } else {
        return {NextJob::State::kJob, MintJob{number, parsed.body.dump()}};
      }
    }
    return {};
  }

  void Done(std::uint64_t id, const MintOutcome& outcome) {
    const std::optional<std::string> distinct_id = std::move(slots_[id].distinct_id);
    if (outcome.response)
      return Complete(id, BatchRowJsonLine(id, distinct_id, *outcome.response), 0);
    const Error& error = *outcome.error;
    const int exit_code = ExitCode(error.kind());
    Complete(id, ErrorRow(id, distinct_id, exit_code, error.http_status(), cli::WithHint(error)),
             exit_code);
  }

  void Stopped(std::uint64_t line, const Error& failure) {
    // Masked as rows are: the failure may quote a URL that holds the key.
    stopped_ = cli::g_keys.Apply("stopped at line " + std::to_string(line) +
                                 ", lines not yet sent skipped: " + cli::WithHint(failure) +
                                 "; --keep-going sends every line anyway");
  }

  // The exit status and the last words of the run: on an interrupt, only what was not attempted;
  // else a summary, unless a dry run.
  int Finish() {
    Interrupted();  // the signal may have arrived while the input was being read
    ShowProgress(true);
    if (interrupted_ && !write_error_) {
      const std::optional<std::uint64_t> rest = input_.CountRest();
      std::fprintf(err_, "toucan-token: interrupted: %llu minted, %llu failed, %s not attempted\n",
                   minted_, failed_, rest ? std::to_string(*rest).c_str() : "the remaining lines");
      return ExitCode(ErrorKind::kInterrupted);
    }
    if (!dry_run_) {
      const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
      std::fprintf(err_, "toucan-token: %llu minted, %llu failed in %.3f s%s\n", minted_, failed_,
                   seconds, stopped_.empty() ? "" : ("; " + stopped_).c_str());
    }
    if (write_error_) {
      const std::string minted = dry_run_ ? "" : ", " + Count(minted_, "token") + " minted";
      std::fprintf(err_, "toucan-token: %s; %s written%s\n", write_error_->what(),
                   Count(out_.lines_written(), "row").c_str(), minted.c_str());
      return ExitCode(ErrorKind::kOutput);
    }
    if (input_.error() != 0) {
      std::fprintf(err_, "toucan-token: reading the batch input failed: %s\n",
                   std::strerror(input_.error()));
      return first_exit_ != 0 ? first_exit_ : ExitCode(ErrorKind::kUsage);
    }
    return first_exit_;
  }

 private:
  struct Slot {  // a line read and not yet written
    std::optional<std::string> distinct_id;
    std::optional<std::string> row;  // once it is complete
    int exit_code = 0;
  };

  BatchLine Parse(BatchInput::Got got) {
    BatchLine parsed;
    if (got == BatchInput::Got::kOversized) {
      parsed.error =
          std::string(csv_ ? "the row" : "the line") + " is longer than 1 MiB; it was skipped";
      return parsed;
    }
    if (!csv_) return ParseBatchLine(line_, options_.defaults, options_.schema);
    try {
      if (!input_.record().error().empty()) throw UsageError(input_.record().error());
      ParseCsvCells(input_.record().cells(), *csv_, options_, parsed);
    } catch (const Error& e) {
      parsed.error = e.what();
    }
    return parsed;
  }

  void Complete(std::uint64_t line, std::string row, int exit_code) {
    Slot& slot = slots_[line];
    slot.row = cli::g_keys.ApplyToJson(row);  // a line may hold a key (pasted as an id, say)
    slot.exit_code = exit_code;
    const std::size_t held = slots_.size();
    for (auto first = slots_.begin(); first != slots_.end() && first->second.row;
         first = slots_.erase(first)) {
      const int code = first->second.exit_code;
      ++(code == 0 ? minted_ : failed_);
      if (first_exit_ == 0) first_exit_ = code;
      try {
        if (!write_error_) out_.Write(*first->second.row);
      } catch (const Error& e) {
        write_error_ = e;
      }
    }
    if (slots_.size() < held) ShowProgress(false);
  }

  void ShowProgress(bool final) {
    if (!progress_) return;
    const auto now = Clock::now();
    if (!final && now - last_progress_ < std::chrono::milliseconds(100)) return;
    last_progress_ = now;
    const double seconds = std::chrono::duration<double>(now - started_).count();
    const auto done = minted_ + failed_;
    const std::string of_total = total_ ? "/" + std::to_string(*total_) : "";
    std::fprintf(err_, "\r\033[Ktoucan-token: %llu%s done, %llu failed, %.0f/s", done,
                 of_total.c_str(), failed_,
                 seconds > 0 ? static_cast<double>(done) / seconds : 0.0);
    if (final) std::fputs("\r\033[K", err_);
    std::fflush(err_);
  }

  const BatchOptions& options_;
  std::FILE* err_;
  bool dry_run_;                        // nothing is sent
  bool progress_;                       // a progress line on stderr
  std::optional<std::uint64_t> total_;  // the users in the input, when known, for progress
  LineWriter out_;
  // After a failed write nothing more is written, but outcomes are still counted.
  std::optional<Error> write_error_;
  BatchInput input_;
  std::map<std::uint64_t, Slot> slots_;  // by line number
  std::optional<CsvColumns> csv_;
  std::string line_;
  unsigned long long minted_ = 0, failed_ = 0;  // for printf's %llu
  int first_exit_ = 0;
  Clock::time_point started_ = Clock::now(), last_progress_{};
  bool interrupted_ = false;
  std::string stopped_;  // why the batch stopped early, for the summary
};

}  // namespace

BatchLine ParseBatchLine(std::string_view raw, const TokenRequest& defaults, const Schema* schema) {
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
    CompleteRequest(std::move(request), schema, result);
  } catch (const Error& e) {
    result.error = e.what();
  }
  return result;
}

int RunBatch(Client* client, int input_fd, const BatchOptions& options, int out_fd,
             std::FILE* err) {
  BatchRun run(input_fd, options, out_fd, err, client == nullptr);
  if (!client) {
    run.Next();  // writes every row itself
    return run.Finish();
  }
  client->MintMany(
      {.next = [&] { return run.Next(); },
       .done = [&](std::uint64_t id, const MintOutcome& outcome) { run.Done(id, outcome); },
       .interrupted = [&] { return run.Interrupted(); },
       .keep_going = options.keep_going,
       .stopped = [&](std::uint64_t line, const Error& failure) { run.Stopped(line, failure); }},
      options.concurrency);
  return run.Finish();
}

}  // namespace toucan
