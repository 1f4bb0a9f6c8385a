// expiresIn in every shape a server might send.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "toucan/client.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto check = [](const toucan::Json& value) {
    const auto seconds = toucan::ExpiryFromValue(value);
    // Non-negative and small enough to print as a date.
    if (seconds && (*seconds < 0 || *seconds > std::int64_t{4'000'000'000})) std::abort();
    if (seconds)
      (void)toucan::FormatRfc3339(std::chrono::system_clock::now() +
                                  std::chrono::seconds(*seconds));
  };
  check(toucan::Json(input));  // as a string
  const toucan::Json parsed = toucan::Json::parse(input, nullptr, false);
  if (!parsed.is_discarded()) check(parsed);
  return 0;
}
