// Batch lines and the rows they become: an error row, or a minted row for a reply (the same
// input read as a reply). Every row must serialise as JSON (valid UTF-8) and keep its own
// `line` and `distinctId`. The same bytes are read as CSV records too.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "csv.hpp"
#include "batch.hpp"
#include "toucan/client.hpp"

namespace {

toucan::Json ErrorRow(const toucan::BatchLine& line) {
  toucan::Json row = toucan::Json::object();
  row["line"] = 1;
  row["distinctId"] = line.distinct_id ? toucan::Json(*line.distinct_id) : toucan::Json(nullptr);
  row["error"] = {{"exit", 2}, {"status", nullptr}, {"message", line.error}};
  return row;
}

void CheckMintedRow(std::string_view reply, const std::optional<std::string>& distinct_id) {
  try {
    const auto response = toucan::ParseTokenResponse(reply, std::chrono::system_clock::now(),
                                                     toucan::Redactor("tk_fuzz_key_0123"));
    const std::string row = toucan::BatchRowJsonLine(7, distinct_id, response);
    const toucan::Json parsed = toucan::Json::parse(row, nullptr, false);
    if (parsed.is_discarded()) std::abort();  // not JSON
    if (parsed["line"] != 7) std::abort();
    if (parsed["distinctId"] != (distinct_id ? toucan::Json(*distinct_id) : toucan::Json()))
      std::abort();
    if (parsed["token"] != response.token || parsed.contains("error")) std::abort();
    if (toucan::ResponseToJson(response)["token"] != response.token) std::abort();
  } catch (const toucan::Error& e) {
    if (e.kind() != toucan::ErrorKind::kBadResponse) std::abort();
  }
}

// The same bytes as CSV lines: every record ends, and a record's cells stay within its limit
// (none are kept once it is over).
void CheckCsv(std::string_view input) {
  constexpr std::size_t kLimit = 256;
  toucan::CsvRecord record(kLimit);
  for (std::size_t start = 0; start <= input.size();) {
    const std::size_t end = std::min(input.find('\n', start), input.size());
    const bool complete = record.Feed(input.substr(start, end - start));
    std::size_t held = 0;
    for (const auto& cell : record.cells()) held += cell.size();
    if (held > kLimit || (record.oversized() && !record.cells().empty())) std::abort();
    if (complete) record = toucan::CsvRecord(kLimit);
    start = end + 1;
  }
  record.EndOfInput();
  if (!record.oversized() && record.cells().empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  toucan::TokenRequest defaults;
  defaults.attributes = toucan::Json::parse(R"({"region":"EU"})");
  const toucan::BatchLine line = toucan::ParseBatchLine(input, defaults);
  if (line.error.empty()) {
    if (!line.distinct_id || line.distinct_id->empty()) std::abort();
    (void)line.body.dump();  // strict: throws on invalid UTF-8
  } else {
    (void)ErrorRow(line).dump();
  }
  CheckMintedRow(input, line.distinct_id);
  CheckCsv(input);
  return 0;
}
