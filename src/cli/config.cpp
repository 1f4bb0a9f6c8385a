// Where the config file is, and whether it may be trusted.
#include "config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "config_internal.hpp"
#include "output.hpp"

namespace toucan {
namespace internal {

std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::optional<std::string> XdgFolder(const Environment& env, const std::string& variable,
                                     std::string_view fallback) {
  // The XDG base directory rules ignore a relative path.
  if (auto value = env(variable); value && value->starts_with('/')) return value;
  if (auto home = env("HOME"); home && !home->empty()) return *home + "/" + std::string(fallback);
  return std::nullopt;
}

std::string Folder(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace internal

namespace {

// As ssh does: a file others could rewrite could point api-key-command at their program.
void CheckPermissions(const std::string& path, const FileText& file) {
  const auto check = [](const std::string& what, const std::string& name, mode_t mode) {
    if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
      throw UsageError("config " + what + " " + name + " is writable by group or others (mode " +
                       internal::OctalMode(mode) + "); run: chmod go-w " + name);
    }
  };
  check("file", path, file.mode);
  if (file.owner != ::geteuid() && file.owner != 0) {
    throw UsageError("config file " + path + " belongs to another user");
  }
  // The folder that holds the name, and, for a symbolic link, the one that holds the file: in a
  // folder others may write, they can swap or remove the file whatever its own mode.
  std::vector<std::string> folders{internal::Folder(path)};
  std::error_code error;
  const std::string real = internal::Folder(std::filesystem::canonical(path, error));
  if (!error && real != folders.front()) folders.push_back(real);
  for (const std::string& folder : folders) {
    struct stat info {};
    if (::stat(folder.c_str(), &info) != 0) {
      throw UsageError("config folder " + folder + ": " + std::strerror(errno));
    }
    check("folder", folder, info.st_mode);
  }
}

}  // namespace

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
}

std::optional<std::string> EnvValue(const Environment& env, const std::string& name) {
  const auto value = env(name);
  std::string trimmed(value ? Trim(*value) : "");
  return trimmed.empty() ? std::nullopt : std::optional(std::move(trimmed));
}

ConfigLocation LocateConfig(const Environment& env) {
  if (auto path = EnvValue(env, "TOUCAN_CONFIG")) return {*path, true};
  if (auto folder = internal::XdgFolder(env, "XDG_CONFIG_HOME", ".config")) {
    return {*folder + "/toucan-token/config.toml", false};
  }
  return {};
}

Config LoadConfig(const Environment& env) {
  const ConfigLocation location = LocateConfig(env);
  if (location.path.empty()) return {};
  const auto file =
      ReadRegularFile(location.path, "config file", kMaxConfigBytes, !location.explicit_path);
  if (!file) return {};
  CheckPermissions(location.path, *file);
  return ParseConfig(file->text, location.path, env);
}

}  // namespace toucan
