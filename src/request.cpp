// Building the request body and reading the user's attribute and permission inputs.
#include <algorithm>
#include <unordered_map>

#include "text.hpp"

namespace toucan {
namespace {

void CheckUtf8(std::string_view text, std::string_view what) {
  if (!IsValidUtf8(text)) throw UsageError(std::string(what) + " is not valid UTF-8");
}

}  // namespace

void CheckAttributeKeys(const Json& attributes) {
  for (const auto& [key, value] : attributes.items()) {
    if (key.empty()) throw UsageError("attribute keys must not be empty");
    if (FindControl(key) != std::string::npos) {
      throw UsageError("the attribute key '" + Excerpt(key, 100) + "' holds a control character");
    }
  }
}

Json ParseJsonValue(std::string_view text, std::string_view what) {
  CheckUtf8(text, what);
  JsonParseResult parsed = ParseBoundedJson(text, JsonNumbers::kExact);
  if (!parsed.failure) return std::move(parsed.value);
  const JsonParseFailure& failure = *parsed.failure;
  const char* joint = failure.reason == JsonParseFailure::Reason::kSyntax ? " is not valid JSON: "
                      : failure.reason == JsonParseFailure::Reason::kTooDeep ? " is refused: "
                                                                             : ": ";
  throw UsageError(std::string(what) + joint + failure.message);
}

Json ParseJsonObject(std::string_view text, std::string_view what) {
  Json value = ParseJsonValue(text, what);
  if (!value.is_object()) {
    throw UsageError(std::string(what) + " must be a JSON object, not " + value.type_name());
  }
  return value;
}

void MergeAttributes(Json& target, std::span<const Json> sources) {
  std::size_t more = 0;
  for (const Json& source : sources) {
    if (!target.is_object() || !source.is_object()) {
      throw UsageError("attributes must be a JSON object");
    }
    more += source.size();
  }
  auto& members = Members(target);
  // Reserved first: `index` holds views into the keys, which must not move.
  members.reserve(members.size() + more);
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < members.size(); ++i) index.emplace(members[i].first, i);
  for (const Json& source : sources) {
    for (const auto& [key, value] : source.get_ref<const Json::object_t&>()) {
      if (const auto found = index.find(key); found != index.end()) {
        members[found->second].second = value;
      } else {
        members.emplace_back(key, value);
        index.emplace(members.back().first, members.size() - 1);
      }
    }
  }
}

void ApplyAttributeArgument(Json& attributes, std::string_view argument) {
  // Quoted through Excerpt: the argument may hold control characters or broken UTF-8.
  const std::string quoted = "attribute '" + Excerpt(argument, 100) + "'";
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
  if (Trim(request.role).empty()) throw UsageError("the role must not be empty or blank");
  CheckUtf8(request.role, "the role");
  if (!request.attributes.is_object()) throw UsageError("attributes must be a JSON object");
  try {
    CheckAttributeKeys(request.attributes);
  } catch (const Error& e) {
    throw UsageError(std::string("attributes: ") + e.what());
  }
  if (request.permissions && !request.permissions->is_object()) {
    throw UsageError("permissions must be a JSON object");
  }
}

Json BuildRequestBody(const TokenRequest& request) {
  if (Trim(request.distinct_id).empty()) {  // "  " names nobody: a junk user, never wanted
    throw UsageError("the distinct id must not be empty or blank");
  }
  CheckUtf8(request.distinct_id, "the distinct id");
  CheckRequestDefaults(request);
  Json body;  // not an initializer list, which copies every value twice (a batch builds many)
  Json& user = body["user"];
  user["distinctId"] = request.distinct_id;
  user["role"] = request.role;
  user["attributes"] = request.attributes;
  if (request.permissions) body["permissions"] = *request.permissions;
  return body;
}

void ValidateApiKey(std::string_view key, std::string_view source) {
  const std::string from = "the API key from " + std::string(source);
  if (key.empty()) throw UsageError(from + " is empty");
  // Pasted from a shell or a .env file: sent as they are, they would be a puzzling 401.
  if (key.size() > 1 && (key[0] == '"' || key[0] == '\'') && key.back() == key[0]) {
    throw UsageError(from + " is wrapped in quotes; give the key without them");
  }
  const std::string_view name = key.substr(0, key.find('='));
  if (name.size() < key.size() && name.ends_with("KEY") &&
      name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == name.npos) {
    throw UsageError(from + " starts with a variable name and '='; give the key alone");
  }
  const auto bad =
      std::find_if(key.begin(), key.end(), [](char c) { return c <= 0x20 || c >= 0x7F; });
  if (bad == key.end()) return;
  // Say what is wrong without echoing any part of the key.
  const char* what = *bad == ' ' || *bad == '\t' ? "whitespace"
                     : *bad >= 0                 ? "a control character"  // or DEL
                                                 : "a non-ASCII byte";
  throw UsageError(from + " contains " + what + "; an API key is printable ASCII without spaces");
}

}  // namespace toucan
