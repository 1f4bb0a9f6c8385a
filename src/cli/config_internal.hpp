#pragma once
// Shared by the CLI's config, profile, TOML, schema and cache code; not part of the public API
// (it names toml++ types, which the library links privately).

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

// An XDG base folder: `$variable` when it is an absolute path, else `$HOME/fallback`. Empty
// when neither is usable.
std::optional<std::string> XdgFolder(const Environment& env, const std::string& variable,
                                     std::string_view fallback);

// "0644": a file mode for a message.
std::string OctalMode(mode_t mode);

// The folder that holds `path`: "." for a bare name.
std::string Folder(const std::string& path);

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

// A schema written as a TOML table (a schema file, or a profile's `schema`). Messages start with
// the declaration's place, then `label`.
Schema SchemaFromToml(const toml::table& table, std::string_view label);

}  // namespace toucan::internal
