#pragma once
// Typed access to a call's parameters, with errors that say which parameter is wrong and why.
//
// OsiriX's convention: one struct (or nothing). Ossa's methods: one struct of named members, or
// the same members given positionally in their documented order.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <xmlrpc-c/base.hpp>

namespace ossa::xmlrpc {

class Params {
 public:
  // OsiriX methods: no parameter, or exactly one struct. Errors use fault code 400 (as OsiriX).
  static Params osirix(const xmlrpc_c::paramList& list);
  // ossa.* methods: one struct whose members are named in `names`, or up to names.size()
  // positional values (in that order). Unknown members are refused.
  static Params named(const xmlrpc_c::paramList& list, const std::vector<std::string>& names);

  bool has(const std::string& name) const { return members_.count(name) > 0; }
  const std::map<std::string, xmlrpc_c::value>& members() const { return members_; }

  std::string string(const std::string& name) const;  // required
  std::optional<std::string> optional_string(const std::string& name) const;
  // A string, or an int/i8 written as its decimal text (OsiriX accepts both for some keys).
  std::optional<std::string> optional_text(const std::string& name) const;
  std::optional<int64_t> optional_int(const std::string& name) const;
  int64_t integer(const std::string& name) const;  // required
  std::optional<bool> optional_bool(const std::string& name) const;
  // An array of strings, or one string (a single value).
  std::vector<std::string> string_list(const std::string& name) const;
  std::optional<xmlrpc_c::value> optional_value(const std::string& name) const;

  [[noreturn]] void fail(const std::string& message) const;

 private:
  explicit Params(int fault_code) : fault_code_(fault_code) {}
  int fault_code_;
  std::map<std::string, xmlrpc_c::value> members_;
};

const char* type_name(const xmlrpc_c::value& value);

}  // namespace ossa::xmlrpc
