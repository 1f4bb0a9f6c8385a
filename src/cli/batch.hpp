#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "schema.hpp"
#include "toucan/client.hpp"

namespace toucan {

struct BatchOptions {
  TokenRequest defaults;  // distinct_id unused: every line names its user
  int concurrency = 8;
  bool progress = false;              // redraw a progress line on stderr (a terminal)
  std::function<bool()> interrupted;  // polled while minting; once true, nothing new starts
  // Checks every line and converts CSV cells as -a KEY=VALUE does; none: cells are strings.
  const Schema* schema = nullptr;
  bool csv = false;         // CSV input (a header row, then one user per record), not JSON Lines
  bool keep_going = false;  // send every line even after a failure every line would meet
  std::string url;          // the endpoint, for a dry run's request objects
};

// One input line as a request over the defaults; `distinct_id` as soon as the line names one.
struct BatchLine {
  std::optional<std::string> distinct_id;
  Json body;          // the request body, built once, when valid
  std::string error;  // why, when invalid; empty when valid
};

// Reads one non-blank line: `{...}` a user object, `"..."` a JSON string id, else a bare id.
BatchLine ParseBatchLine(std::string_view line, const TokenRequest& defaults,
                         const Schema* schema = nullptr);

// Mints a token per non-blank line (CSV: record) and writes one JSON row per line in input
// order, a summary to `err`; without a client (--dry-run), each line's request object for
// `options.url` instead, nothing sent. Returns the exit code of the first failed line, 8 when
// stdout failed, or the interrupt status. A bad CSV header throws Error(kUsage) before anything
// is sent.
int RunBatch(Client* client, int input_fd, const BatchOptions& options, int out_fd, std::FILE* err);

}  // namespace toucan
