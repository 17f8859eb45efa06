#include "dicom/dicom_server.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmnet/dul.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "archive/archive.h"
#include "dicom/buffered_connection.h"
#include "dicom/connection_intake.h"
#include "dicom/negotiation.h"
#include "dicom/services.h"
#include "util/log.h"
#include "util/thread_name.h"

namespace ossa::dicom {
namespace {

// Ossa listens on its own socket, bound to server.bind: DCMTK 3.6.7 can only bind to every
// interface, and the listener only accepts (connection_intake.h hands each socket to DCMTK).
int open_listening_socket(const std::string& address, uint16_t port) {
  in_addr parsed{};
  if (::inet_pton(AF_INET, address.c_str(), &parsed) != 1) {
    throw std::runtime_error("server.bind '" + address + "' is not an IPv4 address");
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("cannot create the listening socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr = parsed;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 128) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) + ": " +
                             why);
  }
  return fd;
}

// Frees the association whatever state it is in.
struct AssociationGuard {
  T_ASC_Association* association;
  ~AssociationGuard() {
    ASC_dropSCPAssociation(association);
    ASC_destroyAssociation(&association);
  }
};

void reject(T_ASC_Association* association, T_ASC_RejectParametersResult result,
            T_ASC_RejectParametersSource source, T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters parameters{result, source, reason};
  ASC_rejectAssociation(association, &parameters);
}

std::string trimmed(const char* text) {
  std::string s(text);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

std::string peer_address(int fd) {
  sockaddr_in peer{};
  socklen_t length = sizeof peer;
  char text[INET_ADDRSTRLEN] = "?";
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) == 0)
    ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
  return text;
}

}  // namespace

DicomServer::DicomServer(ServerOptions options, archive::Archive& archive)
    : options_(std::move(options)), archive_(archive) {}

DicomServer::~DicomServer() {
  if (network_) ASC_dropNetwork(&network_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void DicomServer::open() {
  listen_fd_ = open_listening_socket(options_.bind, options_.port);
  // DCMTK's acceptor network only parses the requests of sockets Ossa accepted; port 0 keeps it
  // from competing for the configured port.
  OFCondition cond =
      ASC_initializeNetwork(NET_ACCEPTOR, 0, options_.acse_timeout_seconds, &network_);
  if (cond.bad()) {
    throw std::runtime_error(std::string("cannot initialise DCMTK's network: ") + cond.text());
  }
  transport_layer_ = std::make_unique<BufferedTransportLayer>();
  cond = ASC_setTransportLayer(network_, transport_layer_.get(), 0);  // 0: Ossa keeps ownership
  if (cond.bad()) {
    throw std::runtime_error(std::string("cannot set DCMTK's transport layer: ") + cond.text());
  }
  // DCMTK opened its own listener on an ephemeral port of every interface; point its descriptor at
  // Ossa's socket instead (dup2 swaps atomically, so no other thread can take the number between).
  const int dcmtk_fd = DUL_networkSocket(network_->network);
  if (dcmtk_fd >= 0 && ::dup2(listen_fd_, dcmtk_fd) < 0) {
    throw std::runtime_error(std::string("cannot close DCMTK's own listener: ") +
                             std::strerror(errno));
  }
  // Every connection holds a socket (up to 2 x max_associations + 16 of them, see run()), plus
  // the index, storage and plugins' files.
  const long wanted_fds = 2L * options_.max_associations + 256;
  const long open_files = raise_open_files_limit(wanted_fds);
  if (open_files < wanted_fds) {
    log::warning("DICOM: the open-files limit is ", open_files, " (hard limit); ",
                 options_.max_associations, " associations may need ", wanted_fds);
  }
  log::info("DICOM: ", options_.aet, " listening on ", options_.bind, ":", options_.port, " (max ",
            options_.max_associations, " associations)");
}

int DicomServer::run(const std::atomic<bool>& stop) {
  const int listen_fd = listen_fd_;
  // Connections beyond this are closed at once: a flood must not exhaust threads. Up to it, each
  // gets a thread that reads its request and, above max_associations, rejects it properly.
  const int max_connections = options_.max_associations * 2 + 16;
  while (!stop.load()) {
    const int fd = accept_connection(listen_fd, 1000);  // wakes every second to notice `stop`
    if (fd < 0) continue;
    if (connections_.load() >= max_connections) {
      log::warning("DICOM: connection from ", peer_address(fd), " closed: ", connections_.load(),
                   " connections open");
      ::close(fd);
      continue;
    }
    ++connections_;
    try {
      std::thread([this, fd] {
        util::name_this_thread("ossa-dicom");
        take_connection(fd);
        --connections_;
      }).detach();
    } catch (const std::system_error& e) {
      --connections_;
      log::error("DICOM: cannot start a thread for a connection: ", e.what());
      ::close(fd);
    }
  }
  // Graceful stop: no new associations; in-flight ones get shutdown_timeout to finish.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(options_.shutdown_timeout_seconds);
  if (connections_.load() > 0) {
    log::info("DICOM: waiting up to ", options_.shutdown_timeout_seconds, " s for ",
              connections_.load(), " association(s) to finish");
  }
  while (connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return connections_.load();
}

void DicomServer::take_connection(int fd) {
  const std::string address = peer_address(fd);
  std::string why;
  if (!wait_for_request_pdu(fd, options_.acse_timeout_seconds, why)) {
    log::warning("DICOM: connection from ", address, " dropped: ", why);
    ::close(fd);
    return;
  }
  T_ASC_Association* association = receive_association(network_, fd, options_.max_pdu, why);
  if (!association) {
    log::warning("DICOM: connection from ", address, " failed before its association: ", why);
    return;
  }
  if (++associations_ > options_.max_associations) {
    --associations_;
    log::warning("DICOM: association from ", association->params->DULparams.callingAPTitle, "@",
                 address, " rejected: server.max_associations (", options_.max_associations,
                 ") reached");
    reject(association, ASC_RESULT_REJECTEDTRANSIENT,
           ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED, ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
    AssociationGuard guard{association};
    return;
  }
  serve_association(association);
  --associations_;
}

void DicomServer::serve_association(T_ASC_Association* association) {
  AssociationGuard guard{association};
  T_ASC_Parameters* params = association->params;
  const std::string calling = trimmed(params->DULparams.callingAPTitle);
  const std::string called = trimmed(params->DULparams.calledAPTitle);
  const std::string peer = calling + "@" + params->DULparams.callingPresentationAddress;

  // A find provider may answer on its own AE title (e.g. a worklist AE): such an association gets
  // Verification and the provider's FIND classes only.
  archive::FindProviders* providers = archive_.find_providers();
  const bool own_aet = called == options_.aet;
  if (!own_aet && !(providers && providers->serves_called_aet(called))) {
    log::warning("DICOM: association from ", peer, " rejected: called AE title '", called,
                 "' is not ", options_.aet);
    reject(association, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
    return;
  }
  const auto& allowed = options_.allowed_callers;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), calling) == allowed.end()) {
    log::warning("DICOM: association from ", peer,
                 " rejected: calling AE title not in server.allowed_callers");
    reject(association, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
    return;
  }
  const std::vector<std::string> provided =
      providers ? providers->sop_classes_for(called) : std::vector<std::string>();
  if (!accept_presentation_contexts(params, provided, own_aet)) {
    reject(association, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_NOREASON);
    return;
  }
  ASC_setAPTitles(params, nullptr, nullptr, called.c_str());
  if (ASC_countAcceptedPresentationContexts(params) == 0) {
    log::warning("DICOM: association from ", peer, " rejected: no presentation context acceptable");
    reject(association, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_NOREASON);
    return;
  }
  OFCondition cond = ASC_acknowledgeAssociation(association);
  if (cond.bad()) {
    log::warning("DICOM: cannot acknowledge association from ", peer, ": ", cond.text());
    return;
  }
  log::debug("DICOM: association from ", peer, " accepted");

  ServiceContext ctx{association,
                     archive_,
                     options_.aet,
                     peer,
                     calling,
                     called,
                     options_.dimse_timeout_seconds,
                     options_.acse_timeout_seconds,
                     options_.max_pdu,
                     {}};
  const auto started = std::chrono::steady_clock::now();
  // One line per association: what hospital IT reads to see who sent what.
  struct Summary {
    const ServiceContext& ctx;
    std::chrono::steady_clock::time_point started;
    ~Summary() {
      if (ctx.stored + ctx.refused + ctx.queries == 0) return;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      log::info("DICOM: association from ", ctx.peer, " ended after ", ms, " ms: ", ctx.stored,
                " stored, ", ctx.refused, " refused, ", ctx.queries, " queries");
    }
  } summary{ctx, started};
  while (true) {
    T_ASC_PresentationContextID pres_id = 0;
    T_DIMSE_Message message{};
    cond = DIMSE_receiveCommand(association, DIMSE_NONBLOCKING, options_.dimse_timeout_seconds,
                                &pres_id, &message, nullptr);
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      ASC_acknowledgeRelease(association);
      log::debug("DICOM: association from ", peer, " released");
      return;
    }
    if (cond == DUL_PEERABORTEDASSOCIATION) {
      log::info("DICOM: association from ", peer, " aborted by the peer");
      return;
    }
    if (cond == DIMSE_NODATAAVAILABLE) {
      log::warning("DICOM: association from ", peer, " idle for ", options_.dimse_timeout_seconds,
                   " s (server.dimse_timeout); aborting it");
      ASC_abortAssociation(association);
      return;
    }
    if (cond.bad()) {
      log::warning("DICOM: association from ", peer, " broken: ", cond.text());
      ASC_abortAssociation(association);
      return;
    }
    switch (message.CommandField) {
      case DIMSE_C_ECHO_RQ:
        cond = DIMSE_sendEchoResponse(association, pres_id, &message.msg.CEchoRQ, STATUS_Success,
                                      nullptr);
        break;
      case DIMSE_C_STORE_RQ:
        cond = serve_store(ctx, pres_id, message.msg.CStoreRQ);
        break;
      case DIMSE_C_FIND_RQ:
        cond = serve_find(ctx, pres_id, message.msg.CFindRQ);
        break;
      case DIMSE_C_MOVE_RQ:
        cond = serve_move(ctx, pres_id, message.msg.CMoveRQ);
        break;
      case DIMSE_C_GET_RQ:
        cond = serve_get(ctx, pres_id, message.msg.CGetRQ);
        break;
      case DIMSE_C_CANCEL_RQ:
        cond = EC_Normal;  // a cancel that arrived after its operation finished: nothing to stop
        break;
      default:
        log::warning("DICOM: ", peer, " sent unsupported command 0x", std::hex,
                     static_cast<int>(message.CommandField), std::dec, "; aborting");
        ASC_abortAssociation(association);
        return;
    }
    if (cond.bad()) {
      log::warning("DICOM: association from ", peer, " failed: ", cond.text());
      ASC_abortAssociation(association);
      return;
    }
  }
}

}  // namespace ossa::dicom
