#pragma once

#include <cstdio>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include "toucan/token.hpp"

namespace toucan {

struct BatchOptions {
  TokenRequest defaults;  // distinct_id unused: every line names its user
  int concurrency = 8;
  bool progress = false;                     // redraw a progress line on stderr (a terminal)
  std::optional<std::uint64_t> total_lines;  // non-blank input lines, when known, for progress
};

// One input line read as a request over the defaults. `distinct_id` is set as soon as the line
// names one, so an error row can still say whose line it was.
struct BatchLine {
  std::optional<std::string> distinct_id;
  std::optional<TokenRequest> request;  // empty when the line is invalid
  std::string error;                    // why, when invalid
};

// Non-blank lines in a file, for a progress total; empty when it cannot be read.
std::optional<std::uint64_t> CountBatchLines(const std::string& path);

// Reads one non-blank line: `{...}` a user object, `"..."` a JSON string id, else a bare id.
BatchLine ParseBatchLine(std::string_view line, const TokenRequest& defaults);

// Mints a token per non-blank line of `input` and writes one JSON row per line to `out` in input
// order, a summary to `err`. Returns the exit code of the first failed line, or 0.
int RunBatch(Client& client, std::istream& input, const BatchOptions& options, std::FILE* out,
             std::FILE* err);

// The same lines turned into request objects, nothing sent.
int RunBatchDryRun(std::istream& input, const BatchOptions& options, const std::string& url,
                   std::FILE* out, std::FILE* err);

}  // namespace toucan
