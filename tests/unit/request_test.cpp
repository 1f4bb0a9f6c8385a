#include <gtest/gtest.h>

#include "toucan/token.hpp"

namespace toucan {
namespace {

Json Attributes(std::initializer_list<std::string_view> arguments) {
  Json attributes = Json::object();
  for (const auto argument : arguments) ApplyAttributeArgument(attributes, argument);
  return attributes;
}

ErrorKind KindOf(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::kInternal;
}

TEST(Attributes, StringAndTypedValues) {
  const Json attributes =
      Attributes({"region=EU", "year:=2024", "active:=true", R"(groups:=["a","b"])",
                  "empty=", "eq=a=b", "nested:={\"k\":null}", "pi:=3.5"});
  EXPECT_EQ(attributes.dump(),
            R"({"region":"EU","year":2024,"active":true,"groups":["a","b"],"empty":"","eq":"a=b",)"
            R"("nested":{"k":null},"pi":3.5})");
}

TEST(Attributes, LaterWins) { EXPECT_EQ(Attributes({"x=1", "x:=2"}).dump(), R"({"x":2})"); }

TEST(Attributes, ColonInsideAKeyIsPartOfAStringKey) {
  EXPECT_EQ(Attributes({"a:b=c"}).dump(), R"({"a:b":"c"})");
}

TEST(Attributes, QuotedStringThroughTypedForm) {
  EXPECT_EQ(Attributes({R"(s:="2024")"}).dump(), R"({"s":"2024"})");
}

TEST(Attributes, Unicode) { EXPECT_EQ(Attributes({"città=Zürich 東京"})["città"], "Zürich 東京"); }

TEST(Attributes, Errors) {
  // 1e999 overflows a double: found by the attribute fuzzer, once an internal error.
  for (const char* bad : {"noequals", "=v", ":=1", "k:=not json", "k:=", "k:={", "k=\xff",
                          "k:=1e999", "k:=[4e7777777777777777]"}) {
    Json attributes = Json::object();
    EXPECT_EQ(KindOf([&] { ApplyAttributeArgument(attributes, bad); }), ErrorKind::kUsage) << bad;
  }
}

TEST(Attributes, BadJsonSaysWhere) {
  Json attributes = Json::object();
  try {
    ApplyAttributeArgument(attributes, "k:=[1,");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1, column 4"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos);
  }
}

TEST(JsonObject, ParsesObjectsOnly) {
  EXPECT_EQ(ParseJsonObject(R"({"b":1,"a":2})", "x").dump(), R"({"b":1,"a":2})");
  for (const char* bad : {"[1]", "\"s\"", "1", "null", "{", "", "{\"a\":1} x",
                          "{\"a\":\"\xc3\x28\"}", "{\"a\":-1e400}"}) {
    EXPECT_EQ(KindOf([&] { ParseJsonObject(bad, "x"); }), ErrorKind::kUsage) << bad;
  }
}

TEST(Body, ShapeAndOrder) {
  TokenRequest request;
  request.distinct_id = "u1";
  request.attributes = Attributes({"region=EU"});
  EXPECT_EQ(BuildRequestBody(request).dump(),
            R"({"user":{"distinctId":"u1","role":"explorer","attributes":{"region":"EU"}}})");
  request.permissions = Json::parse(R"({"dashboards":["d1"]})");
  request.role = "viewer";
  EXPECT_EQ(BuildRequestBody(request).dump(),
            R"({"user":{"distinctId":"u1","role":"viewer","attributes":{"region":"EU"}},)"
            R"("permissions":{"dashboards":["d1"]}})");
}

TEST(Body, EmptyAttributesAreAnObject) {
  TokenRequest request;
  request.distinct_id = "u1";
  EXPECT_EQ(BuildRequestBody(request)["user"]["attributes"].dump(), "{}");
}

TEST(Body, Errors) {
  TokenRequest request;
  request.distinct_id = "";
  EXPECT_EQ(KindOf([&] { BuildRequestBody(request); }), ErrorKind::kUsage);
  request.distinct_id = "u";
  request.role = "";
  EXPECT_EQ(KindOf([&] { BuildRequestBody(request); }), ErrorKind::kUsage);
  request.role = "explorer";
  request.attributes = Json::parse(R"({"":1})");
  EXPECT_EQ(KindOf([&] { BuildRequestBody(request); }), ErrorKind::kUsage);
  request.attributes = Json::array();
  EXPECT_EQ(KindOf([&] { BuildRequestBody(request); }), ErrorKind::kUsage);
  request.attributes = Json::object();
  request.permissions = Json::array();
  EXPECT_EQ(KindOf([&] { BuildRequestBody(request); }), ErrorKind::kUsage);
  request.permissions.reset();
  request.distinct_id = "\xc0\xaf";
  EXPECT_EQ(KindOf([&] { BuildRequestBody(request); }), ErrorKind::kUsage);
}

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
}

TEST(ApiKey, Validation) {
  EXPECT_NO_THROW(ValidateApiKey("tk_live_ABC-123.xyz", "TOUCAN_API_KEY"));
  for (const char* bad :
       {"", "has space", "tab\there", "new\nline", "bell\x07", "del\x7f", "caf\xc3\xa9"}) {
    EXPECT_EQ(KindOf([&] { ValidateApiKey(bad, "TOUCAN_API_KEY"); }), ErrorKind::kUsage) << bad;
  }
}

TEST(ApiKey, MessageNeverQuotesTheKey) {
  try {
    ValidateApiKey("secret part", "TOUCAN_API_KEY");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("whitespace"), std::string::npos);
  }
}

TEST(Trim, Whitespace) {
  EXPECT_EQ(Trim("  key\r\n"), "key");
  EXPECT_EQ(Trim(" \t "), "");
}

}  // namespace
}  // namespace toucan
