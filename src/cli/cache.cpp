#include "cache.hpp"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <random>

#include "config_internal.hpp"
#include "output.hpp"

namespace toucan {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

// Longer lives than this are not believed (and would overflow the millisecond arithmetic).
constexpr std::int64_t kLongestLife = std::int64_t{10} * 365 * 86400;

// The temporary file being written, for RemoveUnfinishedCacheEntry in a signal handler: plain
// storage, set before the file exists and cleared after its rename.
std::atomic<int> g_unfinished_folder{-1};
char g_unfinished_name[64];

std::string Sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (::SHA256(bytes, data.size(), digest) == nullptr) {
    throw Error(ErrorKind::kInternal, "SHA-256 failed in libcrypto");
  }
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

bool IsEntryName(std::string_view name) {
  return name.size() == 64 && name.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// As the tool writes them: not a directory, a link or another user's file bearing an entry's name.
bool IsOwnFile(const struct stat& info) {
  return S_ISREG(info.st_mode) && (info.st_mode & 07777) == 0600 && info.st_uid == ::geteuid();
}

// Removes the files the tool wrote (IsOwnFile): temporary files last changed before `stale`, and,
// with `entries`, every entry. Empty when the listing fails.
std::optional<std::size_t> RemoveOwnFiles(DIR* folder, system_clock::time_point stale,
                                          bool entries) {
  ::rewinddir(folder);
  std::size_t removed = 0;
  // errno tells the end of the listing from a failure.
  for (errno = 0; const dirent* item = ::readdir(folder); errno = 0) {
    const std::string_view name = item->d_name;
    struct stat info {};
    if (::fstatat(::dirfd(folder), item->d_name, &info, AT_SYMLINK_NOFOLLOW) == 0 &&
        IsOwnFile(info) &&
        ((entries && IsEntryName(name)) ||
         (name.starts_with(".tmp-") && system_clock::from_time_t(info.st_mtime) < stale)) &&
        ::unlinkat(::dirfd(folder), item->d_name, 0) == 0) {
      ++removed;
    }
  }
  return errno == 0 ? std::optional(removed) : std::nullopt;
}

// mkdir -p, each folder it creates 0700.
int MakeFolders(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string part = path.substr(0, slash);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return errno;
    if (slash == std::string::npos) return 0;
  }
}

std::int64_t MillisecondsSinceEpoch(system_clock::time_point when) {
  return std::chrono::duration_cast<milliseconds>(when.time_since_epoch()).count();
}

// A reader sees the old entry or the new one, never part of one. The folder is not synced: a crash
// that loses the rename loses only the entry (a miss), and a second fsync would double what
// storing costs a mint. Returns 0 or the errno of the failure.
int WriteAtomically(int folder_fd, const std::string& name, std::string_view text) {
  std::random_device random;
  const std::string temporary = ".tmp-" + std::to_string(::getpid()) + "-" +
                                std::to_string(random()) + std::to_string(random());
  std::snprintf(g_unfinished_name, sizeof g_unfinished_name, "%s", temporary.c_str());
  g_unfinished_folder = folder_fd;
  const int fd = ::openat(folder_fd, temporary.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  const bool written = fd >= 0 && WriteAll(fd, text) && ::fsync(fd) == 0;
  const int error = errno;
  if (fd >= 0) ::close(fd);
  const auto rename = [&] {
    return ::renameat(folder_fd, temporary.c_str(), folder_fd, name.c_str()) == 0;
  };
  // An empty directory in the entry's place is replaced; one with files in it is not ours to
  // empty, so the caller tells the user.
  const bool renamed =
      written && (rename() || (errno == EISDIR &&
                               ::unlinkat(folder_fd, name.c_str(), AT_REMOVEDIR) == 0 && rename()));
  const int failure = renamed ? 0 : written ? errno : error;
  if (!renamed && fd >= 0) ::unlinkat(folder_fd, temporary.c_str(), 0);
  g_unfinished_folder = -1;
  return failure;
}

// An entry: this header, when the reply came (ms since the epoch), a newline, and the reply as a
// mint prints it, read back through ParseTokenResponse: an edited entry gets every check a fresh
// reply gets. Older layouts are named apart (EntryName) and lack the header: a miss.
constexpr std::string_view kEntryHeader = "toucan-token cache entry v3 ";
constexpr std::size_t kMaxCacheEntryBytes = kMaxResponseBytes + 64;  // larger is not ours

struct Entry {
  std::string reply;
  std::int64_t received_ms = 0;
};

// Empty unless the tool wrote it (IsOwnFile: one that `cache clear` would leave behind is not
// trusted either) and it reads as an entry.
std::optional<Entry> ReadEntry(int fd) {
  struct stat info {};
  std::string text;
  try {
    if (::fstat(fd, &info) != 0 || !IsOwnFile(info)) return std::nullopt;
    text = ReadBounded(fd, kMaxCacheEntryBytes, "cache entry");
  } catch (const Error&) {
    return std::nullopt;
  }
  const std::size_t newline = text.find('\n');
  if (!text.starts_with(kEntryHeader) || newline == std::string::npos) return std::nullopt;
  Entry entry{text.substr(newline + 1)};
  const char* end = text.data() + newline;
  const auto read = std::from_chars(text.data() + kEntryHeader.size(), end, entry.received_ms);
  if (read.ec != std::errc() || read.ptr != end || entry.received_ms < 0) return std::nullopt;
  return entry;
}

}  // namespace

CacheOpen TokenCache::Open(const Environment& env, Clock clock) {
  const auto refuse = [](const std::string& why) {
    return CacheOpen{std::nullopt, why + "; not using it"};
  };
  const auto base = internal::XdgFolder(env, "XDG_CACHE_HOME", ".cache");
  if (!base) return refuse("the token cache needs HOME or XDG_CACHE_HOME");
  const std::string folder = *base + "/toucan-token";
  if (const int error = MakeFolders(folder); error != 0) {
    return refuse("cannot create the cache folder " + folder + ": " + std::strerror(error));
  }
  Folder listing(::opendir(folder.c_str()), &::closedir);
  struct stat info {};
  if (!listing || ::fstat(::dirfd(listing.get()), &info) != 0) {
    return refuse("cannot open the cache folder " + folder + ": " + std::strerror(errno));
  }
  if (info.st_uid != ::geteuid()) {
    return refuse("the cache folder " + folder + " belongs to another user");
  }
  if ((info.st_mode & 077) != 0) {
    return refuse("the cache folder " + folder + " is open to group or others (mode " +
                  internal::OctalMode(info.st_mode) + "; run chmod 700 " + folder + ")");
  }
  return {TokenCache(std::move(listing), folder, std::move(clock)), ""};
}

std::string TokenCache::EntryName(std::string_view url, std::string_view api_key,
                                  std::string_view body) {
  const std::string key_hash = Sha256(api_key);
  std::string framed;
  // The header names the layout (v1 held Json extras, v2 the printed line quoted). A length
  // prefix before every part, so ("ab", "c") and ("a", "bc") never hash alike.
  for (const std::string_view part : {kEntryHeader, url, std::string_view(key_hash), body}) {
    framed += std::to_string(part.size()) + ":" + std::string(part);
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string name;
  for (const unsigned char byte : Sha256(framed)) name += {kDigits[byte >> 4], kDigits[byte & 15]};
  return name;
}

CacheLookup TokenCache::Lookup(const std::string& name, const Redactor& redactor,
                               std::optional<std::chrono::seconds> min_ttl) const {
  if (!IsEntryName(name)) return {std::nullopt, "no entry"};
  const int fd =
      ::openat(dirfd(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return {std::nullopt, errno == ENOENT ? "no entry" : "corrupt"};
  const auto entry = ReadEntry(fd);
  ::close(fd);
  if (!entry) return {std::nullopt, "corrupt"};
  const std::int64_t now = MillisecondsSinceEpoch(clock_());
  if (entry->received_ms > now) return {std::nullopt, "from the future"};
  TokenResponse response;
  try {
    response = ParseTokenResponse(
        entry->reply, system_clock::time_point(milliseconds(entry->received_ms)), redactor);
  } catch (const Error& error) {  // its message never shows the key
    return {std::nullopt, std::string("corrupt (") + error.what() + ")"};
  }
  const std::int64_t life = response.expires_in.value_or(0);
  if (life <= 0 || life > kLongestLife) return {std::nullopt, "corrupt"};
  const std::int64_t left_ms = life * 1000 - (now - entry->received_ms);
  if (left_ms <= 0) return {std::nullopt, "expired"};
  const std::int64_t left = left_ms / 1000;
  const std::int64_t needed = min_ttl ? min_ttl->count() : std::max<std::int64_t>(60, life / 10);
  if (left < needed) {
    return {std::nullopt, "expires within min-ttl (" + std::to_string(left) + " s left, min-ttl " +
                              std::to_string(needed) + " s)"};
  }
  response.expires_in = left;  // expires_at stays the original: received + life
  return {std::move(response), std::to_string(left) + " s left"};
}

CacheStore TokenCache::Store(const std::string& name, const TokenResponse& response) const {
  if (!IsEntryName(name)) return {false, "not an entry name"};
  if (!response.expires_in) return {false, "the token has no usable expiry"};
  if (*response.expires_in <= 0) return {false, "the token expires at once (expiresIn 0)"};
  if (*response.expires_in > kLongestLife) {
    return {false, "the token's life is over 10 years (expiresIn " +
                       std::to_string(*response.expires_in) + "), taken as a server bug"};
  }
  if (!IsSafeToken(response.token)) return {false, "the token is not printable"};
  const auto received =
      response.expires_at ? *response.expires_at - seconds(*response.expires_in) : clock_();
  const std::string reply = ResponseJsonLine(response);
  if (reply.size() > kMaxResponseBytes) return {false, "the reply is too large"};
  const std::string text =
      std::string(kEntryHeader) + std::to_string(MillisecondsSinceEpoch(received)) + '\n' + reply;

  // Leftovers of writers that were killed hold live tokens: a minute is far longer than a write.
  RemoveOwnFiles(listing_.get(), system_clock::now() - std::chrono::minutes(1), false);
  const int failure = WriteAtomically(dirfd(), name, text);
  if (failure == ENOTEMPTY || failure == EEXIST || failure == EISDIR) {
    return {false, "the cache entry " + folder_ + "/" + name + " is a directory; remove it", true};
  }
  if (failure == 0) return {true, ""};
  return {false, std::string("cannot write to the cache: ") + std::strerror(failure)};
}

std::size_t TokenCache::Clear() const {
  // Temporary files too, a writer's in progress included: no token survives a clear.
  const auto removed = RemoveOwnFiles(listing_.get(), system_clock::time_point::max(), true);
  if (!removed) {
    throw UsageError("cannot list the cache folder " + folder_ + ": " + std::strerror(errno));
  }
  return *removed;
}

void RemoveUnfinishedCacheEntry() noexcept {
  if (const int folder = g_unfinished_folder; folder >= 0) ::unlinkat(folder, g_unfinished_name, 0);
}

}  // namespace toucan
