// Addresses given on the command line: `bench load --target` (HOST:PORT, [IPv6]:PORT, a host
// name, unix:PATH) and the --host a server binds. Declared in harness/spec/options.hpp.
#include <charconv>
#include <chrono>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/net.hpp"
#include "core/usage_error.hpp"
#include "harness/spec/options.hpp"

namespace mux {

namespace {

// HOST:PORT or [IPv6]:PORT. The port is decimal digits and nothing else: std::stoi read
// "39222junk" as 39222 and " 80" or "+80" as 80.
std::pair<std::string, std::uint16_t> split_host_port(const std::string& text) {
  std::size_t colon = text.rfind(':');
  if (text.starts_with('[')) {  // the colons inside the brackets are the address's
    const auto close = text.find(']');
    if (close == std::string::npos)
      throw UsageError(fmt::format("--target={}: '[' without ']'; write [IPv6]:PORT, e.g. [::1]:8080", text));
    if (close + 1 < text.size() && text[close + 1] != ':')
      throw UsageError(fmt::format("--target={}: ':PORT' must follow ']'; write [IPv6]:PORT, e.g. [::1]:8080", text));
    colon = close + 1 < text.size() ? close + 1 : std::string::npos;
  }
  if (colon == std::string::npos || colon + 1 == text.size())
    throw UsageError(fmt::format("--target={} has no port; write HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080", text));
  const std::string_view digits = std::string_view(text).substr(colon + 1);
  unsigned port = 0;
  const auto [stop, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (error != std::errc() || stop != digits.data() + digits.size() || port == 0 || port > 65535)
    throw UsageError(fmt::format("--target={}: the port must be a number from 1 to 65535, e.g. 127.0.0.1:8080", text));
  return {text.substr(0, colon), static_cast<std::uint16_t>(port)};
}

}  // namespace

SocketAddress parse_target(const std::string& text) {
  if (text.starts_with(kUnixAddressPrefix)) {
    try {
      return SocketAddress::unix_socket(text.substr(kUnixAddressPrefix.size()));
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("--target={}: {}", text, e.what()));
    }
  }
  const auto [host, port] = split_host_port(text);
  return SocketAddress::parse(host, port);
}

SocketAddress resolve_target(const std::string& text) {
  if (text.starts_with(kUnixAddressPrefix)) return parse_target(text);  // a path: nothing to resolve
  const auto [host, port] = split_host_port(text);
  std::vector<SocketAddress> candidates;
  try {
    candidates = SocketAddress::resolve(host, port);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--target={}: {}", text, e.what()));
  }
  if (candidates.size() == 1) return candidates.front();
  // A name with several addresses (localhost: 127.0.0.1 and ::1): the first one a server
  // listens on, as a browser would; none: the first, whose connect error the run reports.
  const SocketAddress* listening = first_accepting(candidates, std::chrono::milliseconds(1000));
  return listening != nullptr ? *listening : candidates.front();
}

void check_local_host(const std::string& host) {
  SocketAddress address;
  try {
    address = SocketAddress::parse(host, 0);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--host={}: {}", host, e.what()));
  }
  if (!address.is_local())
    throw UsageError(fmt::format("--host={} is not an address of this machine, so the server cannot bind it; use "
                                 "127.0.0.1 (the default), ::1, 0.0.0.0, :: or an address of one of its interfaces",
                                 host));
}

}  // namespace mux
