// BufferedTcpConnection: held writes stay in memory until released, flushed, full, or the
// connection waits for its peer; a broken peer is reported by the next write.

#include "dicom/buffered_connection.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

namespace ossa::dicom {
namespace {

class BufferedConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);  // as the server: a vanished peer is an error, not a signal
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    connection_ = std::make_unique<BufferedTcpConnection>(fds[0]);
    peer_ = fds[1];
  }
  void TearDown() override {
    connection_.reset();
    if (peer_ >= 0) ::close(peer_);
  }

  // What the peer can read right now, without waiting.
  std::string peer_reads() {
    std::string out;
    char buf[65536];
    pollfd pfd{peer_, POLLIN, 0};
    while (::poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN)) {
      const ssize_t n = ::read(peer_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  ssize_t send(const std::string& text) {
    std::string copy = text;
    return connection_->write(copy.data(), copy.size());
  }

  std::unique_ptr<BufferedTcpConnection> connection_;
  int peer_ = -1;
};

TEST_F(BufferedConnectionTest, WritesGoStraightOutWhenNotHeld) {
  EXPECT_EQ(send("header"), 6);
  EXPECT_EQ(peer_reads(), "header");
}

TEST_F(BufferedConnectionTest, HeldWritesLeaveTogetherAndInOrderOnRelease) {
  connection_->hold_writes();
  EXPECT_EQ(send("one,"), 4);
  EXPECT_EQ(send("two,"), 4);
  EXPECT_EQ(connection_->held_bytes(), 8u);
  EXPECT_EQ(peer_reads(), "");
  EXPECT_TRUE(connection_->release_writes());
  EXPECT_EQ(peer_reads(), "one,two,");
  EXPECT_FALSE(connection_->holding());
  EXPECT_EQ(send("three"), 5);  // no longer held
  EXPECT_EQ(peer_reads(), "three");
}

TEST_F(BufferedConnectionTest, FlushSendsAndKeepsHolding) {
  connection_->hold_writes();
  send("a");
  EXPECT_TRUE(connection_->flush());
  EXPECT_EQ(peer_reads(), "a");
  send("b");
  EXPECT_EQ(peer_reads(), "");
  EXPECT_TRUE(connection_->holding());
}

TEST_F(BufferedConnectionTest, WaitingForThePeerSendsWhatIsHeldButAPollDoesNot) {
  connection_->hold_writes();
  send("request");
  EXPECT_FALSE(connection_->networkDataAvailable(0));  // a poll: C-CANCEL check between matches
  EXPECT_EQ(peer_reads(), "");
  EXPECT_FALSE(connection_->networkDataAvailable(1));  // a real wait: the peer must have it all
  EXPECT_EQ(peer_reads(), "request");

  send("more");
  ASSERT_EQ(::write(peer_, "x", 1), 1);
  char byte = 0;
  EXPECT_EQ(connection_->read(&byte, 1), 1);  // a read flushes first, too
  EXPECT_EQ(byte, 'x');
  EXPECT_EQ(peer_reads(), "more");
}

TEST_F(BufferedConnectionTest, AFullBufferIsWrittenBeforeItGrowsAndLargePartsGoDirectly) {
  connection_->hold_writes();
  const std::string part(BufferedTcpConnection::kHoldCapacity / 2 + 1, 'p');
  send(part);
  EXPECT_EQ(peer_reads(), "");
  send(part);  // would exceed the capacity: the first part leaves, the second is held
  EXPECT_EQ(peer_reads(), part);
  EXPECT_EQ(connection_->held_bytes(), part.size());

  const std::string big(BufferedTcpConnection::kHoldCapacity, 'b');
  EXPECT_EQ(send(big), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(connection_->held_bytes(), 0u);
  EXPECT_EQ(peer_reads(), part + big);  // order kept
}

TEST_F(BufferedConnectionTest, AVanishedPeerFailsTheFlushAndEveryLaterWrite) {
  connection_->hold_writes();
  send("lost");
  ::close(peer_);
  peer_ = -1;
  EXPECT_FALSE(connection_->release_writes());
  EXPECT_EQ(send("after"), -1);
}

TEST(BufferedTransportLayerTest, CreatesBufferedPlainConnectionsAndNoTls) {
  BufferedTransportLayer layer;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::unique_ptr<DcmTransportConnection> plain(layer.createConnection(fds[0], OFFalse));
  EXPECT_NE(dynamic_cast<BufferedTcpConnection*>(plain.get()), nullptr);
  EXPECT_EQ(layer.createConnection(fds[1], OFTrue), nullptr);
  ::close(fds[1]);
}

}  // namespace
}  // namespace ossa::dicom
