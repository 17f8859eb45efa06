#include "xmlrpc/method_registry.h"

#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/xml.hpp>

#include <algorithm>
#include <cctype>
#include <set>

#include "util/log.h"

namespace ossa::xmlrpc {

std::string lower(const std::string& text) {
  std::string out = text;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

namespace {

std::string fault_response(int code, const std::string& message) {
  std::string xml;
  xmlrpc_c::xml::generateResponse(
      xmlrpc_c::rpcOutcome(xmlrpc_c::fault(message, static_cast<xmlrpc_c::fault::code_t>(code))),
      xmlrpc_dialect_i8, &xml);
  return xml;
}

}  // namespace

MethodRegistry::MethodRegistry() {
  add("system.listMethods", "system.listMethods() -> array of the names of every callable method.",
      [this](const xmlrpc_c::paramList& params, const CallContext&) -> xmlrpc_c::value {
        if (params.size() != 0) throw CallError(kFaultInvalidParams, "takes no parameters");
        std::vector<xmlrpc_c::value> out;
        for (const auto& n : names()) out.push_back(xmlrpc_c::value_string(n));
        return xmlrpc_c::value_array(out);
      });
  add("system.methodHelp", "system.methodHelp(name) -> a description of the method.",
      [this](const xmlrpc_c::paramList& params, const CallContext&) -> xmlrpc_c::value {
        if (params.size() != 1 || params[0].type() != xmlrpc_c::value::TYPE_STRING)
          throw CallError(kFaultInvalidParams, "takes one string: the method's name");
        const std::string name = xmlrpc_c::value_string(params[0]).cvalue();
        if (const Entry* e = find(name)) return xmlrpc_c::value_string(e->help);
        if (dynamic_.names) {
          for (const auto& n : dynamic_.names()) {
            if (lower(n) == lower(name))
              return xmlrpc_c::value_string(dynamic_.help ? dynamic_.help(n) : n);
          }
        }
        throw CallError(kFaultUnknownMethod, "unknown method '" + name + "'");
      });
}

void MethodRegistry::add(const std::string& name, const std::string& help, Handler handler) {
  by_lower_name_[lower(name)] = Entry{name, help, std::move(handler)};
}

const MethodRegistry::Entry* MethodRegistry::find(const std::string& name) const {
  const auto it = by_lower_name_.find(lower(name));
  return it == by_lower_name_.end() ? nullptr : &it->second;
}

std::vector<std::string> MethodRegistry::names() const {
  std::set<std::string> out;
  for (const auto& [key, entry] : by_lower_name_) out.insert(entry.name);
  if (dynamic_.names)
    for (const auto& n : dynamic_.names()) out.insert(n);
  return {out.begin(), out.end()};
}

std::string MethodRegistry::handle(const std::string& call_xml, const CallContext& context,
                                   std::string& method_out) const {
  std::string method;
  xmlrpc_c::paramList params;
  try {
    xmlrpc_c::xml::parseCall(call_xml, &method, &params);
  } catch (const std::exception& e) {
    return fault_response(kFaultParse, std::string("not a valid XML-RPC call: ") + e.what());
  }
  method_out = method;
  try {
    std::optional<xmlrpc_c::value> result;
    if (const Entry* entry = find(method)) {
      result = entry->handler(params, context);
    } else if (dynamic_.call) {
      // Exact name first, then a case-insensitive match, like the fixed list.
      result = dynamic_.call(method, params, context);
      if (!result && dynamic_.names) {
        for (const auto& n : dynamic_.names()) {
          if (lower(n) == lower(method)) {
            result = dynamic_.call(n, params, context);
            break;
          }
        }
      }
    }
    if (!result) {
      return fault_response(kFaultUnknownMethod,
                            "unknown method '" + method + "' (system.listMethods lists them)");
    }
    std::string xml;
    xmlrpc_c::xml::generateResponse(xmlrpc_c::rpcOutcome(*result), xmlrpc_dialect_i8, &xml);
    return xml;
  } catch (const CallError& e) {
    return fault_response(e.code(), method + ": " + e.what());
  } catch (const girerr::error& e) {
    // xmlrpc-c's own type errors (a value read as the wrong type).
    return fault_response(kFaultInvalidParams, method + ": " + e.what());
  } catch (const std::exception& e) {
    log::warning("xml-rpc ", method, " from ", context.peer, " failed: ", e.what());
    return fault_response(kFaultInternal, method + ": " + e.what());
  }
}

}  // namespace ossa::xmlrpc
