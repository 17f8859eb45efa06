// Methods registered by plugins (ossa_host_api.register_method), callable over XML-RPC under their
// own name ("worklist.add") and under "ossa." + name ("ossa.worklist.add"). Parameters: one struct
// becomes a JSON object, anything else a JSON array of the positional values (none: {}); the
// method's JSON result comes back as XML-RPC values (see value_json.h).

#include <algorithm>

#include "plugins/plugin_host.h"
#include "util/log.h"
#include "xmlrpc/method_registry.h"
#include "xmlrpc/services.h"
#include "xmlrpc/value_json.h"

namespace ossa::xmlrpc {
namespace {

const std::string kPrefix = "ossa.";

bool is_plugin_method(plugins::PluginHost& host, const std::string& name) {
  const auto names = host.method_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

xmlrpc_c::value call_plugin(plugins::PluginHost& host, const std::string& name,
                            const xmlrpc_c::paramList& list, const CallContext& c) {
  nlohmann::json params;
  if (list.size() == 0) {
    params = nlohmann::json::object();
  } else if (list.size() == 1 && list[0].type() == xmlrpc_c::value::TYPE_STRUCT) {
    params = to_json(list[0]);
  } else {
    params = nlohmann::json::array();
    for (size_t n = 0; n < list.size(); ++n) params.push_back(to_json(list[n]));
  }
  std::string result_json;
  const ossa_status status = host.call_method(
      name, params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), result_json);
  switch (status) {
    case OSSA_OK:
      break;
    case OSSA_E_INVALID_ARGUMENT:
      throw CallError(kFaultInvalidParams, "the plugin refused the parameters");
    case OSSA_E_NOT_FOUND:
      throw CallError(kFaultNotFound, "not found (the plugin answered OSSA_E_NOT_FOUND)");
    default:
      log::warning("xml-rpc ", name, " from ", c.peer, ": plugin method failed (status ", status,
                   ")");
      throw CallError(kFaultFailed, "the plugin method failed (status " + std::to_string(status) +
                                        "; see the server log)");
  }
  const auto result = nlohmann::json::parse(result_json, nullptr, false);
  if (result.is_discarded())
    throw CallError(kFaultInternal, "the plugin returned a result that is not JSON");
  return from_json(result);
}

}  // namespace

void add_plugin_methods(MethodRegistry& registry, Services& services) {
  plugins::PluginHost* host = services.plugins;
  if (!host) return;
  DynamicMethods dynamic;
  dynamic.names = [host] {
    std::vector<std::string> out;
    for (const auto& n : host->method_names()) {
      out.push_back(n);
      if (n.rfind(kPrefix, 0) != 0) out.push_back(kPrefix + n);
    }
    return out;
  };
  dynamic.call = [host](const std::string& name, const xmlrpc_c::paramList& list,
                        const CallContext& c) -> std::optional<xmlrpc_c::value> {
    if (is_plugin_method(*host, name)) return call_plugin(*host, name, list, c);
    if (name.rfind(kPrefix, 0) == 0) {
      const std::string inner = name.substr(kPrefix.size());
      if (is_plugin_method(*host, inner)) return call_plugin(*host, inner, list, c);
    }
    return std::nullopt;
  };
  dynamic.help = [](const std::string& name) {
    return name + ": a plugin method (JSON in and out; one struct, or positional parameters)";
  };
  registry.set_dynamic(std::move(dynamic));
}

}  // namespace ossa::xmlrpc
