#pragma once
// Taking a new TCP connection up to a DCMTK association, without letting one slow peer stall the
// listener: DCMTK's ASC_receiveAssociation accepts AND reads the A-ASSOCIATE-RQ in one call, so a
// peer that connects and says nothing would block every other caller for the ACSE timeout.
// Instead the listener only accepts; each connection's own thread waits until its whole request
// PDU has arrived, and only then hands the socket to DCMTK, which parses it from memory at once.

#include <cstdint>
#include <string>

struct T_ASC_Association;
struct T_ASC_Network;

namespace ossa::dicom {

// Raises the soft limit of open files (RLIMIT_NOFILE) to the hard limit when it is below
// `needed`: each association holds a socket, and Debian's default soft limit (1024) is below what
// server.max_associations allows. Returns the soft limit in force afterwards.
long raise_open_files_limit(long needed);

// Waits up to `timeout_ms` for a connection on `listen_fd`; returns the connected socket (with
// TCP_NODELAY set and close-on-exec), or -1 on timeout or a transient error.
int accept_connection(int listen_fd, int timeout_ms);

// Waits up to `timeout_seconds` until the peer's first PDU is completely in the socket buffer.
// Returns false, with the reason, when the peer is silent, closes, or sends an absurd length.
bool wait_for_request_pdu(int fd, int timeout_seconds, std::string& why);

// Lets DCMTK read the association request from the connected socket `fd`. DCMTK takes the socket
// through a process-global (dcmExternalSocketHandle), so calls are serialised; each is quick
// because the request is already buffered. On failure the socket is closed and nullptr returned.
T_ASC_Association* receive_association(T_ASC_Network* network, int fd, uint32_t max_pdu,
                                       std::string& why);

}  // namespace ossa::dicom
