// config.toml text: the TOML parser under our nesting bound, every profile key's checks, the
// `profiles` rows.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../src/text.hpp"  // IsValidUtf8
#include "config.hpp"

namespace {

[[noreturn]] void Fail(const toucan::Error& e) {
  std::fprintf(stderr, "unexpected error: %s\n", e.what());
  std::abort();
}

// Every config error must name the file, line and column, and be printable.
void CheckMessage(const toucan::Error& e) {
  const std::string_view message = e.what();
  if (e.kind() != toucan::ErrorKind::kUsage) Fail(e);
  if (message.rfind("/fuzz/config.toml:", 0) != 0) Fail(e);
  if (!toucan::IsValidUtf8(message)) Fail(e);
  for (const char c : message) {
    if (static_cast<unsigned char>(c) < 0x20) Fail(e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const toucan::Environment env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HOME") return std::string("/home/fuzz");
    return std::nullopt;
  };
  try {
    const toucan::Config config = toucan::ParseConfig(input, "/fuzz/config.toml", env);
    for (const toucan::Profile& profile : config.profiles) {
      (void)profile.settings.dump();  // as `profiles` prints them
      if (profile.timeout && !(*profile.timeout > 0)) std::abort();
      if (profile.concurrency && (*profile.concurrency < 1 || *profile.concurrency > 256)) {
        std::abort();
      }
      if (profile.attributes && !profile.attributes->is_object()) std::abort();
      if (profile.schema_inline) profile.schema_inline->Check(toucan::Json::object());
    }
  } catch (const toucan::Error& e) {
    // Check() on an empty object may refuse a required attribute: that is not a config error.
    if (std::string_view(e.what()).rfind("required attribute", 0) != 0) CheckMessage(e);
  }
  return 0;
}
