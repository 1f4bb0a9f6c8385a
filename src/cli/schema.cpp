#include "schema.hpp"

#include <algorithm>
#include <unordered_set>

#include "config_internal.hpp"
#include "output.hpp"

namespace toucan {
namespace {

// In the order of AttributeType.
const std::vector<std::string> kTypeNames = {"string",  "integer", "number",
                                             "boolean", "array",   "object"};

// A value from user input as JSON, cut short for a message.
std::string Shown(const Json& value) {
  return Excerpt(value.dump(-1, ' ', false, Json::error_handler_t::replace), 100);
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

AttributeType ParseType(const std::string& attribute, const Json& value) {
  const std::string text = value.is_string() ? value.get<std::string>() : std::string();
  const auto found = std::find(kTypeNames.begin(), kTypeNames.end(), text);
  if (found != kTypeNames.end()) return static_cast<AttributeType>(found - kTypeNames.begin());
  throw UsageError("attribute " + Quoted(attribute) + ": unknown type " + Shown(value) +
                   DidYouMean(text, kTypeNames) + "; the types are " + Join(kTypeNames, ", "));
}

bool Matches(AttributeType type, const Json& value) {
  constexpr bool (Json::*kIs[])()
      const noexcept = {&Json::is_string,  &Json::is_number_integer, &Json::is_number,
                        &Json::is_boolean, &Json::is_array,          &Json::is_object};
  return (value.*kIs[static_cast<std::size_t>(type)])();
}

AttributeDeclaration ParseLongForm(const std::string& name, const Json& declaration) {
  const std::string attribute = "attribute " + Quoted(name);
  if (!declaration.contains("type")) throw UsageError(attribute + " needs a \"type\"");
  AttributeDeclaration entry{name, ParseType(name, declaration["type"]), false, {}};
  for (const auto& [key, value] : declaration.items()) {
    if (key == "required") {
      if (!value.is_boolean()) throw UsageError(attribute + ": \"required\" must be true or false");
      entry.required = value.get<bool>();
    } else if (key == "enum") {
      if (!value.is_array() || value.empty()) {
        throw UsageError(attribute + ": \"enum\" must be a non-empty array");
      }
      for (const Json& allowed : value) {
        if (!Matches(entry.type, allowed)) {
          throw UsageError(attribute + ": \"enum\" value " + Shown(allowed) + " is not of type " +
                           kTypeNames[static_cast<std::size_t>(entry.type)]);
        }
      }
      entry.allowed = {value.begin(), value.end()};
    } else if (key != "type" && key != "description") {
      throw UsageError(attribute + ": unknown field " + Quoted(key) +
                       DidYouMean(key, {"type", "required", "enum", "description"}));
    }
  }
  return entry;
}

// Up to ten items of a list, and "..." for the rest.
template <typename Items, typename Show>
std::string FirstTen(const Items& items, const Show& show) {
  std::string list;
  for (std::size_t i = 0; i < items.size() && i < 10; ++i) list += (i ? ", " : "") + show(items[i]);
  return Excerpt(items.size() > 10 ? list + ", ..." : list);
}

// `named` collects the name offered, whose absence then needs no line of its own.
std::string UnknownAttribute(const std::string& key, const std::vector<std::string>& names,
                             std::unordered_set<std::string>& named) {
  const std::string message = "unknown attribute " + Quoted(key);
  if (const auto close = SuggestName(key, names)) {
    named.insert(*close);
    return message + " (did you mean " + Quoted(*close) + "?)";
  }
  return message + ": the schema declares " +
         (names.empty() ? "none" : FirstTen(names, [](const std::string& n) { return Quoted(n); }));
}

std::string OutsideEnum(const AttributeDeclaration& declaration, const Json& value) {
  std::string message = "attribute " + Quoted(declaration.name) + ": " + Shown(value) +
                        " is not one of " + FirstTen(declaration.allowed, Shown);
  if (value.is_string() && declaration.allowed.size() <= kMostCandidates) {  // else none made
    std::vector<std::string> words;
    for (const Json& allowed : declaration.allowed) {
      if (allowed.is_string()) words.push_back(allowed.get<std::string>());
    }
    message += DidYouMean(value.get<std::string>(), words);
  }
  return message;
}

}  // namespace

std::optional<std::string> SuggestName(std::string_view word,
                                       const std::vector<std::string>& candidates) {
  // Each candidate costs a distance, quadratic in the length: past these bounds (no name or
  // schema a person writes), hostile input, or a line of a batch, would pay too much for it.
  if (word.size() > 256 || candidates.size() > kMostCandidates) return std::nullopt;
  const std::string lower = AsciiLower(word);
  std::optional<std::string> best;
  std::size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    if (AsciiLower(candidate) == lower) return candidate;  // a case-only difference wins
    if (candidate.size() + 2 < word.size() || word.size() + 2 < candidate.size()) continue;
    const std::size_t distance = EditDistance(word, candidate);
    if (distance < best_distance) best = candidate, best_distance = distance;
  }
  return best;
}

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  const auto close = SuggestName(word, candidates);
  return close ? " (did you mean " + Quoted(*close) + "?)" : std::string();
}

void Schema::Declare(const std::string& name, const Json& declaration, std::string_view where) {
  try {
    if (name.empty()) throw UsageError("an attribute name must not be empty");
    if (index_.contains(name)) throw UsageError("attribute " + Quoted(name) + " is declared twice");
    if (!declaration.is_string() && !declaration.is_object()) {
      throw UsageError("attribute " + Quoted(name) +
                       " must be declared as a type name (\"string\") " +
                       "or as {\"type\": ..., \"required\": ...}, not " + Shown(declaration));
    }
    AttributeDeclaration entry =
        ParseLongForm(name, declaration.is_object() ? declaration : Json{{"type", declaration}});
    index_.emplace(name, declarations_.size());
    names_.push_back(name);
    declarations_.push_back(std::move(entry));
  } catch (const Error& e) {
    throw UsageError(std::string(where) + e.what());
  }
}

const AttributeDeclaration* Schema::Find(std::string_view name) const {
  const auto found = index_.find(std::string(name));
  return found == index_.end() ? nullptr : &declarations_[found->second];
}

Schema Schema::Parse(std::string_view text, const std::string& source, bool is_json) {
  if (!is_json) return internal::SchemaFromToml(internal::ParseToml(text, source), "");
  // The parser user input goes through: depth bounded while parsing, and a name declared twice
  // refused (the last declaration would win without a word).
  const Json document = ParseJsonValue(text, source);
  if (!document.is_object()) {
    throw UsageError(source + ": a schema must be an object of attribute declarations");
  }
  // The most likely wrong file: a JSON Schema for the same attributes. Said plainly, with the
  // format that is meant, rather than as a complaint about an attribute named "properties".
  if (document.contains("$schema") ||
      (document.contains("properties") && document.value("type", Json()) == "object")) {
    throw UsageError(source +
                     ": this is a JSON Schema document; a toucan-token schema maps each attribute "
                     "to its type: {\"region\": {\"type\": \"string\", \"enum\": [\"EU\", "
                     "\"US\"]}, \"year\": \"integer\"}");
  }
  Schema schema;
  for (const auto& [name, declaration] : document.items())
    schema.Declare(name, declaration, source + ": ");
  return schema;
}

Schema internal::SchemaFromToml(const toml::table& table, std::string_view label) {
  Schema schema;
  for (const auto& [key, value] : InFileOrder(table)) {
    const Json declaration = TomlToJson(*value);  // its messages carry their place
    schema.Declare(std::string(key->str()), declaration,
                   Where(key->source()) + ": " + std::string(label));
  }
  return schema;
}

Schema Schema::Load(const std::string& path) {
  const auto file = ReadRegularFile(path, "schema file", kMaxConfigBytes, false);
  return Parse(file->text, path, path.ends_with(".json"));
}

Json Schema::Coerce(std::string_view name, std::string_view text) const {
  const AttributeDeclaration* declaration = Find(name);
  if (declaration == nullptr) return std::string(text);
  const AttributeType type = declaration->type;
  // JSON's number syntax, so `-a` accepts exactly what `:=` would.
  const bool number_text = IsJsonNumber(text);
  const bool integer_text = number_text && text.find_first_of(".eE") == std::string_view::npos;
  if ((type == AttributeType::kInteger && integer_text) ||
      (type == AttributeType::kNumber && number_text)) {
    // Converted as `:=` converts: a number that would not survive unchanged is refused.
    try {
      return ParseJsonValue(text, name);
    } catch (const Error&) {
      throw UsageError("attribute " + Quoted(name) + ": " + Shown(Json(std::string(text))) +
                       (integer_text ? " does not fit a 64-bit integer"
                                     : " cannot be represented exactly as a number"));
    }
  }
  if (type == AttributeType::kBoolean && (text == "true" || text == "false")) return text == "true";
  return std::string(text);
}

std::vector<std::string> Schema::Problems(const Json& attributes) const {
  // A hostile line may hold 100,000 unknown keys: the first few are worth a message each (with a
  // suggestion, which costs a pass over the names), the rest a count.
  constexpr std::size_t kShown = 20;
  std::vector<std::string> problems;
  // The names given or offered: none is reported missing. (Json's contains would scan the object.)
  std::unordered_set<std::string> named;
  std::size_t found = 0;
  const auto add = [&](const auto& make) {
    if (++found <= kShown) problems.push_back(make());
  };
  for (const auto& item : attributes.items()) {  // not a structured binding: lambdas use it
    const std::string& key = item.key();
    const Json& value = item.value();
    const AttributeDeclaration* declaration = Find(key);
    if (declaration == nullptr) {
      add([&] { return UnknownAttribute(key, names_, named); });
    } else if (!Matches(declaration->type, value)) {
      add([&] {
        const std::string& type = kTypeNames[static_cast<std::size_t>(declaration->type)];
        // Text (-a KEY=VALUE, a CSV cell) becomes a number or a boolean, never an array or object.
        const bool text = value.is_string() && declaration->type >= AttributeType::kArray;
        return "attribute " + Quoted(key) + " has the wrong type: the schema declares " + type +
               ", the value is " + Shown(value) + " (" + value.type_name() + ")" +
               (text ? "; text is never read as " + type + ": use -a " + Excerpt(key, 100) +
                           ":=JSON, or a JSON Lines batch"
                     : "");
      });
    } else if (!declaration->allowed.empty() &&
               std::ranges::count(declaration->allowed, value) == 0) {
      add([&] { return OutsideEnum(*declaration, value); });
    }
  }
  for (const auto& [key, value] : attributes.items()) named.insert(key);
  for (const auto& declaration : declarations_) {
    if (declaration.required && !named.contains(declaration.name)) {
      add([&] { return "required attribute " + Quoted(declaration.name) + " is missing"; });
    }
  }
  if (found > kShown) {
    problems.push_back("and " + std::to_string(found - kShown) +
                       (found == kShown + 1 ? " more problem" : " more problems"));
  }
  return problems;
}

void Schema::Check(const Json& attributes) const {
  if (const auto problems = Problems(attributes); !problems.empty()) {
    throw UsageError(Join(problems, "; "));
  }
}

}  // namespace toucan
