// What the tool says on stderr and writes as rows, every line redacted of every known key.
#include <cstdio>

#include "cli.hpp"

namespace toucan::cli {

KnownKeys g_keys;
bool g_quiet = false;

void PrintError(const std::string& message) {
  const std::string line = "toucan-token: " + g_keys.Apply(message) + "\n";
  [[maybe_unused]] const auto written = std::fwrite(line.data(), 1, line.size(), stderr);
}

void Warn(const std::string& message) {
  if (!g_quiet) PrintError("warning: " + message);
}

void WriteRow(LineWriter& out, const Json& row) {
  out.Write(g_keys.Apply(row.dump(-1, ' ', false, Json::error_handler_t::replace)));
}

}  // namespace toucan::cli
