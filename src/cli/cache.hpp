#pragma once

#include <dirent.h>

#include <memory>

#include "config.hpp"

namespace toucan {

struct CacheLookup {
  std::optional<TokenResponse> hit;  // `expires_in` is then the whole seconds left
  std::string reason;                // why it missed (or the seconds left), for --verbose
};

struct CacheStore {
  bool stored = false;
  std::string reason;  // why not, for --verbose
  bool warn = false;   // the user must act (a directory stands in the entry's place)
};

struct CacheOpen;

// Tokens kept on disk, one file per request named by a hash, so repeated calls within a token's
// life skip the network.
class TokenCache {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // `${XDG_CACHE_HOME:-$HOME/.cache}/toucan-token/`, created 0700; refused when not private.
  static CacheOpen Open(const Environment& env, Clock clock = std::chrono::system_clock::now);

  // Hex SHA-256 of the URL, the key's SHA-256 and the exact body.
  static std::string EntryName(std::string_view url, std::string_view api_key,
                               std::string_view body);

  // A hit has at least `min_ttl` seconds left (default: the larger of 60 s and 10 % of its
  // expiresIn). The reply is read back as a fresh one is, with `redactor` of this run's key.
  CacheLookup Lookup(const std::string& name, const Redactor& redactor,
                     std::optional<std::chrono::seconds> min_ttl = std::nullopt) const;

  CacheStore Store(const std::string& name, const TokenResponse& response) const;

  // Removes every entry and temporary file; returns how many.
  std::size_t Clear() const;

  const std::string& folder() const { return folder_; }

 private:
  using Folder = std::unique_ptr<DIR, int (*)(DIR*)>;
  TokenCache(Folder listing, std::string folder, Clock clock)
      : listing_(std::move(listing)), folder_(std::move(folder)), clock_(std::move(clock)) {}
  int dirfd() const { return ::dirfd(listing_.get()); }

  // Every file operation is relative to it, so the folder checked is the one used. Not for
  // concurrent use: each listing rewinds it.
  Folder listing_;
  std::string folder_;
  Clock clock_;
};

// Removes the temporary file of a Store in progress: async-signal-safe, so that an interrupted
// write leaves no token behind.
void RemoveUnfinishedCacheEntry() noexcept;

struct CacheOpen {
  std::optional<TokenCache> cache;
  std::string warning;  // why the cache is not used; the caller says so and mints
};

}  // namespace toucan
