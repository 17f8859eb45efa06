#pragma once
// PostgreSQL through libpq: the configured query, parameterised ($1 = PatientID, $2 =
// IssuerOfPatientID when use_issuer is on), never built from the instance's text.
//
// libpq's blocking calls cannot honour a timeout in milliseconds (connect_timeout counts whole
// seconds, at least 2), so the connection and the query use libpq's non-blocking forms
// (PQconnectStart/PQconnectPoll, PQsendQueryParams - the same parameterised call as PQexecParams)
// and poll() the socket until the look-up's deadline. A look-up that runs out of time closes its
// connection; the server's statement_timeout (set to the look-up timeout on every new connection)
// ends the query there too. Idle connections are kept for the next look-ups (at most 8).

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config.h"
#include "emr_source.h"

struct pg_conn;

namespace ossa::emr {

class SqlSource final : public EmrSource {
 public:
  SqlSource(SqlConfig config, bool use_issuer, std::chrono::milliseconds statement_timeout);
  ~SqlSource() override;
  LookupResult lookup(const PatientKey& key, std::chrono::milliseconds timeout) override;
  std::string describe() const override { return "SQL (PostgreSQL)"; }

 private:
  struct ConnectionCloser {
    void operator()(pg_conn* connection) const;
  };
  using Connection = std::unique_ptr<pg_conn, ConnectionCloser>;
  using Deadline = std::chrono::steady_clock::time_point;

  Connection take_idle();
  void give_back(Connection connection);
  Connection connect(Deadline deadline, std::string& error);
  LookupResult query(pg_conn* connection, const PatientKey& key, Deadline deadline,
                     bool& connection_usable);

  SqlConfig config_;
  bool use_issuer_;
  std::chrono::milliseconds statement_timeout_;
  std::mutex mutex_;
  std::vector<Connection> idle_;
};

}  // namespace ossa::emr
