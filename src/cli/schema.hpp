#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "toucan/client.hpp"

namespace toucan {

enum class AttributeType { kString, kInteger, kNumber, kBoolean, kArray, kObject };

// "string", "integer", ... as written in a schema.
std::string_view AttributeTypeName(AttributeType type);

struct AttributeDeclaration {
  std::string name;
  AttributeType type = AttributeType::kString;
  bool required = false;
  std::vector<Json> allowed;  // `enum`: the only values accepted; empty when any value is
};

// The attributes Toucan has registered, so that a misspelt or mistyped attribute — which Toucan
// would silently match to no row — is refused before anything is sent.
class Schema {
 public:
  // A JSON object of declarations: `{"region": "string"}` or
  // `{"region": {"type": "string", "required": true}}`. Throws Error(kUsage).
  static Schema FromJson(const Json& document, std::string_view source = "the schema");

  // Schema text: JSON when `is_json`, else TOML. `source` names the file in messages (TOML
  // errors carry `source:line:column`). Throws Error(kUsage).
  static Schema Parse(std::string_view text, const std::string& source, bool is_json);

  // Reads a schema file (bounded, a regular file only): JSON when the name ends in `.json`,
  // else TOML. Throws Error(kUsage).
  static Schema Load(const std::string& path);

  // Adds one declaration (`"string"` or `{"type": ..., "required": ...}`). Throws Error(kUsage)
  // with a message that names the attribute but no place, so the caller can add one.
  void Declare(const std::string& name, const Json& declaration);

  const std::vector<AttributeDeclaration>& declarations() const { return declarations_; }
  const AttributeDeclaration* Find(std::string_view name) const;

  // The value a `-a KEY=VALUE` argument stands for: the text converted to the declared integer,
  // number or boolean when it is one (`2024`, `2.5`, `true`), else the text as a string (which
  // Check then refuses for a non-string type). Throws Error(kUsage) when the text is a number
  // that cannot be held exactly (an integer beyond 64 bits).
  Json Coerce(std::string_view name, std::string_view text) const;

  // Every problem of `attributes`, one message each, in attribute order: an attribute that is
  // not declared (with a suggestion), a value of the wrong type (naming attribute, declared type
  // and value), a value outside the declared `enum`, then each missing required attribute.
  std::vector<std::string> Problems(const Json& attributes) const;

  // Throws Error(kUsage) holding every problem, joined by "; ", when there is one.
  void Check(const Json& attributes) const;

 private:
  std::vector<AttributeDeclaration> declarations_;
  std::unordered_map<std::string, std::size_t> index_;  // name → declaration: Find in O(1)
  std::size_t required_ = 0;
};

// The candidate `word` was probably meant to be: one at edit distance at most 2, or differing
// only in case. Empty when none is close.
std::optional<std::string> SuggestName(std::string_view word,
                                       const std::vector<std::string>& candidates);

// " (did you mean 'NAME'?)" for SuggestName's answer; empty when it has none.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace toucan
