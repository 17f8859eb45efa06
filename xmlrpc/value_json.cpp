#include "xmlrpc/value_json.h"

#include <string>

namespace ossa::xmlrpc {
namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const std::vector<unsigned char>& bytes) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += kBase64[(n >> 6) & 63];
    out += kBase64[n & 63];
  }
  if (i < bytes.size()) {
    unsigned n = bytes[i] << 16;
    if (i + 1 < bytes.size()) n |= bytes[i + 1] << 8;
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kBase64[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

nlohmann::json to_json(const xmlrpc_c::value& value) {
  switch (value.type()) {
    case xmlrpc_c::value::TYPE_INT:
      return xmlrpc_c::value_int(value).cvalue();
    case xmlrpc_c::value::TYPE_I8:
      return static_cast<int64_t>(xmlrpc_c::value_i8(value).cvalue());
    case xmlrpc_c::value::TYPE_BOOLEAN:
      return xmlrpc_c::value_boolean(value).cvalue();
    case xmlrpc_c::value::TYPE_DOUBLE:
      return xmlrpc_c::value_double(value).cvalue();
    case xmlrpc_c::value::TYPE_STRING:
      return xmlrpc_c::value_string(value).cvalue();
    case xmlrpc_c::value::TYPE_DATETIME:
      return xmlrpc_c::value_datetime(value).iso8601Value();
    case xmlrpc_c::value::TYPE_BYTESTRING:
      return base64(xmlrpc_c::value_bytestring(value).vectorUcharValue());
    case xmlrpc_c::value::TYPE_ARRAY: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : xmlrpc_c::value_array(value).vectorValueValue())
        out.push_back(to_json(item));
      return out;
    }
    case xmlrpc_c::value::TYPE_STRUCT: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [name, item] : xmlrpc_c::value_struct(value).cvalue())
        out[name] = to_json(item);
      return out;
    }
    default:
      return nullptr;
  }
}

xmlrpc_c::value from_json(const nlohmann::json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return xmlrpc_c::value_nil();
    case nlohmann::json::value_t::boolean:
      return xmlrpc_c::value_boolean(json.get<bool>());
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: {
      if (json.is_number_unsigned() && json.get<uint64_t>() > INT64_MAX)
        return xmlrpc_c::value_double(json.get<double>());
      const int64_t v = json.get<int64_t>();
      if (v >= INT32_MIN && v <= INT32_MAX) return xmlrpc_c::value_int(static_cast<int>(v));
      return xmlrpc_c::value_i8(v);
    }
    case nlohmann::json::value_t::number_float:
      return xmlrpc_c::value_double(json.get<double>());
    case nlohmann::json::value_t::string:
      return xmlrpc_c::value_string(json.get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<xmlrpc_c::value> items;
      for (const auto& item : json) items.push_back(from_json(item));
      return xmlrpc_c::value_array(items);
    }
    case nlohmann::json::value_t::object: {
      std::map<std::string, xmlrpc_c::value> members;
      for (const auto& [name, item] : json.items()) members[name] = from_json(item);
      return xmlrpc_c::value_struct(members);
    }
    case nlohmann::json::value_t::binary:
      return xmlrpc_c::value_nil();
  }
  return xmlrpc_c::value_nil();
}

}  // namespace ossa::xmlrpc
