#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace toucan {

// `text` with control characters escaped and invalid UTF-8 replaced by U+FFFD (idempotent).
std::string EscapeControls(std::string_view text);

// Each kind is one row of the exit-status table of the manual page; the value is the exit code.
enum class ErrorKind : int {
  kInternal = 1,
  kUsage = 2,
  kCredentials = 3,
  kRejected = 4,
  kUnavailable = 5,
  kNetwork = 6,
  kBadResponse = 7,
  kOutput = 8,         // stdout could not be written
  kInterrupted = 130,  // SIGINT; the CLI reports 143 for SIGTERM
};

inline int ExitCode(ErrorKind kind) { return static_cast<int>(kind); }

// What a failure was about, for a front end's hint: the library's messages name no setting.
enum class Cause : unsigned char {
  kNone,
  kEndpoint,       // the base URL or endpoint path: a 404, a reply that is no token reply
  kRedirect,       // the base URL is not the final address
  kUnknownHost,    // the base URL's host does not resolve
  kNoConnection,   // nothing answered at the base URL's host
  kNotHttp,        // what answered does not speak HTTP
  kRetriesSpent,   // a transient failure outlasted the retries
  kTimeout,        // a time limit was reached
  kUntrusted,      // the server's certificate is not trusted by the CA store in use
  kRequestRefused  // a 4xx that names no reason
};

// The library's one error type. Its message is escaped here, once, so that no path that quotes
// user or server text can forget to.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, std::optional<long> http_status = std::nullopt)
      : std::runtime_error(EscapeControls(message)), kind_(kind), http_status_(http_status) {}

  ErrorKind kind() const { return kind_; }
  std::optional<long> http_status() const { return http_status_; }  // empty: no reply
  Cause cause() const { return cause_; }
  // What a hint names: for kEndpoint the URL, for kTimeout the connect and total limits in s.
  const std::vector<std::string>& facts() const { return facts_; }

  Error& About(Cause cause, std::vector<std::string> facts = {}) {
    cause_ = cause;
    facts_ = std::move(facts);
    return *this;
  }

 private:
  ErrorKind kind_;
  std::optional<long> http_status_;
  Cause cause_ = Cause::kNone;
  std::vector<std::string> facts_;
};

inline Error UsageError(const std::string& message) { return {ErrorKind::kUsage, message}; }

}  // namespace toucan
