#include <gtest/gtest.h>

#include "toucan/client.hpp"

namespace toucan {
namespace {

std::string Url(const char* base, const char* path = "/embed/generate-token") {
  return ResolveEndpointUrl(base, path);
}

bool Refused(const char* base, const char* path = "/embed/generate-token") {
  try {
    ResolveEndpointUrl(base, path);
  } catch (const Error& e) {
    return e.kind() == ErrorKind::kUsage;
  }
  return false;
}

TEST(EndpointUrl, JoinsBaseAndPath) {
  EXPECT_EQ(Url("https://toucanai.cloud"), "https://toucanai.cloud/embed/generate-token");
  EXPECT_EQ(Url("https://toucanai.cloud/"), "https://toucanai.cloud/embed/generate-token");
  EXPECT_EQ(Url("https://bi.example.com/toucan"),
            "https://bi.example.com/toucan/embed/generate-token");
  EXPECT_EQ(Url("https://bi.example.com/toucan/"),
            "https://bi.example.com/toucan/embed/generate-token");
  EXPECT_EQ(Url("https://bi.example.com:8443/a/b//", "api/generate-token"),
            "https://bi.example.com:8443/a/b/api/generate-token");
  EXPECT_EQ(Url("  https://x.example  "), "https://x.example/embed/generate-token");
}

TEST(EndpointUrl, PlainHttpOnlyForLoopback) {
  EXPECT_EQ(Url("http://localhost:8080"), "http://localhost:8080/embed/generate-token");
  EXPECT_EQ(Url("http://LOCALHOST"), "http://LOCALHOST/embed/generate-token");
  EXPECT_EQ(Url("http://127.0.0.1:1"), "http://127.0.0.1:1/embed/generate-token");
  EXPECT_EQ(Url("http://127.255.0.9"), "http://127.255.0.9/embed/generate-token");
  EXPECT_EQ(Url("http://[::1]:9"), "http://[::1]:9/embed/generate-token");
  for (const char* refused :
       {"http://example.com", "http://128.0.0.1", "http://10.0.0.1", "http://localhost.example.com",
        "http://[::2]", "http://127.0.0.1.nip.io"}) {
    EXPECT_TRUE(Refused(refused)) << refused;
  }
}

TEST(EndpointUrl, MalformedOrUnsafeUrls) {
  for (const char* refused :
       {"", "toucanai.cloud", "https://", "ftp://example.com", "https://exa mple.com",
        "https://user:pass@example.com", "https://x.example/?q=1", "https://x.example/#f",
        "https://x.example/p/?", "https://x.example/p/#", "https://x.example?",
        "file:///etc/passwd", "https://x.example\xff", "https://:443/x", "http:///"}) {
    EXPECT_TRUE(Refused(refused)) << refused;
  }
}

// Servlet containers drop `;parameters`; lenient servers decode twice, or read %c0%ae as '.'.
TEST(EndpointUrl, SegmentsAServerMayReadAsDotDot) {
  for (const char* path : {"/..;/admin", "/.;x", "/..%3B/x", "/%252E%252e", "/..%09", "/%c0%ae.",
                           "/%e0%80%ae%e0%80%ae", "/a%2500", "/a%255cb"}) {
    EXPECT_TRUE(Refused("https://h.example/toucan", path)) << path;
  }
  EXPECT_EQ(Url("https://h.example/toucan", "/v1;x/a..b/.../%c3%a9"),
            "https://h.example/toucan/v1;x/a..b/.../%c3%a9");
}

TEST(Client, RefusesBadKeyAndCaBundle) {
  ClientOptions options;
  options.api_key = "bad key";
  EXPECT_THROW(Client{options}, Error);
  options.api_key = "good";
  options.ca_bundle = "/nonexistent/ca.pem";
  EXPECT_THROW(Client{options}, Error);
  options.ca_bundle.clear();
  EXPECT_NO_THROW(Client{options});
}

TEST(Headers, KeyIsRedacted) {
  const Json headers = RedactedRequestHeaders();
  EXPECT_EQ(headers["x-api-key"], "***");
  EXPECT_EQ(headers["User-Agent"], std::string("toucan-token/") + kVersion);
}

}  // namespace
}  // namespace toucan
