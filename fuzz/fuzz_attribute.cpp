// The user's inputs: -a arguments, --attributes/--permissions JSON, batch lines.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../src/text.hpp"  // IsValidUtf8
#include "batch.hpp"
#include "toucan/client.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  toucan::Json attributes = toucan::Json::object();
  try {
    toucan::ApplyAttributeArgument(attributes, input);
    // Whatever was accepted must serialise: the body is built from it.
    const auto key = input.substr(0, input.find('='));
    if (key.empty()) std::abort();
    (void)attributes.dump();
  } catch (const toucan::Error& e) {
    if (e.kind() != toucan::ErrorKind::kUsage) std::abort();
    if (!toucan::IsValidUtf8(e.what())) std::abort();  // quoted in messages and rows
  }
  try {
    (void)toucan::ParseJsonObject(input, "fuzz").dump();
  } catch (const toucan::Error& e) {
    if (e.kind() != toucan::ErrorKind::kUsage) std::abort();
    if (!toucan::IsValidUtf8(e.what())) std::abort();
  }
  toucan::TokenRequest defaults;
  defaults.attributes = toucan::Json::parse(R"({"region":"EU"})");
  const toucan::BatchLine line = toucan::ParseBatchLine(input, defaults);
  if (line.error.empty()) (void)line.body.dump();
  return 0;
}
