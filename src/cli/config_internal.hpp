#pragma once
// Shared by the CLI's config, TOML, schema and cache code; not part of the public API
// (it names toml++ types, which the library links privately).

#include <sys/types.h>
#include <toml++/toml.h>

#include <utility>

#include "config.hpp"

namespace toucan::internal {

// `$variable` when it is an absolute path, else `$HOME/fallback`.
std::optional<std::string> XdgFolder(const Environment& env, const std::string& variable,
                                     std::string_view fallback);

std::string OctalMode(mode_t mode);

// `file:line:column`, or `file:line` without `column`.
std::string Where(const toml::source_region& region, bool column = true);

// ASCII only and nesting bounded. Throws Error(kUsage) with `source:line:column`.
toml::table ParseToml(std::string_view text, const std::string& source);

// A table's entries in the order the file writes them (toml::table is sorted by key).
std::vector<std::pair<const toml::key*, const toml::node*>> InFileOrder(const toml::table& table);

Json TomlToJson(const toml::node& node);

Schema SchemaFromToml(const toml::table& table, std::string_view label);

}  // namespace toucan::internal
