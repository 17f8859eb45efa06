#include "xmlrpc/params.h"

#include "xmlrpc/method_registry.h"

namespace ossa::xmlrpc {

const char* type_name(const xmlrpc_c::value& value) {
  switch (value.type()) {
    case xmlrpc_c::value::TYPE_INT:
      return "int";
    case xmlrpc_c::value::TYPE_I8:
      return "i8";
    case xmlrpc_c::value::TYPE_BOOLEAN:
      return "boolean";
    case xmlrpc_c::value::TYPE_DOUBLE:
      return "double";
    case xmlrpc_c::value::TYPE_STRING:
      return "string";
    case xmlrpc_c::value::TYPE_DATETIME:
      return "dateTime.iso8601";
    case xmlrpc_c::value::TYPE_BYTESTRING:
      return "base64";
    case xmlrpc_c::value::TYPE_ARRAY:
      return "array";
    case xmlrpc_c::value::TYPE_STRUCT:
      return "struct";
    case xmlrpc_c::value::TYPE_NIL:
      return "nil";
    default:
      return "unknown type";
  }
}

Params Params::osirix(const xmlrpc_c::paramList& list) {
  Params p(kFaultOsirixBadRequest);
  if (list.size() == 0) return p;
  if (list.size() > 1 || list[0].type() != xmlrpc_c::value::TYPE_STRUCT) {
    p.fail("OsiriX methods take one struct parameter holding every argument (got " +
           std::to_string(list.size()) + " parameter(s), the first a " + type_name(list[0]) + ")");
  }
  p.members_ = xmlrpc_c::value_struct(list[0]).cvalue();
  return p;
}

Params Params::named(const xmlrpc_c::paramList& list, const std::vector<std::string>& names) {
  Params p(kFaultInvalidParams);
  if (list.size() == 1 && list[0].type() == xmlrpc_c::value::TYPE_STRUCT) {
    p.members_ = xmlrpc_c::value_struct(list[0]).cvalue();
    for (const auto& [name, value] : p.members_) {
      bool known = false;
      for (const auto& n : names) known = known || n == name;
      if (!known) {
        std::string list_text;
        for (const auto& n : names) list_text += (list_text.empty() ? "" : ", ") + n;
        p.fail("unknown parameter '" + name +
               "' (parameters: " + (list_text.empty() ? "none" : list_text) + ")");
      }
    }
    return p;
  }
  if (list.size() > names.size()) {
    p.fail("takes at most " + std::to_string(names.size()) + " parameter(s), got " +
           std::to_string(list.size()));
  }
  for (size_t n = 0; n < list.size(); ++n) p.members_[names[n]] = list[n];
  return p;
}

void Params::fail(const std::string& message) const {
  throw CallError(fault_code_, message);
}

std::optional<xmlrpc_c::value> Params::optional_value(const std::string& name) const {
  const auto it = members_.find(name);
  if (it == members_.end() || it->second.type() == xmlrpc_c::value::TYPE_NIL) return std::nullopt;
  return it->second;
}

std::optional<std::string> Params::optional_string(const std::string& name) const {
  const auto v = optional_value(name);
  if (!v) return std::nullopt;
  if (v->type() != xmlrpc_c::value::TYPE_STRING)
    fail("parameter '" + name + "' must be a string, not " + type_name(*v));
  return xmlrpc_c::value_string(*v).cvalue();
}

std::string Params::string(const std::string& name) const {
  const auto v = optional_string(name);
  if (!v) fail("missing parameter '" + name + "' (a string)");
  return *v;
}

std::optional<std::string> Params::optional_text(const std::string& name) const {
  const auto v = optional_value(name);
  if (!v) return std::nullopt;
  if (v->type() == xmlrpc_c::value::TYPE_INT)
    return std::to_string(xmlrpc_c::value_int(*v).cvalue());
  if (v->type() == xmlrpc_c::value::TYPE_I8) return std::to_string(xmlrpc_c::value_i8(*v).cvalue());
  return optional_string(name);
}

std::optional<int64_t> Params::optional_int(const std::string& name) const {
  const auto v = optional_value(name);
  if (!v) return std::nullopt;
  if (v->type() == xmlrpc_c::value::TYPE_INT) return xmlrpc_c::value_int(*v).cvalue();
  if (v->type() == xmlrpc_c::value::TYPE_I8) return xmlrpc_c::value_i8(*v).cvalue();
  if (v->type() == xmlrpc_c::value::TYPE_STRING) {
    // OsiriX scripts often send numbers as strings ("retrieveMode" = "1").
    const std::string text = xmlrpc_c::value_string(*v).cvalue();
    try {
      size_t used = 0;
      const long long n = std::stoll(text, &used, 10);
      if (used == text.size()) return n;
    } catch (const std::exception&) {
    }
    fail("parameter '" + name + "' must be a whole number, not '" + text + "'");
  }
  fail("parameter '" + name + "' must be an int, not " + type_name(*v));
}

int64_t Params::integer(const std::string& name) const {
  const auto v = optional_int(name);
  if (!v) fail("missing parameter '" + name + "' (an int)");
  return *v;
}

std::optional<bool> Params::optional_bool(const std::string& name) const {
  const auto v = optional_value(name);
  if (!v) return std::nullopt;
  if (v->type() == xmlrpc_c::value::TYPE_BOOLEAN) return xmlrpc_c::value_boolean(*v).cvalue();
  if (v->type() == xmlrpc_c::value::TYPE_INT) return xmlrpc_c::value_int(*v).cvalue() != 0;
  if (v->type() == xmlrpc_c::value::TYPE_STRING) {
    const std::string t = lower(xmlrpc_c::value_string(*v).cvalue());
    if (t == "1" || t == "yes" || t == "true") return true;
    if (t == "0" || t == "no" || t == "false" || t.empty()) return false;
  }
  fail("parameter '" + name + "' must be a boolean");
}

std::vector<std::string> Params::string_list(const std::string& name) const {
  const auto v = optional_value(name);
  if (!v) fail("missing parameter '" + name + "' (an array of strings)");
  if (v->type() == xmlrpc_c::value::TYPE_STRING) return {xmlrpc_c::value_string(*v).cvalue()};
  if (v->type() != xmlrpc_c::value::TYPE_ARRAY)
    fail("parameter '" + name + "' must be an array of strings, not " + type_name(*v));
  std::vector<std::string> out;
  for (const auto& item : xmlrpc_c::value_array(*v).vectorValueValue()) {
    if (item.type() != xmlrpc_c::value::TYPE_STRING)
      fail("parameter '" + name + "' must hold only strings, not " + type_name(item));
    out.push_back(xmlrpc_c::value_string(item).cvalue());
  }
  if (out.empty()) fail("parameter '" + name + "' must not be empty");
  return out;
}

}  // namespace ossa::xmlrpc
