/// @file
/// JSON serializer over nlohmann::json (include this header only if you use it;
/// it needs nlohmann_json). Matches a Python net-queue peer using a JSON
/// serializer: the payload is the UTF-8 JSON text.
#pragma once

#include <nlohmann/json.hpp>

#include "netqueue/serializer.hpp"

namespace netqueue::serializers {

/// Any T with to_json/from_json (nlohmann::json itself by default).
template <class T = nlohmann::json>
struct Json {
  /// `value` as compact JSON text, in memory of its own (nothing borrowed).
  /// @throws nlohmann::json::exception when `value` cannot be written (a string that is not valid UTF-8).
  static Stream dump(const T& value) { return Stream::adopt(nlohmann::json(value).dump()); }
  /// Parses the JSON text in `data` (copied once into a string) and converts it to T.
  /// @throws nlohmann::json::exception on bad bytes or a value that does not convert to T.
  static T load(Stream data) {
    std::string text = data.to_string();
    return nlohmann::json::parse(text).template get<T>();  // throws nlohmann::json::exception on bad bytes
  }
};

}  // namespace netqueue::serializers

/// A nlohmann::json value goes as JSON text.
template <>
struct netqueue::DefaultSerializer<nlohmann::json> {
  using type = netqueue::serializers::Json<nlohmann::json>;  ///< serializers::Json
};
