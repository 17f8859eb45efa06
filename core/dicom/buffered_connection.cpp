#include "dicom/buffered_connection.h"

#include <cerrno>

#include "dcmtk/dcmnet/dul.h"

namespace ossa::dicom {

BufferedTcpConnection::BufferedTcpConnection(DcmNativeSocketType socket)
    : DcmTCPConnection(socket) {}

BufferedTcpConnection::~BufferedTcpConnection() {
  release_writes();
}

void BufferedTcpConnection::hold_writes() {
  holding_ = true;
}

bool BufferedTcpConnection::release_writes() {
  const bool sent = flush();
  holding_ = false;
  return sent;
}

bool BufferedTcpConnection::flush() {
  if (held_.empty()) return !broken_;
  const bool sent = write_fully(held_.data(), held_.size());
  held_.clear();
  if (!sent) broken_ = true;
  return sent;
}

bool BufferedTcpConnection::write_fully(const char* data, std::size_t size) {
  if (getSocket() < 0) return false;
  while (size > 0) {
    const ssize_t written = DcmTCPConnection::write(const_cast<char*>(data), size);
    if (written < 0 && errno == EINTR) continue;
    // 0 or an error (EAGAIN after DCMTK's send timeout, EPIPE, ...): the peer is not taking data.
    if (written <= 0) return false;
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return true;
}

ssize_t BufferedTcpConnection::write(void* buf, size_t nbyte) {
  if (broken_) {
    errno = EPIPE;
    return -1;
  }
  if (!holding_) return DcmTCPConnection::write(buf, nbyte);
  const char* bytes = static_cast<const char*>(buf);
  if (held_.size() + nbyte > kHoldCapacity) {
    if (!flush()) {
      errno = EPIPE;
      return -1;
    }
    // A part as large as the buffer itself (a big dataset fragment) goes out directly.
    if (nbyte >= kHoldCapacity) return write_fully(bytes, nbyte) ? static_cast<ssize_t>(nbyte) : -1;
  }
  held_.insert(held_.end(), bytes, bytes + nbyte);
  return static_cast<ssize_t>(nbyte);
}

ssize_t BufferedTcpConnection::read(void* buf, size_t nbyte) {
  // The peer may be waiting for what is held before it sends what this read waits for.
  flush();
  return DcmTCPConnection::read(buf, nbyte);
}

OFBool BufferedTcpConnection::networkDataAvailable(int timeout) {
  // A poll (timeout 0, e.g. DCMTK's check for a C-CANCEL between matches) does not wait for the
  // peer, so held bytes may stay; any real wait sends them first.
  if (timeout != 0) flush();
  return DcmTCPConnection::networkDataAvailable(timeout);
}

void BufferedTcpConnection::close() {
  flush();  // an A-RELEASE-RP or A-ABORT written just before must still reach the peer
  DcmTCPConnection::close();
}

void BufferedTcpConnection::closeTransportConnection() {
  flush();
  DcmTCPConnection::closeTransportConnection();
}

DcmTransportConnection* BufferedTransportLayer::createConnection(DcmNativeSocketType socket,
                                                                 OFBool use_secure_layer) {
  if (use_secure_layer) return nullptr;  // as DCMTK's own plain layer: no TLS here
  // DCMTK takes ownership of the connection and deletes it when the association goes.
  return new BufferedTcpConnection(socket);
}

BufferedTcpConnection* buffered_connection_of(T_ASC_Association* association) {
  if (!association || !association->DULassociation) return nullptr;
  return dynamic_cast<BufferedTcpConnection*>(
      DUL_getTransportConnection(association->DULassociation));
}

}  // namespace ossa::dicom
