#include <gtest/gtest.h>

#include "toucan/token.hpp"

namespace toucan {
namespace {

using std::chrono::system_clock;

std::optional<std::int64_t> Expiry(const char* json) { return ExpiryFromValue(Json::parse(json)); }

TEST(Expiry, NumbersAndStrings) {
  EXPECT_EQ(Expiry("3600"), 3600);
  EXPECT_EQ(Expiry("0"), 0);
  EXPECT_EQ(Expiry("3600.9"), 3600);
  EXPECT_EQ(Expiry(R"("3600")"), 3600);
  EXPECT_EQ(Expiry(R"("0042")"), 42);
  EXPECT_EQ(Expiry(R"("1h")"), 3600);
  EXPECT_EQ(Expiry(R"("1h30m")"), 5400);
  EXPECT_EQ(Expiry(R"("2d")"), 172800);
  EXPECT_EQ(Expiry(R"("1d2h3m4s")"), 93784);
  EXPECT_EQ(Expiry(R"("90s")"), 90);
  EXPECT_EQ(Expiry(R"("15m")"), 900);
}

TEST(Expiry, UnusableValues) {
  for (const char* bad : {"-1",
                          "-0.5",
                          R"("")",
                          R"("1x")",
                          R"("h")",
                          R"("1h1h")",
                          R"("30m1h")",
                          R"("1.5h")",
                          R"(" 1h")",
                          R"("1h ")",
                          R"("-5")",
                          R"("1H")",
                          "null",
                          "true",
                          "[3600]",
                          R"({"s":1})",
                          R"("99999999999999999999")",
                          "1e300",
                          R"("99999999999d")",
                          "18446744073709551615"}) {
    EXPECT_EQ(Expiry(bad), std::nullopt) << bad;
  }
}

TEST(Response, TokenExpiryAndExtraFields) {
  const auto now = system_clock::time_point(std::chrono::seconds(1'795'000'000));
  const TokenResponse response = ParseTokenResponse(
      R"({"zeta":1,"token":"a.b.c","expiresAt":"theirs","expiresIn":"1h","alpha":{"x":[1]}})", now);
  EXPECT_EQ(response.token, "a.b.c");
  EXPECT_EQ(response.expires_in, 3600);
  ASSERT_TRUE(response.expires_at);
  EXPECT_EQ(*response.expires_at, now + std::chrono::hours(1));
  EXPECT_EQ(ResponseToJson(response).dump(),
            R"({"token":"a.b.c","expiresIn":3600,"expiresAt":"2026-11-18T12:06:40Z",)"
            R"("zeta":1,"alpha":{"x":[1]}})");
}

TEST(Response, NoUsableExpiryIsNull) {
  const TokenResponse response =
      ParseTokenResponse(R"({"token":"t","expiresIn":"soon"})", system_clock::now());
  EXPECT_FALSE(response.expires_in);
  EXPECT_EQ(ResponseToJson(response).dump(), R"({"token":"t","expiresIn":null,"expiresAt":null})");
}

TEST(Response, BadReplies) {
  for (const char* bad :
       {"", "garbage", "<html></html>", "[]", R"("token")", R"({"token":123})", R"({"token":null})",
        R"({"tok":"x"})", R"({"token":""})", R"({"token":"has space"})", R"({"token":"tab\tx"})",
        R"({"token":"caf\u00e9"})", R"({"token":"x\u0000"})", "{\"token\":\"\xff\"}",
        R"({"token":"a"} trailing)"}) {
    try {
      ParseTokenResponse(bad, system_clock::now());
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kBadResponse) << bad;
    }
  }
}

TEST(Token, Safety) {
  EXPECT_TRUE(IsSafeToken("eyJ.abc-_~+/=.x"));
  EXPECT_FALSE(IsSafeToken(""));
  EXPECT_FALSE(IsSafeToken("a b"));
  EXPECT_FALSE(IsSafeToken("a\nb"));
  EXPECT_FALSE(IsSafeToken("\x7f"));
}

TEST(Rfc3339, Utc) {
  EXPECT_EQ(FormatRfc3339(system_clock::time_point(std::chrono::seconds(0))),
            "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(system_clock::time_point(std::chrono::milliseconds(1'795'000'000'999))),
            "2026-11-18T11:06:40Z");
}

TEST(Excerpt, JsonFields) {
  EXPECT_EQ(ServerMessageExcerpt(R"({"message":"Invalid API key"})"), "Invalid API key");
  EXPECT_EQ(ServerMessageExcerpt(R"({"error":"bad role"})"), "bad role");
  EXPECT_EQ(ServerMessageExcerpt(R"({"error":{"message":"nested"}})"), "nested");
  EXPECT_EQ(ServerMessageExcerpt(R"({"detail":"fastapi style"})"), "fastapi style");
  EXPECT_EQ(ServerMessageExcerpt(R"({"code":7})"), R"({"code":7})");
}

TEST(Excerpt, HtmlIsReducedToText) {
  EXPECT_EQ(
      ServerMessageExcerpt("<html><head><title>404 Not Found</title></head><body>x</body></html>"),
      "404 Not Found");
  EXPECT_EQ(
      ServerMessageExcerpt("<html><style>p{}</style><body><h1>Bad &amp; gone</h1>\n<p>Sorry</p>"
                           "<script>var x=1;</script></body></html>"),
      "Bad & gone Sorry");
}

TEST(Excerpt, PlainTextEscapedAndCapped) {
  EXPECT_EQ(ServerMessageExcerpt("bad\x1b[31m\r\nnext\xff"), "bad\\x1b[31m\\r\\nnext\xEF\xBF\xBD");
  const std::string excerpt = ServerMessageExcerpt(std::string(5000, 'x'));
  EXPECT_EQ(excerpt, std::string(300, 'x') + "...");
  EXPECT_EQ(ServerMessageExcerpt("  \n "), "");
  // Cut by characters, never inside a UTF-8 sequence.
  std::string wide;
  for (int i = 0; i < 400; ++i) wide += "é";
  const std::string cut = ServerMessageExcerpt(wide);
  EXPECT_TRUE(IsValidUtf8(cut));
  EXPECT_EQ(cut.size(), 600u + 3u);
}

}  // namespace
}  // namespace toucan
