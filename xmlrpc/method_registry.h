#pragma once
// The strict list of callable XML-RPC methods and the dispatch of one call.
//
// xmlrpc-c parses the call and writes the response (xmlrpc_c::xml::parseCall / generateResponse);
// this class only decides which handler runs. Names are matched case-insensitively (as OsiriX
// does for its built-in methods); a name not in the list is answered with a fault and nothing
// runs. Plugin methods are looked up through a provider at call time (plugins register theirs
// during their init, before the server starts).

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <xmlrpc-c/base.hpp>

namespace ossa::xmlrpc {

// Fault codes (XML-RPC has no standard set; these follow the common "specification for fault code
// interoperability", and 400 mirrors OsiriX's "bad request" for its own methods).
constexpr int kFaultParse = -32700;
constexpr int kFaultUnknownMethod = -32601;
constexpr int kFaultInvalidParams = -32602;
constexpr int kFaultInternal = -32603;
constexpr int kFaultOsirixBadRequest = 400;
constexpr int kFaultNotFound = 404;
constexpr int kFaultFailed = 500;

// Thrown by handlers: answered as an XML-RPC fault with this code and text.
class CallError : public std::runtime_error {
 public:
  CallError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

struct CallContext {
  std::string peer;  // the caller's address (logs)
};

using Handler = std::function<xmlrpc_c::value(const xmlrpc_c::paramList&, const CallContext&)>;

// Methods that exist outside the fixed list (plugins): names, and a call by exact name.
struct DynamicMethods {
  std::function<std::vector<std::string>()> names;
  // nullopt when `name` is not one of them.
  std::function<std::optional<xmlrpc_c::value>(const std::string& name, const xmlrpc_c::paramList&,
                                               const CallContext&)>
      call;
  std::function<std::string(const std::string& name)> help;
};

class MethodRegistry {
 public:
  MethodRegistry();

  void add(const std::string& name, const std::string& help, Handler handler);
  void set_dynamic(DynamicMethods dynamic) { dynamic_ = std::move(dynamic); }

  // Parses `call_xml`, runs the method, returns the methodResponse XML (a fault for a bad call).
  // `method_out` receives the method name as called (empty when the call did not parse).
  std::string handle(const std::string& call_xml, const CallContext& context,
                     std::string& method_out) const;

  std::vector<std::string> names() const;  // every callable name, sorted

 private:
  struct Entry {
    std::string name;  // as documented
    std::string help;
    Handler handler;
  };
  const Entry* find(const std::string& name) const;
  std::map<std::string, Entry> by_lower_name_;
  DynamicMethods dynamic_;
};

std::string lower(const std::string& text);

}  // namespace ossa::xmlrpc
