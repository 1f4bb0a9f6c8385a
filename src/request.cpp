// Building the request body and reading the user's attribute and permission inputs.
#include <string>

#include "toucan/token.hpp"

namespace toucan {
namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] "; users need the rest.
std::string WithoutJsonPrefix(const std::string& what) {
  const auto pos = what.find("] ");
  return pos == std::string::npos ? what : what.substr(pos + 2);
}

void CheckUtf8(std::string_view text, std::string_view what) {
  if (!IsValidUtf8(text)) throw UsageError(std::string(what) + " is not valid UTF-8");
}

void CheckAttributeKeys(const Json& attributes, std::string_view what) {
  for (const auto& [key, value] : attributes.items()) {
    if (key.empty()) throw UsageError(std::string(what) + ": attribute keys must not be empty");
  }
}

}  // namespace

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      code = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      code = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      code = c & 0x07u;
    } else {
      return false;
    }
    if (n - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0u) != 0x80u) return false;
      code = (code << 6) | (cc & 0x3Fu);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if ((extra == 2 && code < 0x800) || (extra == 3 && (code < 0x10000 || code > 0x10FFFF)) ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

Json ParseJsonValue(std::string_view text, std::string_view what) {
  if (!IsValidUtf8(text)) throw UsageError(std::string(what) + " is not valid UTF-8");
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    // Not only parse_error: a number too large for a double throws out_of_range.
    throw UsageError(std::string(what) + " is not valid JSON: " + WithoutJsonPrefix(e.what()));
  }
}

Json ParseJsonObject(std::string_view text, std::string_view what) {
  Json value = ParseJsonValue(text, what);
  if (!value.is_object()) {
    throw UsageError(std::string(what) + " must be a JSON object, not " + value.type_name());
  }
  return value;
}

void ApplyAttributeArgument(Json& attributes, std::string_view argument) {
  const std::string quoted = "attribute '" + std::string(argument) + "'";
  CheckUtf8(argument, quoted);
  const auto eq = argument.find('=');
  if (eq == std::string_view::npos) {
    throw UsageError(quoted + " must be KEY=VALUE (a string) or KEY:=JSON (a typed value)");
  }
  const bool typed = eq > 0 && argument[eq - 1] == ':';
  const std::string key(argument.substr(0, typed ? eq - 1 : eq));
  const std::string_view value = argument.substr(eq + 1);
  if (key.empty()) throw UsageError(quoted + " has an empty key");
  if (!typed) {
    attributes[key] = std::string(value);
    return;
  }
  try {
    attributes[key] = ParseJsonValue(value, quoted + ": the value after ':='");
  } catch (const Error& e) {
    throw UsageError(std::string(e.what()) + " (a plain string is KEY=VALUE)");
  }
}

void CheckRequestDefaults(const TokenRequest& request) {
  if (request.role.empty()) throw UsageError("the role must not be empty");
  CheckUtf8(request.role, "the role");
  if (!request.attributes.is_object()) throw UsageError("attributes must be a JSON object");
  CheckAttributeKeys(request.attributes, "attributes");
  if (request.permissions && !request.permissions->is_object()) {
    throw UsageError("permissions must be a JSON object");
  }
}

Json BuildRequestBody(const TokenRequest& request) {
  if (request.distinct_id.empty()) throw UsageError("the distinct id must not be empty");
  CheckUtf8(request.distinct_id, "the distinct id");
  CheckRequestDefaults(request);
  Json body = Json::object();
  body["user"] = Json::object();
  body["user"]["distinctId"] = request.distinct_id;
  body["user"]["role"] = request.role;
  body["user"]["attributes"] = request.attributes;
  if (request.permissions) body["permissions"] = *request.permissions;
  return body;
}

void ValidateApiKey(std::string_view key, std::string_view source) {
  if (key.empty()) throw UsageError("the API key from " + std::string(source) + " is empty");
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F) {
      // Say what is wrong without echoing any part of the key.
      const char* what = c == ' ' || c == '\t'   ? "whitespace"
                         : c < 0x20 || c == 0x7F ? "a control character"
                                                 : "a non-ASCII byte";
      throw UsageError("the API key from " + std::string(source) + " contains " + what +
                       "; an API key is printable ASCII without spaces");
    }
  }
}

}  // namespace toucan
