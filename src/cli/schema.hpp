#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "toucan/client.hpp"

namespace toucan {

enum class AttributeType { kString, kInteger, kNumber, kBoolean, kArray, kObject };

struct AttributeDeclaration {
  std::string name;
  AttributeType type = AttributeType::kString;
  bool required = false;
  std::vector<Json> allowed;  // `enum`; empty when any value is
};

// The attributes Toucan has registered, so that a misspelt or mistyped attribute — which Toucan
// would silently match to no row — is refused before anything is sent.
class Schema {
 public:
  // JSON `{"region": "string"}` or `{"region": {"type": "string", "required": true}}`, or TOML.
  static Schema Parse(std::string_view text, const std::string& source, bool is_json);
  // A bounded regular file: JSON when the name ends in `.json`, else TOML.
  static Schema Load(const std::string& path);

  // Messages start with `where`, the declaration's place.
  void Declare(const std::string& name, const Json& declaration, std::string_view where = "");

  const std::vector<AttributeDeclaration>& declarations() const { return declarations_; }
  const AttributeDeclaration* Find(std::string_view name) const;

  // What `-a KEY=VALUE` stands for: the declared integer, number or boolean when the text reads
  // as one, else a string.
  Json Coerce(std::string_view name, std::string_view text) const;

  std::vector<std::string> Problems(const Json& attributes) const;
  void Check(const Json& attributes) const;

 private:
  std::vector<AttributeDeclaration> declarations_;
  std::unordered_map<std::string, std::size_t> index_;  // name → declaration
  std::vector<std::string> names_;                      // in order, for suggestions
};

// The candidate at edit distance at most 2 from `word`, or differing only in case; none among
// more than kMostCandidates.
inline constexpr std::size_t kMostCandidates = 1000;
std::optional<std::string> SuggestName(std::string_view word,
                                       const std::vector<std::string>& candidates);

// " (did you mean 'NAME'?)", or empty.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace toucan
