#include "xmlrpc/url_download.h"

#include <fcntl.h>
#include <unistd.h>

#include <httplib.h>

#include <regex>

namespace ossa::xmlrpc {
namespace {

constexpr int kConnectTimeoutSeconds = 10;
constexpr int kReadTimeoutSeconds = 60;

// Closes the descriptor when the download ends, whichever way.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) {}
  ~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool write(const char* data, size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

}  // namespace

DownloadResult download_and_ingest(const std::string& url, archive::Archive& archive,
                                   uint64_t max_bytes) {
  DownloadResult result;
  static const std::regex kUrl(R"(^(https?)://([^/?#\s]+)([^#\s]*)$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    result.message = "not an http:// or https:// URL: " + url;
    return result;
  }
  const std::string origin = m[1].str() + "://" + m[2].str();
  std::string target = m[3].str();
  if (target.empty()) target = "/";
  if (target[0] != '/') target = "/" + target;

  const std::filesystem::path temp = archive.new_temp_path();
  bool too_large = false;
  bool write_failed = false;
  bool answered = false;
  int http_status = 0;
  httplib::Error error = httplib::Error::Success;
  {
    OutputFile out(temp.string());
    if (!out.ok()) {
      result.message = "cannot create a temp file in the archive";
      archive.store().discard_temp(temp);
      return result;
    }
    httplib::Client client(origin);
    client.set_connection_timeout(kConnectTimeoutSeconds, 0);
    client.set_read_timeout(kReadTimeoutSeconds, 0);
    client.set_follow_location(true);
    uint64_t received = 0;
    int status = 0;
    const httplib::Result response = client.Get(
        target,
        [&](const httplib::Response& r) {
          status = r.status;
          return true;
        },
        [&](const char* data, size_t size) {
          if (status != 200) return true;  // an error page: read and dropped
          received += size;
          if (received > max_bytes) {
            too_large = true;
            return false;
          }
          if (!out.write(data, size)) {
            write_failed = true;
            return false;
          }
          return true;
        });
    answered = static_cast<bool>(response);
    http_status = answered ? response->status : 0;
    error = response.error();
    write_failed = !out.close() || write_failed;
  }
  if (too_large || write_failed || !answered || http_status != 200) {
    archive.store().discard_temp(temp);
    if (too_large)
      result.message = "larger than the limit of " + std::to_string(max_bytes >> 20) + " MB";
    else if (write_failed)
      result.message = "cannot write the download to the archive's temp folder";
    else if (!answered)
      result.message = "download failed: " + httplib::to_string(error);
    else
      result.message = "the server answered HTTP " + std::to_string(http_status);
    return result;
  }
  const archive::IngestResult stored = archive.ingest_received(temp);
  if (!stored.ok()) {
    result.message = "not stored: " + stored.message;
    return result;
  }
  result.ok = true;
  result.message = "stored " + stored.sop_instance_uid;
  return result;
}

}  // namespace ossa::xmlrpc
