#include "sql_source.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>

#include "sql_mapping.h"

namespace ossa::emr {
namespace {

constexpr size_t kMaxIdleConnections = 8;

struct ResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultClearer>;

std::string trimmed_message(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Waits until the socket is ready for `events` or the deadline passes (false then).
bool wait_socket(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  if (fd < 0) return false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Runs one parameterised statement without blocking past the deadline. Returns the statement's
// result, or nullptr with `error` (and `usable` false when the connection must not be reused).
Result run(PGconn* c, const char* sql, const std::vector<const char*>& params,
           std::chrono::steady_clock::time_point deadline, std::string& error, bool& usable) {
  if (PQsendQueryParams(c, sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr,
                        nullptr, 0) == 0) {
    error = trimmed_message(PQerrorMessage(c));
    usable = false;
    return nullptr;
  }
  int flushed;
  while ((flushed = PQflush(c)) == 1) {
    if (!wait_socket(PQsocket(c), POLLIN | POLLOUT, deadline)) {
      error = "timed out sending the query";
      usable = false;
      return nullptr;
    }
    if (PQconsumeInput(c) == 0) break;
  }
  if (flushed != 0) {
    error = trimmed_message(PQerrorMessage(c));
    usable = false;
    return nullptr;
  }
  Result kept;
  for (;;) {
    while (PQisBusy(c)) {
      if (!wait_socket(PQsocket(c), POLLIN, deadline)) {
        error = "timed out waiting for the answer";
        usable = false;
        return nullptr;
      }
      if (PQconsumeInput(c) == 0) {
        error = trimmed_message(PQerrorMessage(c));
        usable = false;
        return nullptr;
      }
    }
    Result r(PQgetResult(c));
    if (!r) break;  // the statement is complete
    const ExecStatusType status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      if (error.empty()) error = trimmed_message(PQresultErrorMessage(r.get()));
    } else if (!kept) {
      kept = std::move(r);
    }
  }
  if (!error.empty()) return nullptr;
  if (!kept) error = "the statement returned no result";
  return kept;
}

std::optional<std::string> column(PGresult* r, int row, int index) {
  if (index < 0 || PQgetisnull(r, row, index)) return std::nullopt;
  return std::string(PQgetvalue(r, row, index), static_cast<size_t>(PQgetlength(r, row, index)));
}

}  // namespace

void SqlSource::ConnectionCloser::operator()(pg_conn* connection) const {
  PQfinish(connection);
}

SqlSource::SqlSource(SqlConfig config, bool use_issuer, std::chrono::milliseconds statement_timeout)
    : config_(std::move(config)), use_issuer_(use_issuer), statement_timeout_(statement_timeout) {}

SqlSource::~SqlSource() = default;

SqlSource::Connection SqlSource::take_idle() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.empty()) return nullptr;
  Connection c = std::move(idle_.back());
  idle_.pop_back();
  return c;
}

void SqlSource::give_back(Connection connection) {
  if (!connection || PQstatus(connection.get()) != CONNECTION_OK ||
      PQtransactionStatus(connection.get()) != PQTRANS_IDLE)
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(connection));
}

SqlSource::Connection SqlSource::connect(Deadline deadline, std::string& error) {
  Connection c(PQconnectStart(config_.conninfo.c_str()));
  if (!c) {
    error = "out of memory";
    return nullptr;
  }
  if (PQstatus(c.get()) == CONNECTION_BAD) {
    error = trimmed_message(PQerrorMessage(c.get()));
    return nullptr;
  }
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      error = trimmed_message(PQerrorMessage(c.get()));
      return nullptr;
    }
    const short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!wait_socket(PQsocket(c.get()), events, deadline)) {
      error = "timed out connecting";
      return nullptr;
    }
    state = PQconnectPoll(c.get());
  }
  if (PQsetnonblocking(c.get(), 1) != 0) {
    error = trimmed_message(PQerrorMessage(c.get()));
    return nullptr;
  }
  // The server ends a look-up query that outlives the look-up (we stop waiting at the deadline).
  const std::string ms = std::to_string(statement_timeout_.count());
  bool usable = true;
  if (!run(c.get(), "SELECT set_config('statement_timeout', $1, false)", {ms.c_str()}, deadline,
           error, usable)) {
    error = "setting statement_timeout: " + error;
    return nullptr;
  }
  return c;
}

LookupResult SqlSource::query(pg_conn* c, const PatientKey& key, Deadline deadline, bool& usable) {
  std::vector<const char*> params = {key.patient_id.c_str()};
  if (use_issuer_) params.push_back(key.issuer.c_str());
  std::string error;
  const Result r = run(c, config_.query.c_str(), params, deadline, error, usable);
  if (!r) return LookupResult::unreachable("query failed: " + error);
  const int rows = PQntuples(r.get());
  if (rows == 0) return LookupResult::not_found("no row for this patient");
  if (rows > 1)
    return LookupResult::not_found(std::to_string(rows) + " rows for this patient (ambiguous)");
  const int name = PQfnumber(r.get(), "name");
  const int birth_date = PQfnumber(r.get(), "birth_date");
  const int sex = PQfnumber(r.get(), "sex");
  const int other_ids = PQfnumber(r.get(), "other_ids");
  if (name < 0 && birth_date < 0 && sex < 0 && other_ids < 0) {
    return LookupResult::unreachable(
        "the query returns none of the columns name, birth_date, sex, other_ids");
  }
  SqlRow row{column(r.get(), 0, name), column(r.get(), 0, birth_date), column(r.get(), 0, sex),
             column(r.get(), 0, other_ids)};
  Demographics d = map_sql_row(row);
  if (d.empty()) return LookupResult::not_found("the row has no usable demographics");
  return LookupResult::found(std::move(d));
}

LookupResult SqlSource::lookup(const PatientKey& key, std::chrono::milliseconds timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  // An idle connection may have been closed by the server meanwhile: one retry on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    Connection c = take_idle();
    const bool reused = c != nullptr;
    if (!c) {
      std::string error;
      c = connect(deadline, error);
      if (!c) return LookupResult::unreachable("cannot connect to PostgreSQL: " + error);
    }
    bool usable = true;
    LookupResult result = query(c.get(), key, deadline, usable);
    if (usable) {
      give_back(std::move(c));
      return result;
    }
    if (!reused || std::chrono::steady_clock::now() >= deadline) return result;
  }
  return LookupResult::unreachable("PostgreSQL connection lost");
}

}  // namespace ossa::emr
