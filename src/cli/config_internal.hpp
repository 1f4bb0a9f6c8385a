#pragma once
// Shared by config.cpp, schema.cpp and cache.cpp; not part of the public API (it names toml++
// types, which the library links privately).

#include <sys/types.h>
#include <toml++/toml.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "toucan/client.hpp"

namespace toucan::internal {

struct FileText {
  std::string text;
  mode_t mode = 0;
  uid_t owner = 0;
};

// Reads a regular file of at most `max_bytes`, opened without blocking (a FIFO or a device is
// refused before any read). Empty when the file does not exist and `missing_ok`. Throws
// Error(kUsage) naming `what` and the path otherwise.
std::optional<FileText> ReadRegularFile(const std::string& path, std::string_view what,
                                        std::size_t max_bytes, bool missing_ok);

// An XDG base folder: `$variable` when it is an absolute path, else `$HOME/fallback`. Empty
// when neither is usable.
std::optional<std::string> XdgFolder(const Environment& env, const std::string& variable,
                                     std::string_view fallback);

// "0644": a file mode for a message.
std::string OctalMode(mode_t mode);

// Text from a file or a parser made fit for a message: control characters escaped, invalid
// UTF-8 replaced.
std::string Printable(std::string_view text);

// `file:line:column` of a node or key.
std::string Where(const toml::source_region& region);

// Parses TOML text with its nesting bounded before and after parsing (toml++ itself builds
// dotted keys to any depth, and frees them recursively). Throws Error(kUsage) with
// `source:line:column`.
toml::table ParseToml(std::string_view text, const std::string& source);

// A table's entries in the order the file writes them (toml::table is sorted by key).
std::vector<std::pair<const toml::key*, const toml::node*>> InFileOrder(const toml::table& table);

// The JSON value a TOML value stands for: integers stay 64-bit integers, floats doubles.
// Dates and times have no JSON form and are refused. Throws Error(kUsage) with the location.
Json TomlToJson(const toml::node& node);

}  // namespace toucan::internal
