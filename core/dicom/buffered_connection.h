#pragma once
// A TCP transport connection for DCMTK that can hold outgoing bytes in memory.
//
// DCMTK writes every PDU with two send calls (its header, then its value), so a DIMSE message of
// command and dataset costs four system calls. A C-FIND with thousands of matches spends more on
// those calls than on finding and encoding the matches. While writes are held, the bytes collect
// in user space and leave in large writes: when the buffer is full, when the holder releases
// them, and always before the connection waits for the peer (read, or a wait for data with a
// timeout), so no exchange can stall on bytes that were never sent.
//
// The server installs BufferedTransportLayer on its acceptor network, so every association it
// accepts runs on a BufferedTcpConnection; outside a hold, writes go straight to the socket as
// with DCMTK's own DcmTCPConnection. A connection is used by its association's thread only.

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dcmlayer.h"
#include "dcmtk/dcmnet/dcmtrans.h"

#include <cstddef>
#include <vector>

namespace ossa::dicom {

class BufferedTcpConnection : public DcmTCPConnection {
 public:
  // Held bytes beyond this are written at once (one write per ~64 KiB instead of per PDU part).
  static constexpr std::size_t kHoldCapacity = 64 * 1024;

  explicit BufferedTcpConnection(DcmNativeSocketType socket);
  ~BufferedTcpConnection() override;

  // Starts holding writes; nested holds are not counted (the first release sends everything).
  void hold_writes();
  // Sends what is held and stops holding. False when the peer cannot be written to (the next
  // write then fails too, which is how DCMTK learns of it).
  bool release_writes();
  // Sends what is held and goes on holding.
  bool flush();
  bool holding() const { return holding_; }
  std::size_t held_bytes() const { return held_.size(); }

  ssize_t write(void* buf, size_t nbyte) override;
  ssize_t read(void* buf, size_t nbyte) override;
  OFBool networkDataAvailable(int timeout) override;
  void close() override;
  void closeTransportConnection() override;

 private:
  // Writes all of [data, data+size) to the socket; false on an error or a send timeout.
  bool write_fully(const char* data, std::size_t size);

  std::vector<char> held_;
  bool holding_ = false;
  bool broken_ = false;  // a flush failed: later writes report the failure
};

// Creates a BufferedTcpConnection for every plain TCP connection (TLS is not offered).
class BufferedTransportLayer : public DcmTransportLayer {
 public:
  DcmTransportConnection* createConnection(DcmNativeSocketType socket,
                                           OFBool use_secure_layer) override;
};

// The association's connection when it is a BufferedTcpConnection, else nullptr.
BufferedTcpConnection* buffered_connection_of(T_ASC_Association* association);

}  // namespace ossa::dicom
