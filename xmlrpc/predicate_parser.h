#pragma once
// NSPredicate format strings (OsiriX's DBWindowFind `request`) -> index::predicate::Expr.
//
// The subset scripts use: comparisons ==, =, !=, <>, <, <=, =<, >, >=, =>; LIKE (* and ?),
// CONTAINS, BEGINSWITH, ENDSWITH, with [c], [d], [cd]; IN {..} or IN (..); BETWEEN {low, high};
// AND/OR/NOT and &&/||/!; parentheses; TRUEPREDICATE/FALSEPREDICATE; 'single' or "double" quoted
// strings with backslash escapes; numbers; nil/NULL, YES/NO/TRUE/FALSE; dates as
// CAST("2024-01-31", "NSDate") or CAST(728000000, "NSDate") (seconds since 2001-01-01);
// key paths such as study.patientID; a leading ANY/SOME on a comparison is accepted (a to-many key
// path already means "any"). A constant on the left of a comparison is moved to the right.

#include <stdexcept>
#include <string>

#include "index/predicate.h"

namespace ossa::xmlrpc {

// A syntax error; position() is the 1-based character offset where it was found.
class PredicateSyntaxError : public std::runtime_error {
 public:
  PredicateSyntaxError(size_t position, const std::string& message);
  size_t position() const { return position_; }

 private:
  size_t position_;
};

index::predicate::Expr parse_predicate(const std::string& text);

}  // namespace ossa::xmlrpc
