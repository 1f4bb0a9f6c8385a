// Schema files, TOML and JSON, then the schema applied: `-a KEY=VALUE` conversion and checks.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "../src/text.hpp"  // IsValidUtf8
#include "schema.hpp"

namespace {

[[noreturn]] void Fail(const toucan::Error& e) {
  std::fprintf(stderr, "unexpected error: %s\n", e.what());
  std::abort();
}

void CheckMessage(const toucan::Error& e, std::string_view prefix) {
  const std::string_view message = e.what();
  if (e.kind() != toucan::ErrorKind::kUsage) Fail(e);
  if (!prefix.empty() && message.rfind(prefix, 0) != 0) Fail(e);
  if (!toucan::IsValidUtf8(message)) Fail(e);
  for (const char c : message) {
    if (static_cast<unsigned char>(c) < 0x20) Fail(e);
  }
}

void Apply(const toucan::Schema& schema, std::string_view text) {
  // The first declarations only: inserting into an ordered JSON object scans it, so 70,000
  // declarations would time the harness out, not the code under test (whose lookups are indexed).
  toucan::Json attributes = toucan::Json::object();
  const std::span declarations(schema.declarations());
  for (const auto& declaration :
       declarations.first(std::min<std::size_t>(declarations.size(), 256))) {
    try {
      const toucan::Json value = schema.Coerce(declaration.name, text);
      // A converted value is exactly the text: it prints back as the same JSON number.
      if (value.is_number_integer() && value.dump() != text && text != "-0") std::abort();
      attributes[declaration.name] = value;
    } catch (const toucan::Error& e) {
      CheckMessage(e, "attribute '");
    }
  }
  try {
    schema.Check(attributes);
  } catch (const toucan::Error& e) {
    CheckMessage(e, "");
  }
  (void)toucan::SuggestName(text, {"region", "year", "active"});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const bool is_json : {false, true}) {
    const std::string source = is_json ? "/fuzz/schema.json" : "/fuzz/schema.toml";
    try {
      Apply(toucan::Schema::Parse(input, source, is_json), input.substr(0, 64));
    } catch (const toucan::Error& e) {
      CheckMessage(e, source);  // "FILE:LINE:COL: …", or "FILE is not valid JSON: …"
    }
  }
  return 0;
}
