// Batch minting: JSON Lines in, JSON Lines out in input order, requests run concurrently.
#include "toucan/batch.hpp"

#include <chrono>
#include <deque>
#include <fstream>
#include <unordered_map>

namespace toucan {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kLineFields = "distinctId, role, attributes, permissions";

void Write(std::FILE* out, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), out);
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

// Emits rows in input order however they complete; holds at most a window of lines.
class OrderedRows {
 public:
  OrderedRows(std::FILE* out, bool progress, std::FILE* err,
              std::optional<std::uint64_t> total = {})
      : out_(out), err_(err), progress_(progress), total_(total) {}

  void Expect(std::uint64_t line) { order_.push_back(line); }
  std::size_t held() const { return order_.size(); }

  void Complete(std::uint64_t line, Json row, int exit_code) {
    ready_.emplace(line, Entry{std::move(row), exit_code});
    bool wrote = false;
    while (!order_.empty()) {
      const auto found = ready_.find(order_.front());
      if (found == ready_.end()) break;
      Write(out_, found->second.row.dump() + "\n");
      if (found->second.exit_code == 0) {
        ++minted_;
      } else {
        ++failed_;
        if (first_exit_ == 0) first_exit_ = found->second.exit_code;
      }
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
    const auto done = static_cast<unsigned long long>(minted_) + failed_;
    std::string of_total;
    if (total_) of_total = "/" + std::to_string(*total_);
    std::fprintf(err_, "\r\033[Ktoucan-token: %llu%s done, %llu failed, %.0f/s", done,
                 of_total.c_str(), static_cast<unsigned long long>(failed_),
                 seconds > 0 ? static_cast<double>(done) / seconds : 0.0);
    if (final) std::fputs("\r\033[K", err_);
    std::fflush(err_);
  }

  void Summary() {
    ShowProgress(true);
    std::fflush(out_);
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    std::fprintf(err_, "toucan-token: %llu minted, %llu failed in %.3f s\n",
                 static_cast<unsigned long long>(minted_), static_cast<unsigned long long>(failed_),
                 seconds);
  }

  int first_exit() const { return first_exit_; }

 private:
  struct Entry {
    Json row;
    int exit_code;
  };
  std::FILE* out_;
  std::FILE* err_;
  bool progress_;
  std::optional<std::uint64_t> total_;
  std::deque<std::uint64_t> order_;
  std::unordered_map<std::uint64_t, Entry> ready_;
  std::uint64_t minted_ = 0;
  std::uint64_t failed_ = 0;
  int first_exit_ = 0;
  Clock::time_point started_ = Clock::now();
  Clock::time_point last_progress_{};
};

}  // namespace

std::optional<std::uint64_t> CountBatchLines(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::uint64_t count = 0;
  for (std::string line; std::getline(file, line);) {
    if (!Trim(line).empty()) ++count;
  }
  return file.bad() ? std::nullopt : std::optional<std::uint64_t>(count);
}

BatchLine ParseBatchLine(std::string_view raw, const TokenRequest& defaults) {
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
      const Json object = ParseJsonObject(line, "the line");
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
          for (const auto& [name, attribute] : value.items()) request.attributes[name] = attribute;
        } else if (key == "permissions") {
          if (!value.is_object()) throw UsageError("\"permissions\" must be a JSON object");
          request.permissions = value;
        } else {
          throw UsageError("unknown field \"" + key + "\" (a line may hold " +
                           std::string(kLineFields) + ")");
        }
      }
      if (!result.distinct_id) throw UsageError("the line has no \"distinctId\"");
    } else if (line.front() == '"') {
      const Json id = ParseJsonValue(line, "the line");
      if (!id.is_string()) throw UsageError("the line must hold a JSON string");
      result.distinct_id = id.get<std::string>();
    } else {
      result.distinct_id = std::string(line);
    }
    request.distinct_id = *result.distinct_id;
    BuildRequestBody(request);  // the same checks as a single request
    result.request = std::move(request);
  } catch (const Error& e) {
    result.error = e.what();
  }
  return result;
}

int RunBatch(Client& client, std::istream& input, const BatchOptions& options, std::FILE* out,
             std::FILE* err) {
  OrderedRows rows(out, options.progress, err, options.total_lines);
  // Enough lines in hand to keep every connection busy while one slow line holds up the output;
  // bounded so that memory stays flat however long the input is.
  const std::size_t window = 1024 + 16 * static_cast<std::size_t>(options.concurrency);
  std::unordered_map<std::uint64_t, std::string> ids;  // lines in flight → distinct id
  std::uint64_t line_number = 0;
  std::string line;
  bool input_failed = false;

  const auto next = [&]() -> NextJob {
    NextJob answer;
    while (true) {
      if (rows.held() >= window) {
        answer.state = NextJob::State::kNotNow;
        return answer;
      }
      if (!std::getline(input, line)) {
        if (input.bad()) input_failed = true;
        answer.state = NextJob::State::kEnd;
        return answer;
      }
      ++line_number;
      if (Trim(line).empty()) continue;
      rows.Expect(line_number);
      BatchLine parsed = ParseBatchLine(line, options.defaults);
      if (!parsed.request) {
        rows.Complete(line_number,
                      ErrorRow(line_number, parsed.distinct_id, 2, std::nullopt, parsed.error), 2);
        continue;
      }
      ids.emplace(line_number, *parsed.distinct_id);
      answer.state = NextJob::State::kJob;
      answer.job = MintJob{line_number, BuildRequestBody(*parsed.request).dump()};
      return answer;
    }
  };

  const auto done = [&](std::uint64_t id, MintOutcome outcome) {
    const auto found = ids.find(id);
    std::optional<std::string> distinct_id;
    if (found != ids.end()) {
      distinct_id = std::move(found->second);
      ids.erase(found);
    }
    if (outcome.response) {
      Json row = Json::object();
      row["line"] = id;
      row["distinctId"] = distinct_id ? Json(*distinct_id) : Json(nullptr);
      const Json minted = ResponseToJson(*outcome.response);
      for (const auto& [key, value] : minted.items()) row[key] = value;
      rows.Complete(id, std::move(row), 0);
      return;
    }
    const Error& error = *outcome.error;
    rows.Complete(
        id, ErrorRow(id, distinct_id, ExitCode(error.kind()), error.http_status(), error.what()),
        ExitCode(error.kind()));
  };

  client.MintMany(next, done, options.concurrency);
  rows.Summary();
  if (input_failed) {
    std::fputs("toucan-token: reading the batch input failed\n", err);
    return rows.first_exit() != 0 ? rows.first_exit() : 2;
  }
  return rows.first_exit();
}

int RunBatchDryRun(std::istream& input, const BatchOptions& options, const std::string& url,
                   std::FILE* out, std::FILE* err) {
  OrderedRows rows(out, false, err);
  std::uint64_t line_number = 0;
  std::string line;
  while (std::getline(input, line)) {
    ++line_number;
    if (Trim(line).empty()) continue;
    BatchLine parsed = ParseBatchLine(line, options.defaults);
    rows.Expect(line_number);
    if (!parsed.request) {
      rows.Complete(line_number,
                    ErrorRow(line_number, parsed.distinct_id, 2, std::nullopt, parsed.error), 2);
      continue;
    }
    rows.Complete(line_number, DryRunRequest(url, BuildRequestBody(*parsed.request)), 0);
  }
  std::fflush(out);
  return rows.first_exit();
}

}  // namespace toucan
