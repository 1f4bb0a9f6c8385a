#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config.hpp"
#include "toucan/client.hpp"

namespace toucan {

// An entry is a header line and the reply as printed (at most 1 MiB); anything larger is not ours.
inline constexpr std::size_t kMaxCacheEntryBytes = kMaxResponseBytes + 64;

struct CacheLookup {
  // The cached reply as a mint would print it: `expires_in` the remaining whole seconds,
  // `expires_at` the original. Empty on a miss.
  std::optional<TokenResponse> hit;
  // Why it missed: "no entry", "expired", "expires within min-ttl", "corrupt" (with the reason
  // when the cached reply fails a check a fresh reply gets), "from the future"; for --verbose.
  std::string reason;
};

struct CacheStore {
  bool stored = false;
  std::string reason;  // why not, for --verbose
  bool warn = false;   // the user must act (a directory stands in the entry's place)
};

struct CacheOpen;

// Tokens kept on disk per request, so repeated calls within a token's life skip the network.
// One file per request, named by a hash, written atomically (temporary file, fsync, rename), so
// concurrent processes never see half an entry.
class TokenCache {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // Opens `${XDG_CACHE_HOME:-$HOME/.cache}/toucan-token/`, creating it 0700. A folder owned by
  // another user or open to group/others is not used.
  static CacheOpen Open(const Environment& env, Clock clock = std::chrono::system_clock::now);

  // Hex SHA-256 of the resolved URL, the SHA-256 of the key and the exact body, each
  // length-prefixed so that no two different requests share a name.
  static std::string EntryName(std::string_view url, std::string_view api_key,
                               std::string_view body);

  // A hit needs an entry received no later than now with at least `min_ttl` seconds of life
  // left; by default the larger of 60 s and 10 % of its expiresIn. The cached reply is read back
  // as a fresh one is (ParseTokenResponse), with `redactor` made from this run's key: a token
  // that holds the key is a miss, a field that holds it is starred, as on a mint.
  CacheLookup Lookup(const std::string& name, const Redactor& redactor,
                     std::optional<std::chrono::seconds> min_ttl = std::nullopt) const;

  // Keeps a reply as a mint prints it (ResponseJsonLine) and when it came. Replies without a
  // usable expiry are never stored.
  CacheStore Store(const std::string& name, const TokenResponse& response) const;

  // Removes every entry and temporary file the tool wrote; returns how many.
  std::size_t Clear() const;

  const std::string& folder() const { return folder_; }

  TokenCache(TokenCache&& other) noexcept;
  TokenCache& operator=(TokenCache&& other) noexcept;
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;
  ~TokenCache();

 private:
  TokenCache(int folder_fd, std::string folder, Clock clock);

  int folder_fd_ = -1;  // every file operation is relative to it, so the checked folder is used
  std::string folder_;
  Clock clock_;
};

// Removes the temporary file of a Store in progress, if any. Async-signal-safe: for a signal
// handler, so that an interrupted write leaves no token behind.
void RemoveUnfinishedCacheEntry() noexcept;

struct CacheOpen {
  std::optional<TokenCache> cache;
  std::string warning;  // why the cache is not used; the caller says so and mints
};

}  // namespace toucan
