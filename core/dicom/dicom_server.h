#pragma once
// The DICOM front end: listens for associations, one thread each, bounded by max_associations,
// and serves C-ECHO, C-STORE and C-FIND through the archive facade.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct T_ASC_Association;
struct T_ASC_Network;

namespace ossa::archive {
class Archive;
}

namespace ossa::dicom {

class BufferedTransportLayer;

struct ServerOptions {
  std::string aet = "OSSA";
  std::string bind = "0.0.0.0";
  uint16_t port = 11112;
  int max_associations = 200;
  std::vector<std::string> allowed_callers;  // empty: anyone
  int acse_timeout_seconds = 30;
  int dimse_timeout_seconds = 60;
  int shutdown_timeout_seconds = 30;
  uint32_t max_pdu = 131072;
};

class DicomServer {
 public:
  DicomServer(ServerOptions options, archive::Archive& archive);
  ~DicomServer();
  DicomServer(const DicomServer&) = delete;
  DicomServer& operator=(const DicomServer&) = delete;

  // Opens the listening socket; throws std::runtime_error (port in use, bad bind address, ...).
  void open();
  // Serves until `stop` becomes true, then stops accepting and waits up to shutdown_timeout for
  // in-flight associations. Returns the number of associations still running when it gave up.
  int run(const std::atomic<bool>& stop);

  int active_associations() const { return associations_.load(); }

 private:
  void take_connection(int fd);
  void serve_association(T_ASC_Association* association);

  ServerOptions options_;
  archive::Archive& archive_;
  // Creates each accepted association's connection (buffered writes for C-FIND bursts).
  std::unique_ptr<BufferedTransportLayer> transport_layer_;
  T_ASC_Network* network_ = nullptr;
  int listen_fd_ = -1;
  std::atomic<int> connections_{0};   // accepted sockets with a thread (incl. not yet associated)
  std::atomic<int> associations_{0};  // accepted associations being served
};

}  // namespace ossa::dicom
