#include "xmlrpc/predicate_parser.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace ossa::xmlrpc {

using index::predicate::Expr;
using index::predicate::Literal;
using index::predicate::Op;

PredicateSyntaxError::PredicateSyntaxError(size_t position, const std::string& message)
    : std::runtime_error("syntax error at position " + std::to_string(position) + ": " + message),
      position_(position) {}

namespace {

constexpr size_t kMaxDepth = 64;      // nesting of parentheses and NOT
constexpr size_t kMaxLength = 65536;  // characters of a predicate

struct Token {
  enum class Kind { kEnd, kIdent, kString, kNumber, kSymbol };
  Kind kind = Kind::kEnd;
  std::string text;     // identifier / symbol as written; string contents unescaped
  size_t position = 0;  // 1-based
};

std::string upper(const std::string& s) {
  std::string out = s;
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& text) : text_(text) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    while (true) {
      skip_space();
      Token t;
      t.position = pos_ + 1;
      if (pos_ >= text_.size()) {
        out.push_back(t);
        return out;
      }
      const char c = text_[pos_];
      if (c == '\'' || c == '"') {
        t.kind = Token::Kind::kString;
        t.text = quoted(c);
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 ((c == '-' || c == '+' || c == '.') && pos_ + 1 < text_.size() &&
                  (std::isdigit(static_cast<unsigned char>(text_[pos_ + 1])) ||
                   text_[pos_ + 1] == '.'))) {
        t.kind = Token::Kind::kNumber;
        t.text = number();
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '#' || c == '$' ||
                 c == '@') {
        t.kind = Token::Kind::kIdent;
        t.text = identifier();
      } else {
        t.kind = Token::Kind::kSymbol;
        t.text = symbol();
      }
      out.push_back(std::move(t));
    }
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  std::string quoted(char quote) {
    const size_t start = pos_ + 1;
    ++pos_;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
        const char e = text_[pos_ + 1];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        pos_ += 2;
        continue;
      }
      out += text_[pos_++];
    }
    if (pos_ >= text_.size())
      throw PredicateSyntaxError(start, std::string("string not closed (missing ") + quote + ")");
    ++pos_;
    return out;
  }

  std::string number() {
    const size_t start = pos_;
    if (text_[pos_] == '-' || text_[pos_] == '+') ++pos_;
    while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E' ||
                                   ((text_[pos_] == '-' || text_[pos_] == '+') &&
                                    (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E'))))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  std::string identifier() {
    const size_t start = pos_;
    if (text_[pos_] == '#' || text_[pos_] == '$' || text_[pos_] == '@') ++pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '_' || text_[pos_] == '.'))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  std::string symbol() {
    static const char* const kTwo[] = {"==", "!=", "<>", "<=", ">=", "=<", "=>", "&&", "||"};
    for (const char* s : kTwo) {
      if (text_.compare(pos_, 2, s) == 0) {
        pos_ += 2;
        return s;
      }
    }
    const char c = text_[pos_];
    if (std::string("=<>!(){},[]").find(c) == std::string::npos)
      throw PredicateSyntaxError(pos_ + 1, std::string("unexpected character '") + c + "'");
    ++pos_;
    return std::string(1, c);
  }

  const std::string& text_;
  size_t pos_ = 0;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Expr parse() {
    if (peek().kind == Token::Kind::kEnd) throw error(peek(), "the predicate is empty");
    Expr e = or_expr();
    if (peek().kind != Token::Kind::kEnd)
      throw error(peek(), "unexpected '" + peek().text + "' after a complete predicate");
    return e;
  }

 private:
  const Token& peek(size_t ahead = 0) const {
    return tokens_[std::min(index_ + ahead, tokens_.size() - 1)];
  }
  const Token& next() {
    const Token& t = peek();
    if (index_ < tokens_.size() - 1) ++index_;
    return t;
  }
  static PredicateSyntaxError error(const Token& t, const std::string& message) {
    return PredicateSyntaxError(t.position, message);
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Token::Kind::kEnd:
        return "the end";
      case Token::Kind::kString:
        return "the string '" + t.text + "'";
      default:
        return "'" + t.text + "'";
    }
  }
  bool is_word(const Token& t, const char* word) const {
    return t.kind == Token::Kind::kIdent && upper(t.text) == word;
  }
  bool is_symbol(const Token& t, const char* s) const {
    return t.kind == Token::Kind::kSymbol && t.text == s;
  }
  void expect_symbol(const char* s) {
    if (!is_symbol(peek(), s))
      throw error(peek(), std::string("expected '") + s + "', found " + describe(peek()));
    next();
  }

  static Expr combine(Expr::Kind kind, Expr left, Expr right) {
    if (left.kind == kind) {
      left.children.push_back(std::move(right));
      return left;
    }
    Expr e;
    e.kind = kind;
    e.children.push_back(std::move(left));
    e.children.push_back(std::move(right));
    return e;
  }

  Expr or_expr() {
    Expr left = and_expr();
    while (is_word(peek(), "OR") || is_symbol(peek(), "||")) {
      next();
      left = combine(Expr::Kind::kOr, std::move(left), and_expr());
    }
    return left;
  }

  Expr and_expr() {
    Expr left = not_expr();
    while (is_word(peek(), "AND") || is_symbol(peek(), "&&")) {
      next();
      left = combine(Expr::Kind::kAnd, std::move(left), not_expr());
    }
    return left;
  }

  Expr not_expr() {
    if (is_word(peek(), "NOT") || is_symbol(peek(), "!")) {
      if (++depth_ > kMaxDepth) throw error(peek(), "nested too deeply");
      next();
      Expr e;
      e.kind = Expr::Kind::kNot;
      e.children.push_back(not_expr());
      --depth_;
      return e;
    }
    return primary();
  }

  Expr primary() {
    const Token& t = peek();
    if (is_symbol(t, "(")) {
      if (++depth_ > kMaxDepth) throw error(t, "nested too deeply");
      next();
      Expr e = or_expr();
      expect_symbol(")");
      --depth_;
      return e;
    }
    if (is_word(t, "TRUEPREDICATE") || is_word(t, "FALSEPREDICATE")) {
      next();
      Expr e;
      e.kind = is_word(t, "TRUEPREDICATE") ? Expr::Kind::kTrue : Expr::Kind::kFalse;
      return e;
    }
    return comparison();
  }

  // One side of a comparison: a key path, or a constant (or a list of constants).
  struct Operand {
    bool is_key = false;
    std::string key;
    std::vector<Literal> values;
    bool is_list = false;
    size_t position = 0;
  };

  static bool is_constant_word(const std::string& w) {
    const std::string u = upper(w);
    return u == "NIL" || u == "NULL" || u == "YES" || u == "NO" || u == "TRUE" || u == "FALSE" ||
           u == "CAST";
  }

  static bool is_reserved(const std::string& w) {
    static const char* const kWords[] = {"AND",        "OR",       "NOT", "LIKE",    "CONTAINS",
                                         "BEGINSWITH", "ENDSWITH", "IN",  "BETWEEN", "MATCHES",
                                         "ANY",        "SOME",     "ALL", "NONE"};
    const std::string u = upper(w);
    for (const char* k : kWords)
      if (u == k) return true;
    return false;
  }

  Literal literal() {
    const Token& t = next();
    Literal l;
    if (t.kind == Token::Kind::kString) {
      l.kind = Literal::Kind::kString;
      l.text = t.text;
      return l;
    }
    if (t.kind == Token::Kind::kNumber) {
      char* end = nullptr;
      l.number = std::strtod(t.text.c_str(), &end);
      if (!end || *end != '\0' || !std::isfinite(l.number))
        throw error(t, "'" + t.text + "' is not a number");
      l.kind = Literal::Kind::kNumber;
      l.text = t.text;
      return l;
    }
    if (t.kind == Token::Kind::kIdent) {
      const std::string u = upper(t.text);
      if (u == "NIL" || u == "NULL") {
        l.kind = Literal::Kind::kNull;
        l.text = "nil";
        return l;
      }
      if (u == "YES" || u == "TRUE" || u == "NO" || u == "FALSE") {
        l.kind = Literal::Kind::kBool;
        l.number = (u == "YES" || u == "TRUE") ? 1 : 0;
        l.text = l.number ? "1" : "0";
        return l;
      }
      if (u == "CAST") return cast(t);
    }
    throw error(
        t, "expected a value (a quoted string, a number, nil or CAST(...)), found " + describe(t));
  }

  // CAST(value, "NSDate"): a date string or seconds since 2001-01-01 UTC.
  Literal cast(const Token& at) {
    expect_symbol("(");
    const Token& value = peek();
    Literal inner = literal();
    expect_symbol(",");
    const Token& type = next();
    if (type.kind != Token::Kind::kString || type.text != "NSDate")
      throw error(type, "CAST supports only \"NSDate\", found " + describe(type));
    expect_symbol(")");
    Literal l;
    l.kind = Literal::Kind::kDate;
    if (inner.kind == Literal::Kind::kNumber) {
      l.text = index::predicate::canonical_date_from_reference_seconds(inner.number);
    } else if (inner.kind == Literal::Kind::kString) {
      auto d = index::predicate::canonical_date(inner.text);
      if (!d)
        throw error(value, "'" + inner.text +
                               "' is not a date (use 2024-01-31, 2024-01-31 10:22:11 or "
                               "2024-01-31 10:22:11 +0000)");
      l.text = *d;
    } else {
      throw error(at, "CAST needs a date string or a number of seconds");
    }
    return l;
  }

  Operand operand() {
    Operand o;
    const Token& t = peek();
    o.position = t.position;
    if (is_symbol(t, "{") || (is_symbol(t, "(") && in_list_context_)) {
      const std::string close = is_symbol(t, "{") ? "}" : ")";
      next();
      o.is_list = true;
      if (!is_symbol(peek(), close.c_str())) {
        while (true) {
          o.values.push_back(literal());
          if (is_symbol(peek(), ",")) {
            next();
            continue;
          }
          break;
        }
      }
      expect_symbol(close.c_str());
      return o;
    }
    if (t.kind == Token::Kind::kIdent && !is_constant_word(t.text)) {
      if (is_reserved(t.text))
        throw error(t, "expected a key or a value, found the keyword '" + t.text + "'");
      next();
      std::string key = t.text;
      if (!key.empty() && (key[0] == '#')) key = key.substr(1);  // #key escapes a reserved word
      if (key.empty() || key.front() == '.' || key.back() == '.' ||
          key.find("..") != std::string::npos || key[0] == '$' || key[0] == '@')
        throw error(t, "'" + t.text + "' is not a key path");
      o.is_key = true;
      o.key = key;
      return o;
    }
    o.values.push_back(literal());
    return o;
  }

  static Op mirror(Op op) {
    switch (op) {
      case Op::kLess:
        return Op::kGreater;
      case Op::kLessEqual:
        return Op::kGreaterEqual;
      case Op::kGreater:
        return Op::kLess;
      case Op::kGreaterEqual:
        return Op::kLessEqual;
      default:
        return op;
    }
  }

  Expr comparison() {
    if (is_word(peek(), "ANY") || is_word(peek(), "SOME")) next();
    if (is_word(peek(), "ALL") || is_word(peek(), "NONE"))
      throw error(peek(), "ALL and NONE are not supported (use ANY, or NOT ... ANY)");
    const size_t position = peek().position;
    Operand left = operand();
    const Token& op_token = next();
    Op op;
    bool string_op = false;
    bool between = false;
    const std::string u = upper(op_token.text);
    if (op_token.kind == Token::Kind::kSymbol) {
      const std::string& s = op_token.text;
      if (s == "==" || s == "=")
        op = Op::kEqual;
      else if (s == "!=" || s == "<>")
        op = Op::kNotEqual;
      else if (s == "<")
        op = Op::kLess;
      else if (s == "<=" || s == "=<")
        op = Op::kLessEqual;
      else if (s == ">")
        op = Op::kGreater;
      else if (s == ">=" || s == "=>")
        op = Op::kGreaterEqual;
      else
        throw error(op_token, "expected a comparison operator, found " + describe(op_token));
    } else if (op_token.kind == Token::Kind::kIdent &&
               (u == "LIKE" || u == "CONTAINS" || u == "BEGINSWITH" || u == "ENDSWITH")) {
      op = u == "LIKE"         ? Op::kLike
           : u == "CONTAINS"   ? Op::kContains
           : u == "BEGINSWITH" ? Op::kBeginsWith
                               : Op::kEndsWith;
      string_op = true;
    } else if (op_token.kind == Token::Kind::kIdent && u == "IN") {
      op = Op::kIn;
    } else if (op_token.kind == Token::Kind::kIdent && u == "BETWEEN") {
      op = Op::kGreaterEqual;
      between = true;
    } else if (op_token.kind == Token::Kind::kIdent && u == "MATCHES") {
      throw error(op_token, "MATCHES (regular expressions) is not supported; use LIKE");
    } else {
      throw error(op_token,
                  "expected a comparison operator (==, !=, <, LIKE, CONTAINS, IN, ...) "
                  "after '" +
                      (left.is_key ? left.key : std::string("the value")) + "', found " +
                      describe(op_token));
    }
    Expr e;
    e.kind = Expr::Kind::kCompare;
    e.position = position;
    if (is_symbol(peek(), "[")) {
      const Token& open = next();
      const Token& flags = next();
      const std::string f = flags.kind == Token::Kind::kIdent ? flags.text : "";
      if (f.empty() || f.find_first_not_of("cdn") != std::string::npos)
        throw error(flags.kind == Token::Kind::kEnd ? open : flags,
                    "expected the options c, d or cd inside [ ], found " + describe(flags));
      e.case_insensitive = f.find('c') != std::string::npos;
      e.diacritic_insensitive = f.find('d') != std::string::npos;
      expect_symbol("]");
    }
    in_list_context_ = op == Op::kIn || between;
    Operand right = operand();
    in_list_context_ = false;

    if (between) {
      if (!left.is_key || !right.is_list || right.values.size() != 2)
        throw error(op_token, "BETWEEN needs a key on the left and {low, high} on the right");
      Expr low = e, high = e;
      low.key = high.key = left.key;
      low.op = Op::kGreaterEqual;
      high.op = Op::kLessEqual;
      low.values = {right.values[0]};
      high.values = {right.values[1]};
      return combine(Expr::Kind::kAnd, std::move(low), std::move(high));
    }
    if (op == Op::kIn) {
      if (left.is_key && right.is_list) {
        e.key = left.key;
        e.op = Op::kIn;
        e.values = right.values;
        if (e.values.empty()) throw error(op_token, "IN needs at least one value");
        return e;
      }
      if (!left.is_key && !left.is_list && right.is_key) {
        // 'CT' IN modality: the string form of IN is a substring test.
        e.key = right.key;
        e.op = Op::kContains;
        e.values = left.values;
        return e;
      }
      throw error(op_token, "IN needs a key and a list: key IN {'a', 'b'}");
    }
    if (left.is_list || right.is_list)
      throw error(op_token, "a list { } can only follow IN or BETWEEN");
    if (left.is_key && right.is_key)
      throw error(op_token, "comparing two keys ('" + left.key + "', '" + right.key +
                                "') is not supported; compare a key with a value");
    if (!left.is_key && !right.is_key)
      throw error(op_token, "a comparison needs a key on one side");
    if (left.is_key) {
      e.key = left.key;
      e.op = op;
      e.values = right.values;
    } else {
      if (string_op) throw error(op_token, "the key must be on the left of " + u);
      e.key = right.key;
      e.op = mirror(op);
      e.values = left.values;
    }
    return e;
  }

  std::vector<Token> tokens_;
  size_t index_ = 0;
  size_t depth_ = 0;
  bool in_list_context_ = false;
};

}  // namespace

Expr parse_predicate(const std::string& text) {
  if (text.size() > kMaxLength)
    throw PredicateSyntaxError(kMaxLength, "the predicate is longer than 65536 characters");
  Lexer lexer(text);
  Parser parser(lexer.run());
  return parser.parse();
}

}  // namespace ossa::xmlrpc
