// Redaction: the first line of the input makes a key, the rest is server text. Property: after
// the Redactor (and after every path that quotes server text), no form of the key survives,
// judged by the independent checker in key_forms.hpp.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../tests/support/key_forms.hpp"
#include "toucan/client.hpp"

namespace {

constexpr std::string_view kKeyAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

void Expect(bool holds, const char* what, const std::string& text) {
  if (holds) return;
  std::fprintf(stderr, "property broken: %s\n%.300s\n", what, text.c_str());
  std::abort();
}

// Any printable ASCII key, or one from the alphabet real keys use: with the latter, no text of
// ours (JSON punctuation, escapes, "...") can complete a window of the key, so whole outputs can
// be checked, not only the Redactor's.
std::string KeyFrom(std::string_view seed, bool realistic) {
  std::string key;
  for (const char c : seed) {
    const auto byte = static_cast<unsigned char>(c);
    key +=
        realistic ? kKeyAlphabet[byte % kKeyAlphabet.size()] : static_cast<char>(0x21 + byte % 94);
  }
  return key.empty() ? std::string("k") : key;
}

void CheckReply(std::string_view text, const toucan::Redactor& redactor, const std::string& key) {
  try {
    const toucan::TokenResponse response =
        toucan::ParseTokenResponse(text, std::chrono::system_clock::now(), redactor);
    Expect(!toucan::key_forms::FindKeyForm(response.token, key), "key in the token",
           response.token);
    for (const auto& [name, value] : response.extra.items()) {
      const std::string json = value.dump(-1, ' ', false, toucan::Json::error_handler_t::replace);
      Expect(!toucan::key_forms::FindKeyForm(name, key), "key in a field name", name);
      Expect(!toucan::key_forms::FindKeyForm(json, key), "key in a field value", json);
    }
  } catch (const toucan::Error& e) {
    Expect(e.kind() == toucan::ErrorKind::kBadResponse, "not a bad response", e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  if (newline == std::string_view::npos || newline == 0 || newline > 64) return 0;
  const bool realistic = (static_cast<unsigned char>(input[0]) & 1) != 0;
  const std::string key = KeyFrom(input.substr(1, newline - 1), realistic);
  const std::string text(input.substr(newline + 1));
  const toucan::Redactor redactor(key);

  // A space never occurs in a key: between the markers nothing of the key may be left.
  const std::string separated = redactor.Apply(text, " ");
  Expect(!toucan::key_forms::FindKeyForm(separated, key), "key survives Apply", separated);
  const std::string redacted = redactor.Apply(text);
  Expect(redactor.Finds(text) == (redacted != text), "Finds disagrees with Apply", text);
  if (!realistic || key.size() < 8) return 0;

  Expect(!toucan::key_forms::FindKeyForm(redacted, key), "key survives Apply", redacted);
  const std::string said = toucan::ServerMessageExcerpt(text, redactor);
  Expect(!toucan::key_forms::FindKeyForm(said, key), "key in an excerpt", said);
  CheckReply(text, redactor, key);
  return 0;
}
