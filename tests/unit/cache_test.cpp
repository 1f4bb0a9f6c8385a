#include "cache.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace {

using std::chrono::seconds;
using std::chrono::system_clock;
using toucan::CacheLookup;
using toucan::Json;
using toucan::TokenCache;
using toucan::TokenResponse;

constexpr const char* kKey = "tk_test_Cache8VwS3cr3tKey_77";

class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "toucan-cache-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

toucan::Environment MapEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    const auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

// A cache whose clock the test moves.
class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = TokenCache::Open(MapEnv({{"XDG_CACHE_HOME", home_.path() + "/cache"}}),
                                   [this] { return now_; });
    ASSERT_TRUE(opened.cache) << opened.warning;
    cache_.emplace(std::move(*opened.cache));
  }

  TokenResponse Reply(std::int64_t expires_in, const std::string& token = "tk.abc") const {
    TokenResponse response;
    response.token = token;
    response.expires_in = expires_in;
    response.expires_at = now_ + seconds(expires_in);
    response.extra = Json{{"scope", "embed"}};
    return response;
  }

  std::string EntryPath(const std::string& name) const { return cache_->folder() + "/" + name; }

  TempFolder home_;
  system_clock::time_point now_ = system_clock::time_point(seconds(1'800'000'000));
  std::optional<TokenCache> cache_;
  const std::string name_ = TokenCache::EntryName("https://x/embed/generate-token", kKey, "{}");
  const toucan::Redactor redactor_ = toucan::Redactor(kKey);
};

TEST(TokenCacheOpen, CreatesPrivateFolders) {
  TempFolder home;
  auto opened = TokenCache::Open(MapEnv({{"HOME", home.path()}}));
  ASSERT_TRUE(opened.cache) << opened.warning;
  EXPECT_EQ(opened.cache->folder(), home.path() + "/.cache/toucan-token");
  EXPECT_EQ(ModeOf(home.path() + "/.cache"), 0700u);
  EXPECT_EQ(ModeOf(home.path() + "/.cache/toucan-token"), 0700u);

  auto xdg =
      TokenCache::Open(MapEnv({{"HOME", "/nonexistent"}, {"XDG_CACHE_HOME", home.path() + "/x"}}));
  ASSERT_TRUE(xdg.cache) << xdg.warning;
  EXPECT_EQ(xdg.cache->folder(), home.path() + "/x/toucan-token");
}

TEST(TokenCacheOpen, RefusesFoldersOthersCanUse) {
  TempFolder home;
  const std::string folder = home.path() + "/toucan-token";
  ASSERT_EQ(::mkdir(folder.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(folder.c_str(), 0750), 0);
  auto opened = TokenCache::Open(MapEnv({{"XDG_CACHE_HOME", home.path()}}));
  EXPECT_FALSE(opened.cache);
  EXPECT_EQ(opened.warning, "the cache folder " + folder +
                                " is open to group or others (mode 0750; run chmod 700 " + folder +
                                "); not using it");
  EXPECT_FALSE(TokenCache::Open(MapEnv({})).cache);
  EXPECT_NE(TokenCache::Open(MapEnv({})).warning.find("needs HOME or XDG_CACHE_HOME"),
            std::string::npos);
}

TEST(TokenCacheOpen, RefusesAFolderOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the folder away";
  TempFolder home;
  const std::string folder = home.path() + "/toucan-token";
  ASSERT_EQ(::mkdir(folder.c_str(), 0700), 0);
  ASSERT_EQ(::chown(folder.c_str(), 65534, 65534), 0);
  auto opened = TokenCache::Open(MapEnv({{"XDG_CACHE_HOME", home.path()}}));
  EXPECT_FALSE(opened.cache);
  EXPECT_EQ(opened.warning,
            "the cache folder " + folder + " belongs to another user; not using it");
}

TEST(TokenCacheName, HashOfUrlKeyAndBody) {
  const std::string name = TokenCache::EntryName("https://a/p", "key", R"({"user":{}})");
  EXPECT_EQ(name.size(), 64u);
  EXPECT_EQ(name.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(name, TokenCache::EntryName("https://a/p", "key", R"({"user":{}})"));
  EXPECT_NE(name, TokenCache::EntryName("https://b/p", "key", R"({"user":{}})"));
  EXPECT_NE(name, TokenCache::EntryName("https://a/p", "key2", R"({"user":{}})"));
  EXPECT_NE(name, TokenCache::EntryName("https://a/p", "key", R"({"user":{} })"));
  EXPECT_NE(TokenCache::EntryName("ab", "", "c"), TokenCache::EntryName("a", "", "bc"));
  EXPECT_NE(TokenCache::EntryName("a", "", ""), TokenCache::EntryName("", "", "a"));
}

TEST_F(CacheTest, HitShowsRemainingLifeAndOriginalExpiry) {
  const TokenResponse reply = Reply(3600);
  ASSERT_TRUE(cache_->Store(name_, reply).stored);
  EXPECT_EQ(ModeOf(EntryPath(name_)), 0600u);
  now_ += seconds(1000) + std::chrono::milliseconds(400);
  const CacheLookup found = cache_->Lookup(name_, redactor_);
  ASSERT_TRUE(found.hit) << found.reason;
  EXPECT_EQ(found.hit->token, "tk.abc");
  EXPECT_EQ(found.hit->expires_in, 2599);  // whole seconds left
  EXPECT_EQ(found.hit->expires_at, reply.expires_at);
  EXPECT_EQ(found.hit->extra, Json({{"scope", "embed"}}));
  EXPECT_EQ(toucan::ResponseToJson(*found.hit)["expiresAt"],
            toucan::ResponseToJson(reply)["expiresAt"]);
}

// A hit prints the line the mint printed, byte for byte, but for the life left: fields in the
// server's order, the key already starred.
TEST_F(CacheTest, HitPrintsWhatTheMintPrinted) {
  const TokenResponse minted = toucan::ParseTokenResponse(
      R"({"token":"tk.abc","expiresIn":"1h","price":2.50,"big":1E5,"neg":-0.0,"n":[1.10,{"k":true}],)"
      R"("s":"caf\u00e9 \u0085","z":0.1000000000000000000001,"huge":123456789012345678901234567,)"
      R"("inf":[1e400,-1E+999]})",
      now_);
  ASSERT_TRUE(cache_->Store(name_, minted).stored);
  now_ += seconds(100);
  const CacheLookup found = cache_->Lookup(name_, redactor_);
  ASSERT_TRUE(found.hit) << found.reason;
  std::string expected = toucan::ResponseJsonLine(minted);
  expected.replace(expected.find("\"expiresIn\":3600"), 16, "\"expiresIn\":3500");
  EXPECT_EQ(toucan::ResponseJsonLine(*found.hit), expected);
}

TEST_F(CacheTest, Misses) {
  EXPECT_EQ(cache_->Lookup(name_, redactor_).reason, "no entry");
  ASSERT_TRUE(cache_->Store(name_, Reply(3600)).stored);
  const auto stored_at = now_;

  now_ = stored_at + seconds(3600 - 360);  // 10 % of expiresIn left: still a hit
  EXPECT_TRUE(cache_->Lookup(name_, redactor_).hit);
  now_ += seconds(1);
  EXPECT_EQ(cache_->Lookup(name_, redactor_).reason,
            "expires within min-ttl (359 s left, min-ttl 360 s)");
  EXPECT_TRUE(cache_->Lookup(name_, redactor_, seconds(300)).hit);
  EXPECT_FALSE(cache_->Lookup(name_, redactor_, seconds(3000)).hit);
  now_ = stored_at + seconds(3600);
  EXPECT_EQ(cache_->Lookup(name_, redactor_, seconds(0)).reason, "expired");
  now_ = stored_at - seconds(1);
  EXPECT_EQ(cache_->Lookup(name_, redactor_).reason, "from the future");
}

TEST_F(CacheTest, DefaultMarginIsAtLeastAMinute) {
  ASSERT_TRUE(cache_->Store(name_, Reply(300)).stored);
  now_ += seconds(240);
  EXPECT_TRUE(cache_->Lookup(name_, redactor_).hit);
  now_ += seconds(1);
  EXPECT_EQ(cache_->Lookup(name_, redactor_).reason,
            "expires within min-ttl (59 s left, min-ttl 60 s)");
}

TEST_F(CacheTest, NoUsableExpiryIsNeverStored) {
  TokenResponse reply = Reply(3600);
  reply.expires_in.reset();
  reply.expires_at.reset();
  EXPECT_FALSE(cache_->Store(name_, reply).stored);
  EXPECT_EQ(cache_->Store(name_, reply).reason, "the token has no usable expiry");
  // A usable expiry, printed as such, but not worth keeping: the reason says which.
  EXPECT_EQ(cache_->Store(name_, Reply(0)).reason, "the token expires at once (expiresIn 0)");
  EXPECT_EQ(cache_->Store(name_, Reply(3'155'760'000)).reason,
            "the token's life is over 10 years (expiresIn 3155760000), taken as a server bug");
  EXPECT_EQ(cache_->Lookup(name_, redactor_).reason, "no entry");
}

constexpr std::string_view kHeader = "toucan-token cache entry v3 ";

std::string Entry(std::int64_t received_ms, const std::string& reply) {
  return std::string(kHeader) + std::to_string(received_ms) + "\n" + reply;
}

TEST_F(CacheTest, CorruptEntriesMissAndAreReplaced) {
  ASSERT_TRUE(cache_->Store(name_, Reply(3600)).stored);
  std::stringstream whole;
  whole << std::ifstream(EntryPath(name_)).rdbuf();
  const std::string good = whole.str();
  EXPECT_EQ(good.rfind(Entry(1'800'000'000'000, R"({"token":"tk.abc","expiresIn":3600,)"), 0), 0u)
      << good;
  for (const std::string& bad : {
           good.substr(0, good.size() / 2),
           std::string("garbage"),
           std::string(),
           Entry(1, R"({"token":"a b","expiresIn":60})"),
           Entry(1, R"({"token":"t","expiresIn":-5})"),
           Entry(1, R"({"token":"t"})"),
           Entry(1, R"({"token":"t","expiresIn":60} x)"),
           Entry(1, R"({"token":"t","x":)" + std::string(100, '[')),
           std::string(kHeader) + "\n" + R"({"token":"t","expiresIn":60})",
           std::string(kHeader) + "-1\n" + R"({"token":"t","expiresIn":60})",
           std::string(kHeader) + "1x\n" + R"({"token":"t","expiresIn":60})",
           std::string(kHeader) + R"(1 {"token":"t","expiresIn":60})",
           // The layouts of older versions: named apart, and unreadable here.
           std::string(R"({"reply":"{\"token\":\"t\",\"expiresIn\":60}","receivedAtMs":1})"),
           std::string(R"({"token":"t","expiresIn":60,"receivedAtMs":1,"extra":{}})"),
           std::string(100000, '['),
       }) {
    std::ofstream(EntryPath(name_), std::ios::trunc) << bad;
    const std::string reason = cache_->Lookup(name_, redactor_).reason;
    EXPECT_EQ(reason.rfind("corrupt", 0), 0u) << bad.substr(0, 80) << " → " << reason;
  }
  std::filesystem::remove(EntryPath(name_));
  std::filesystem::create_directory(EntryPath(name_));
  EXPECT_EQ(cache_->Lookup(name_, redactor_).reason, "corrupt");
  std::filesystem::remove(EntryPath(name_));

  std::ofstream(EntryPath(name_)) << "garbage";
  ASSERT_TRUE(cache_->Store(name_, Reply(3600, "tk.new")).stored);
  EXPECT_EQ(cache_->Lookup(name_, redactor_).hit->token, "tk.new");
}

// An entry is read back with the checks a fresh reply gets and this run's key, so one edited (or
// stored by hand) to hold the key never shows it: its token is a miss, its fields are starred.
TEST_F(CacheTest, EntriesGetTheChecksOfAFreshReply) {
  ASSERT_TRUE(cache_->Store(name_, Reply(3600, std::string("x.") + kKey)).stored);
  const CacheLookup refused = cache_->Lookup(name_, redactor_);
  EXPECT_FALSE(refused.hit);
  EXPECT_EQ(refused.reason.rfind("corrupt (", 0), 0u) << refused.reason;
  EXPECT_NE(refused.reason.find("holds the API key"), std::string::npos) << refused.reason;
  EXPECT_EQ(refused.reason.find("Cache8V"), std::string::npos) << refused.reason;

  TokenResponse echo = Reply(3600);
  echo.extra = Json{{"echo", std::string("for ") + kKey}, {kKey, 1}, {"n", 2}};
  ASSERT_TRUE(cache_->Store(name_, echo).stored);
  const CacheLookup starred = cache_->Lookup(name_, redactor_);
  ASSERT_TRUE(starred.hit) << starred.reason;
  const std::string line = toucan::ResponseJsonLine(*starred.hit);
  EXPECT_NE(line.find(R"("echo":"for ***","***":1,"n":2})"), std::string::npos) << line;
  EXPECT_EQ(line.find("Cache8V"), std::string::npos) << line;
}

TEST_F(CacheTest, ClearRemovesEveryEntry) {
  for (const char* body : {"a", "b", "c"}) {
    ASSERT_TRUE(cache_->Store(TokenCache::EntryName("u", "k", body), Reply(3600)).stored);
  }
  std::ofstream(cache_->folder() + "/not-an-entry") << "x";
  EXPECT_EQ(cache_->Clear(), 3u);
  EXPECT_EQ(cache_->Lookup(TokenCache::EntryName("u", "k", "a"), redactor_).reason, "no entry");
  EXPECT_TRUE(std::filesystem::exists(cache_->folder() + "/not-an-entry"));
  EXPECT_EQ(cache_->Clear(), 0u);
}

// 20 processes write and read one entry at once; a reader must only ever see a whole entry. The
// padding makes each entry large (many write calls), and names its token, so a mix of two
// writers would show.
TEST_F(CacheTest, ConcurrentProcessesNeverSeeAPartialEntry) {
  constexpr int kProcesses = 20;
  constexpr int kRounds = 40;
  std::vector<pid_t> children;
  for (int child = 0; child < kProcesses; ++child) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failures = 0;
      for (int round = 0; round < kRounds; ++round) {
        const std::string token = "tk." + std::to_string(child) + "." + std::to_string(round);
        TokenResponse reply = Reply(3600, token);
        reply.extra = Json{{"padding", std::string(256 * 1024, 'p') + token}};
        if (!cache_->Store(name_, reply).stored) ++failures;
        const CacheLookup found = cache_->Lookup(name_, redactor_);
        if (!found.hit ||
            found.hit->extra["padding"] != std::string(256 * 1024, 'p') + found.hit->token) {
          ++failures;
        }
      }
      ::_exit(failures == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (const pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << pid;
  }
  for (const auto& item : std::filesystem::directory_iterator(cache_->folder())) {
    EXPECT_EQ(item.path().filename().string(), name_) << "left behind";
  }
}

}  // namespace
