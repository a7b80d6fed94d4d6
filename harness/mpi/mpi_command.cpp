#include "harness/mpi/mpi_command.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "harness/system/exit_status.hpp"

namespace mux {
namespace {

// FNV-1a over this binary's bytes: the same build on every host, whatever its path.
std::string binary_digest() {
  std::uint64_t hash = 14695981039346656037ULL;
  const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "unreadable";
  char buf[1 << 16];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    for (ssize_t i = 0; i < n; ++i) hash = (hash ^ static_cast<unsigned char>(buf[i])) * 1099511628211ULL;
  ::close(fd);
  return fmt::format("{:016x}", hash);
}

std::string joined_arguments(int argc, char** argv) {
  std::string all;
  for (int i = 1; i < argc; ++i) all += fmt::format("{}{}", i > 1 ? " " : "", argv[i]);
  return all;
}

}  // namespace

int fail_everywhere(const MpiWorld& world, const std::string& message) {
  if (world.root()) fail_with(message, kExitUsage);
  return kExitUsage;
}

std::optional<std::string> identity_mismatch(const MpiWorld& world, int argc, char** argv) {
  const std::string binary = binary_digest(), arguments = joined_arguments(argc, argv);
  const std::vector<std::string> binaries = world.gather(binary), options = world.gather(arguments);
  std::string why;
  for (std::size_t rank = 1; rank < binaries.size() && why.empty(); ++rank) {
    if (binaries[rank] != binary)
      why = fmt::format("rank {} runs another bench binary (digest {}, rank 0's {}): install the same build on every host",
                        rank, binaries[rank], binary);
    else if (options[rank] != arguments)
      why = fmt::format("rank {} was given other options ('{}', rank 0's '{}'): start every rank with the same command",
                        rank, options[rank], arguments);
  }
  if (world.broadcast(why.empty() ? 0 : 1) == 0) return std::nullopt;
  return why;
}

std::optional<RunOptions> parse_on_every_rank(const MpiWorld& world, const std::function<std::optional<RunOptions>()>& parse) {
  const int saved = world.root() ? -1 : ::dup(STDERR_FILENO);
  if (saved >= 0) {
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
  auto options = parse();
  if (saved >= 0) {
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
  }
  return options;
}

bool a_rank_never_reported(const RunRecord& record) {
  return std::any_of(record.shards.begin(), record.shards.end(), [](const ShardReport& s) { return !s.failure.empty(); });
}

std::string mpi_shape_refusal(const RunOptions& o, std::size_t load_ranks) {
  if (load_ranks > o.load.clients)
    return fmt::format("mpirun started {} load ranks for --clients={}: each load rank needs a client at least; "
                       "start at most {} load ranks or raise --clients",
                       load_ranks, o.load.clients, o.load.clients);
  if (o.loadgen_processes > 1)
    return "--loadgen-processes does not combine with mpirun: each rank is one load process (start more ranks)";
  return {};
}

}  // namespace mux
