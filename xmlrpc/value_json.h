#pragma once
// XML-RPC values <-> JSON, for plugin methods (the plugin ABI speaks JSON) and for tests.
//
// XML-RPC -> JSON: int/i8 -> integer, double -> number, boolean -> true/false, string -> string,
// dateTime.iso8601 -> its ISO 8601 text, base64 -> base64 text, array -> array, struct -> object,
// nil -> null. JSON -> XML-RPC: the reverse; integers outside 32 bits become i8, null becomes nil.

#include <nlohmann/json.hpp>
#include <xmlrpc-c/base.hpp>

namespace ossa::xmlrpc {

nlohmann::json to_json(const xmlrpc_c::value& value);
xmlrpc_c::value from_json(const nlohmann::json& json);

}  // namespace ossa::xmlrpc
