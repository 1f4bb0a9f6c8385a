// Mints one token through the installed library: consumer BASE_URL (the key in TOUCAN_API_KEY).
#include <cstdlib>
#include <iostream>
#include <toucan/error.hpp>
#include <toucan/client.hpp>
#include <toucan/version.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer BASE_URL\n";
    return 2;
  }
  const char* key = std::getenv("TOUCAN_API_KEY");
  try {
    toucan::ClientOptions options;
    options.base_url = argv[1];
    options.api_key = key != nullptr ? key : "";
    options.retries = 0;
    toucan::Client client(options);
    toucan::TokenRequest request{.distinct_id = "consumer-1"};
    request.attributes["region"] = "EU";
    const toucan::TokenResponse response = client.Mint(request);
    std::cout << "toucan " << toucan::kVersion << ": minted a token of " << response.token.size()
              << " characters\n";
    return 0;
  } catch (const toucan::Error& e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return toucan::ExitCode(e.kind());
  }
}
