// A plugin with HTTP routes (register_http_route): some answer, some fail in each way the host
// must contain (an exception through the SDK, an exception through the raw C ABI, no response, a
// status out of range). It also tries registrations the host must refuse and logs the outcome.
#include <ossa/sdk.hpp>

#include <stdexcept>
#include <string>

namespace {

// Raw C routes (no SDK): what a careless plugin could do.
ossa_status raw_throws(void*, const ossa_http_request*, ossa_http_response*) {
  throw std::runtime_error("raw route throws");
}

ossa_status raw_no_answer(void*, const ossa_http_request*, ossa_http_response*) {
  return OSSA_OK;  // never calls http_response_set
}

class HttpRoutesPlugin : public ossa::sdk::Plugin {
 public:
  void init(ossa::sdk::Host& host) override {
    host.http_route("GET", "/plugins/webtest/hello", [](const ossa::sdk::HttpRequest& request) {
      ossa::sdk::HttpResponse response;
      response.body = "hello " + std::string(request.peer_address) +
                      "; path=" + std::string(request.path) +
                      "; query=" + std::string(request.query) +
                      "; x-probe=" + std::string(request.header("x-probe").value_or("none"));
      response.headers.emplace_back("X-Plugin", "webtest");
      return response;
    });
    host.http_route("POST", "/plugins/webtest/echo/", [](const ossa::sdk::HttpRequest& request) {
      ossa::sdk::HttpResponse response;
      response.status = 201;
      response.content_type =
          std::string(request.header("Content-Type").value_or("application/octet-stream"));
      response.body = std::string(request.body);
      return response;
    });
    host.http_route("GET", "/plugins/webtest/throws", [](const ossa::sdk::HttpRequest&) {
      throw std::runtime_error("this route always throws");
      return ossa::sdk::HttpResponse{};
    });
    host.http_route("GET", "/plugins/webtest/bad-status", [](const ossa::sdk::HttpRequest&) {
      ossa::sdk::HttpResponse response;
      response.status = 999;
      return response;
    });
    host.http_route("GET", "/plugins/webtest/bad-header", [](const ossa::sdk::HttpRequest&) {
      ossa::sdk::HttpResponse response;
      response.headers.emplace_back("X-Split", "a\r\nInjected: yes");
      return response;
    });
    const ossa_host_api* api = host.api();
    ossa::sdk::detail::check(
        api->register_http_route(host.handle(), "GET", "/plugins/webtest/raw-throws", raw_throws,
                                 nullptr),
        "raw-throws");
    ossa::sdk::detail::check(
        api->register_http_route(host.handle(), "GET", "/plugins/webtest/no-answer", raw_no_answer,
                                 nullptr),
        "no-answer");

    // Registrations the host must refuse: outside the plugin's space, an unknown method, a
    // duplicate, a path with '..'.
    const struct {
      const char* method;
      const char* prefix;
    } refused[] = {{"GET", "/testdbalive"},           {"GET", "/plugins/other/x"},
                   {"GET", "/plugins/webtestX"},      {"BREW", "/plugins/webtest/coffee"},
                   {"GET", "/plugins/webtest/hello"}, {"GET", "/plugins/webtest/../x"},
                   {"GET", "/plugins/webtest/a b"}};
    int refusals = 0;
    for (const auto& r : refused) {
      if (api->register_http_route(host.handle(), r.method, r.prefix, raw_no_answer, nullptr) ==
          OSSA_E_INVALID_ARGUMENT)
        ++refusals;
    }
    host.info("refused " + std::to_string(refusals) + " of " +
              std::to_string(sizeof refused / sizeof refused[0]) + " bad routes");
  }
};

}  // namespace

OSSA_PLUGIN(HttpRoutesPlugin, "webtest", "1.0.0", "HTTP routes that answer and that fail")
