#include "app/watchdog_probes.h"

#include <httplib.h>

namespace ossa::app {
namespace {

constexpr const char* kStatusCall =
    "<?xml version=\"1.0\"?>\n"
    "<methodCall><methodName>ossa.status</methodName><params></params></methodCall>\n";

std::unique_ptr<httplib::Client> client_for(const ProbeTarget& target,
                                            std::chrono::seconds timeout) {
  auto client = std::make_unique<httplib::Client>(target.host, target.port);
  client->set_connection_timeout(timeout.count());
  client->set_read_timeout(timeout.count());
  client->set_write_timeout(timeout.count());
  client->set_keep_alive(false);
  return client;
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

}  // namespace

std::string probe_host_for(const std::string& bind) {
  if (bind == "0.0.0.0" || bind.empty()) return "127.0.0.1";
  if (bind == "::") return "::1";
  return bind;
}

ProbeResult probe_testdbalive(const ProbeTarget& target, std::chrono::seconds timeout) {
  ProbeResult result;
  const auto answer = client_for(target, timeout)->Get("/testdbalive");
  if (!answer) {
    result.detail = "/testdbalive: " + httplib::to_string(answer.error());
  } else if (answer->status != 200 || answer->body != "Test DB Alive succeeded") {
    result.detail =
        "/testdbalive: HTTP " + std::to_string(answer->status) + ": " + first_line(answer->body);
  } else {
    result.ok = true;
  }
  return result;
}

ProbeResult probe_xmlrpc(const ProbeTarget& target, std::chrono::seconds timeout) {
  ProbeResult result;
  auto client = client_for(target, timeout);
  if (!target.token.empty()) client->set_bearer_token_auth(target.token);
  const auto answer = client->Post("/RPC2", kStatusCall, "text/xml");
  if (!answer) {
    result.detail = "XML-RPC ossa.status: " + httplib::to_string(answer.error());
  } else if (answer->status != 200) {
    result.detail = "XML-RPC ossa.status: HTTP " + std::to_string(answer->status) + ": " +
                    first_line(answer->body);
  } else if (answer->body.find("<methodResponse") == std::string::npos ||
             answer->body.find("<fault>") != std::string::npos) {
    result.detail =
        "XML-RPC ossa.status: a fault or not a methodResponse: " + first_line(answer->body);
  } else {
    result.ok = true;
  }
  return result;
}

}  // namespace ossa::app
