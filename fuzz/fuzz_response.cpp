// Server replies: token responses and error bodies.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../src/text.hpp"  // IsValidUtf8
#include "toucan/client.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const toucan::Redactor redactor("tk_fuzz_key_0123");
  try {
    const toucan::TokenResponse response =
        toucan::ParseTokenResponse(body, std::chrono::system_clock::now(), redactor);
    if (!toucan::IsSafeToken(response.token)) std::abort();
    // The printed line is one line of valid JSON, valid UTF-8, and holds every field once.
    const std::string line = toucan::ResponseJsonLine(response);
    if (line.find('\n') != std::string::npos || !toucan::IsValidUtf8(line)) std::abort();
    const toucan::Json parsed = toucan::Json::parse(line, nullptr, false);
    if (parsed.is_discarded() || parsed["token"] != response.token) std::abort();
    if (parsed.size() != 3 + response.extra.size()) std::abort();
  } catch (const toucan::Error& e) {
    if (e.kind() != toucan::ErrorKind::kBadResponse) std::abort();
    if (!toucan::IsValidUtf8(e.what())) std::abort();  // messages are printed as they are
  }
  const std::string excerpt = toucan::ServerMessageExcerpt(body, redactor);
  if (!toucan::IsValidUtf8(excerpt) || excerpt.size() > 300 * 4 + 3) std::abort();
  for (const char c : excerpt) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();  // escaped
  }
  return 0;
}
