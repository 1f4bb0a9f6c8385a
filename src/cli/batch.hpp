#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "toucan/client.hpp"

namespace toucan {

// A batch line longer than this is an error row; the rest of it is skipped unread into memory.
inline constexpr std::size_t kMaxBatchLineBytes = std::size_t{1024} * 1024;

struct BatchOptions {
  TokenRequest defaults;  // distinct_id unused: every line names its user
  int concurrency = 8;
  bool progress = false;                     // redraw a progress line on stderr (a terminal)
  std::optional<std::uint64_t> total_lines;  // non-blank input lines, when known, for progress
  // Polled while minting; once true, nothing new starts (SIGINT/SIGTERM in the CLI).
  std::function<bool()> interrupted;
  int interrupt_exit = 130;  // the exit status and row "exit" of an interrupted run
  // A further check of each line's request (the attribute schema); throws Error(kUsage), which
  // makes the line an error row.
  std::function<void(const TokenRequest&)> check_line;
  // CSV input (a header row, then one user per record) instead of JSON Lines.
  bool csv = false;
  // A CSV cell's value for the attribute `name`: the text converted to the type the schema
  // declares, as -a KEY=VALUE is. Empty: cells are strings.
  std::function<Json(const std::string& name, std::string_view text)> cell_value;
  // Send every line even after a failure every line would meet (a rejected key, a wrong URL).
  bool keep_going = false;
  // Applied to every row before it is written. A line's own input may hold an API key (a key
  // pasted as a distinct id, an error quoting the line), so the CLI redacts every key it knows.
  std::function<std::string(std::string)> redact;
};

// One input line read as a request over the defaults. `distinct_id` is set as soon as the line
// names one, so an error row can still say whose line it was.
struct BatchLine {
  std::optional<std::string> distinct_id;
  std::optional<TokenRequest> request;  // empty when the line is invalid
  Json body;                            // the request body, built once, when valid
  std::string error;                    // why, when invalid
};

// Users in a regular file (non-blank lines, or CSV records after the header), for a progress
// total; empty when it cannot be counted.
std::optional<std::uint64_t> CountBatchLines(const std::string& path, bool csv = false);

// Reads one non-blank line: `{...}` a user object, `"..."` a JSON string id, else a bare id.
BatchLine ParseBatchLine(std::string_view line, const TokenRequest& defaults,
                         const std::function<void(const TokenRequest&)>& check = {});

// Mints a token per non-blank line (CSV: record) read from `input_fd` and writes one JSON row
// per line to `out_fd` in input order, a summary to `err`. Returns the exit code of the first
// failed line (0 when all were minted), 8 when stdout failed, the interrupt status when
// interrupted. A CSV header that cannot be used throws Error(kUsage) before anything is sent.
int RunBatch(Client& client, int input_fd, const BatchOptions& options, int out_fd, std::FILE* err);

// The same lines turned into request objects (or error rows), nothing sent.
int RunBatchDryRun(int input_fd, const BatchOptions& options, const std::string& url, int out_fd,
                   std::FILE* err);

}  // namespace toucan
