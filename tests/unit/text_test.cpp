// The text layer: UTF-8, escaping, excerpts, the Redactor and bounded JSON parsing.
#include "../../src/text.hpp"

#include <gtest/gtest.h>
#include <time.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>

#include "cpu_time.hpp"
#include "key_forms.hpp"

namespace toucan {
namespace {

using key_forms::FindKeyForm;

constexpr const char* kKey = "tk_live_Ab3dEf9HiJ-kLm/nOp\"q\\rSt";

// ---- UTF-8 and escaping ---------------------------------------------------------------------

TEST(Utf8, Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("Zürich 東京 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("a\x80"));
  EXPECT_FALSE(IsValidUtf8("\xf0\x8f\xbf\xbf"));  // overlong
  EXPECT_FALSE(IsValidUtf8("ok\xe2\x82"));        // truncated at the end
}

TEST(Utf8, EscapingReplacesEachBadByte) {
  EXPECT_EQ(EscapeControls("ok é"), "ok é");
  EXPECT_EQ(EscapeControls("a\xff"
                           "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(EscapeControls("tru\xc3"), "tru\xEF\xBF\xBD");  // a character cut in half
  EXPECT_TRUE(IsValidUtf8(EscapeControls("\xed\xa0\x80\xc0\xaf")));
}

TEST(Escape, ControlsBecomeVisible) {
  EXPECT_EQ(EscapeControls("a\nb\r\tc\x1b[31m\x7f"), "a\\nb\\r\\tc\\x1b[31m\\x7f");
  EXPECT_EQ(EscapeControls("csi\xC2\x9B"
                           "2J"),
            "csi\\u009b2J");  // C1: some terminals obey it
  EXPECT_EQ(EscapeControls("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(EscapeControls("Zürich"), "Zürich");
}

TEST(Escape, ExcerptCutsAtCharacters) {
  EXPECT_EQ(Excerpt(std::string(5000, 'x')), std::string(300, 'x') + "...");
  EXPECT_EQ(Excerpt(std::string(300, 'x')), std::string(300, 'x'));
  EXPECT_EQ(Excerpt("abcdef", 3), "abc...");
  std::string wide;
  for (int i = 0; i < 400; ++i) wide += "é";
  const std::string cut = Excerpt(wide);
  EXPECT_TRUE(IsValidUtf8(cut));
  EXPECT_EQ(cut.size(), 600u + 3u);
}

TEST(Escape, ExcerptReadsOnlyWhatItKeeps) {
  const std::string huge(64 * 1024 * 1024, '\x01');
  EXPECT_LT(SecondsFor([&] { EXPECT_EQ(Excerpt(huge, 2), "\\x01\\x01..."); }), 0.5);
}

TEST(Escape, QuotedCutsANameShort) {
  EXPECT_EQ(Quoted("re\x1bgion"), "'re\\x1bgion'");
  EXPECT_EQ(Quoted(std::string(500, 'n')), "'" + std::string(100, 'n') + "...'");
}

TEST(Escape, DumpJson) {
  EXPECT_EQ(DumpJson(Json("a\"b\\c")), R"("a\"b\\c")");
  EXPECT_EQ(DumpJson(Json("\n\x1b\x7f\xC2\x85")), R"("\n\u001b\u007f\u0085")");
  EXPECT_EQ(DumpJson(Json("é\xff")), "\"é\xEF\xBF\xBD\"");
}

TEST(Text, TrimAndCollapse) {
  EXPECT_EQ(Trim("  key\r\n"), "key");
  EXPECT_EQ(Trim(" \t "), "");
  EXPECT_EQ(CollapseWhitespace("  a \n\t b  "), "a b");
  EXPECT_EQ(CollapseWhitespace(" \t "), "");
  EXPECT_EQ(CollapseWhitespace("a\r\nb c"), "a b c");
}

TEST(Text, FindControlSeesC0DelAndC1) {
  EXPECT_EQ(FindControl("plain é \xE2\x80\xAE"), std::string_view::npos);  // U+202E: not C0/C1
  EXPECT_EQ(FindControl(std::string("ab\0", 3)), 2u);
  EXPECT_EQ(FindControl("a\x7f"), 1u);
  EXPECT_EQ(FindControl("ab\xC2\x9B["), 2u);  // U+009B, CSI
  EXPECT_EQ(FindControl("a\xC2\x80"), 1u);
  EXPECT_EQ(FindControl("a\xC2\xA0\xC2"), std::string_view::npos);  // U+00A0 is no control
}

TEST(Text, UnescapeOnce) {
  EXPECT_EQ(Unescape("%2e%2E.%252e%c0%ae"), "...%2e\xC0\xAE");
  EXPECT_EQ(Unescape("%%zz%4"), "%%zz%4");
  EXPECT_EQ(Unescape("a&AMP;b&#x26;&nbsp;&amp;lt;&#233;&bogus;&#&#65B&#x41x", true),
            "a&b& &lt;&#233;&bogus;&#ABAx");
}

// ---- Redactor ---------------------------------------------------------------------------------

TEST(Redactor, EveryFormOfTheKey) {
  const std::string key = kKey;
  const Redactor redactor(key);
  std::string lower;
  for (const char c : key) lower += AsciiLower(c);
  std::string json;  // as a JSON string holds it
  for (const char c : key)
    json += c == '"' || c == '\\' || c == '/' ? std::string("\\") + c : std::string(1, c);
  std::string mixed;  // percent escapes mixed with plain characters
  for (std::size_t i = 0; i < key.size(); ++i) {
    mixed +=
        i % 2 == 0 ? key_forms::PercentEncoded(key.substr(i, 1), i % 4 == 0) : key.substr(i, 1);
  }
  std::string entities;
  std::string no_semicolons;  // as browsers still read them: `&#116&#x6B...`
  for (std::size_t i = 0; i < key.size(); ++i) {
    entities += "&#" + std::to_string(static_cast<int>(key[i])) + ";";
    no_semicolons += i % 2 ? "&#" + std::to_string(static_cast<int>(key[i]))
                           : (i % 4 ? "&#x" : "&#X") +
                                 key_forms::PercentEncoded(key.substr(i, 1), i % 3).substr(1);
  }
  for (const std::string& form :
       {key, lower, json, key_forms::UnicodeEscaped(key, true),
        key_forms::PercentEncoded(key, true), key_forms::PercentEncoded(key, false), mixed,
        entities, no_semicolons, key.substr(0, 8), key.substr(5, 8), key.substr(key.size() - 8),
        key.substr(0, 20)}) {
    const std::string text = "before " + form + " after";
    const std::string redacted = redactor.Apply(text);
    EXPECT_EQ(redacted, "before *** after") << form;
    EXPECT_EQ(FindKeyForm(redacted, key), std::nullopt) << form;
  }
}

TEST(Redactor, SevenCharactersStay) {
  const Redactor redactor(kKey);
  EXPECT_EQ(redactor.Apply("tk_live"), "tk_live");
  EXPECT_EQ(redactor.Apply("x tk_live_ y"), "x *** y");
  EXPECT_FALSE(redactor.Finds("nothing here"));
  EXPECT_TRUE(redactor.Finds("TK_LIVE_AB"));
}

TEST(Redactor, KeyCutByAnExcerpt) {
  const Redactor redactor(kKey);
  const std::string body = std::string(295, 'x') + kKey;
  // Cut at 300 the excerpt keeps 5 characters of the key (allowed); cut at 310, 15.
  EXPECT_EQ(FindKeyForm(Excerpt(body), kKey), std::nullopt);
  EXPECT_NE(FindKeyForm(Excerpt(body, 310), kKey), std::nullopt);
  EXPECT_EQ(FindKeyForm(Excerpt(redactor.Apply(body), 310), kKey), std::nullopt);
}

TEST(Redactor, ShortKeysWhole) {
  const Redactor redactor("aB%1");
  EXPECT_EQ(redactor.Apply("x ab%1 y AB%251 z a"), "x *** y *** z a");
  EXPECT_EQ(Redactor("*").Apply("a*b**c"), "a***b***c");
  EXPECT_EQ(Redactor("***").Apply("******* x **"), "*** x **");
  EXPECT_EQ(Redactor("").Apply("anything"), "anything");
}

TEST(Redactor, StarKeysEndQuickly) {
  const std::string stars(1024 * 1024, '*');
  for (const char* key : {"*", "***", "********", "*********************"}) {
    const Redactor redactor(key);
    std::string out;
    EXPECT_LT(SecondsFor([&] { out = redactor.Apply(stars); }), 2.0) << key;
    EXPECT_EQ(out, "***") << key;
  }
}

TEST(Redactor, LinearOnHostileText) {
  const Redactor redactor(kKey);
  std::string text;
  while (text.size() < 1024 * 1024) text += "tk_live_Ab3dEf9\\u0048%69&#74;";  // near misses
  std::string out;
  // CPU seconds: ~0.1 optimised, ~2 in the Debug+ASan build; a quadratic scan would take minutes.
  EXPECT_LT(SecondsFor([&] { out = redactor.Apply(text); }), 10.0);
  EXPECT_EQ(FindKeyForm(out.substr(0, 4096), kKey), std::nullopt);
}

TEST(Redactor, RandomMixturesNeverSurvive) {
  const std::string key = kKey;
  const Redactor redactor(key);
  std::mt19937 random(7);
  const auto encode = [&](char c) -> std::string {
    switch (random() % 6) {
      case 0:
        return key_forms::PercentEncoded(std::string(1, c), true);
      case 1:
        return key_forms::PercentEncoded(std::string(1, c), false);
      case 2:
        return key_forms::UnicodeEscaped(std::string(1, c), true);
      case 3:
        return std::string(1, static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      case 4:
        if (c == '_') return random() % 2 ? "&lowbar;" : "&UnderBar;";
        return "&#x" + key_forms::PercentEncoded(std::string(1, c), true).substr(1) + ";";
      default:
        return std::string(1, c);
    }
  };
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    for (int part = 0; part < 4; ++part) {
      const std::size_t start = random() % key.size();
      const std::size_t length = random() % (key.size() - start + 1);
      for (std::size_t i = start; i < start + length; ++i) text += encode(key[i]);
      text += std::string(random() % 3, "x\"\\%&"[random() % 5]);
    }
    const std::string out = redactor.Apply(text, " ");
    ASSERT_EQ(FindKeyForm(out, key), std::nullopt) << text << " → " << out;
  }
}

// ---- bounded JSON ------------------------------------------------------------------------------

std::string Nested(std::size_t depth, const std::string& inner = "1") {
  std::string text;
  for (std::size_t i = 0; i < depth; ++i) text += i % 2 == 0 ? "[" : "{\"k\":";
  text += inner;
  for (std::size_t i = depth; i-- > 0;) text += i % 2 == 0 ? "]" : "}";
  return text;
}

TEST(BoundedJson, DepthIsCheckedWhileParsing) {
  EXPECT_FALSE(ParseBoundedJson(Nested(64), JsonNumbers::kExact).failure);
  for (const std::size_t depth : {65u, 100'000u}) {
    const auto result = ParseBoundedJson(Nested(depth), JsonNumbers::kAny);
    ASSERT_TRUE(result.failure) << depth;
    EXPECT_EQ(result.failure->reason, JsonParseFailure::Reason::kTooDeep);
  }
  // Unclosed: refused at level 65 long before the end of the text is reached.
  EXPECT_EQ(ParseBoundedJson(std::string(1'000'000, '['), JsonNumbers::kAny).failure->reason,
            JsonParseFailure::Reason::kTooDeep);
}

// In user input a repeated key would drop one of its values without a word: refused, with where.
TEST(BoundedJson, UserInputRefusesRepeatedKeys) {
  const auto result = ParseBoundedJson(R"({"a":{"b":1,"b":2}})", JsonNumbers::kExact);
  ASSERT_TRUE(result.failure);
  EXPECT_EQ(result.failure->reason, JsonParseFailure::Reason::kDuplicateKey);
  EXPECT_EQ(result.failure->message, "a key is given twice at /a/b");
  // Server text: the last value wins, as Json::parse does.
  EXPECT_EQ(ParseBoundedJson(R"({"b":1,"b":2})", JsonNumbers::kAny).value["b"], 2);
}

// A number beyond a double in user input is named with where it stands.
TEST(BoundedJson, OverflowingNumberSaysWhere) {
  const auto result = ParseBoundedJson(R"({"a":[1,{"b":1e400}]})", JsonNumbers::kExact);
  ASSERT_TRUE(result.failure);
  EXPECT_NE(result.failure->message.find("at /a/1/b"), std::string::npos)
      << result.failure->message;
}

TEST(BoundedJson, ManyFieldsInLinearTime) {
  std::string text = "{";
  for (int i = 0; i < 95'000; ++i) text += (i ? ",\"f" : "\"f") + std::to_string(i) + "\":1";
  text += ",\"f7\":2}";
  JsonParseResult result;
  EXPECT_LT(SecondsFor([&] { result = ParseBoundedJson(text, JsonNumbers::kAny); }), 2.0);
  ASSERT_FALSE(result.failure);
  EXPECT_EQ(result.value.size(), 95'000u);
  const auto& members =
      static_cast<const Json::object_t::Container&>(result.value.get_ref<const Json::object_t&>());
  EXPECT_EQ(members[0].first, "f0");
  EXPECT_EQ(members[7].first, "f7");  // the last of a repeated key, at the first one's place
  EXPECT_EQ(members[7].second, 2);
}

TEST(BoundedJson, ExactNumbers) {
  for (const char* exact : {"2.50", "0.1", "1e22", "-0.0", "18446744073709551615",
                            "-9223372036854775808", "1.5E3", "123456789.125", "5e-324"}) {
    EXPECT_FALSE(ParseBoundedJson(exact, JsonNumbers::kExact).failure) << exact;
  }
  for (const char* inexact :
       {"12345678901234567890123", "18446744073709551616", "-9223372036854775809",
        "0.1000000000000000000001", "1e400", "1e-400", "4.9e-324", "9007199254740993.0"}) {
    const auto result = ParseBoundedJson(inexact, JsonNumbers::kExact);
    ASSERT_TRUE(result.failure) << inexact;
    EXPECT_NE(result.failure->reason, JsonParseFailure::Reason::kTooDeep) << inexact;
  }
  const auto result =
      ParseBoundedJson(R"({"a":[1,{"id":12345678901234567890123}]})", JsonNumbers::kExact);
  ASSERT_TRUE(result.failure);
  EXPECT_NE(result.failure->message.find("12345678901234567890123 at /a/1/id"), std::string::npos)
      << result.failure->message;
}

TEST(BoundedJson, DecimalsCompareByValue) {
  const auto exact = [](const char* text) {
    return !ParseBoundedJson(text, JsonNumbers::kExact).failure;
  };
  EXPECT_TRUE(exact("2.50"));
  EXPECT_TRUE(exact("25e-1"));
  EXPECT_TRUE(exact("0.000e99"));
  EXPECT_FALSE(exact("10000000000000000000000"));  // integer syntax past 64 bits
  EXPECT_FALSE(exact("0.1000000000000000000001"));
}

TEST(BoundedJson, ErrorMessagesArePrintable) {
  const auto result = ParseBoundedJson("{\"role\":tru\xC3\xA9}", JsonNumbers::kExact);
  ASSERT_TRUE(result.failure);
  EXPECT_TRUE(IsValidUtf8(result.failure->message)) << result.failure->message;
  EXPECT_EQ(result.failure->message.find("json.exception"), std::string::npos);
  const auto control = ParseBoundedJson("[\"a\x01\"]", JsonNumbers::kExact);
  ASSERT_TRUE(control.failure);
  EXPECT_EQ(control.failure->message.find('\x01'), std::string::npos) << control.failure->message;
}

}  // namespace
}  // namespace toucan
