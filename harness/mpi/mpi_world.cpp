#include "harness/mpi/mpi_world.hpp"

#include <mpi.h>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "harness/load/load_shards.hpp"

namespace mux {
namespace {

constexpr int kClockTag = 1;

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(fmt::format("{}: {}", what, text));
}

}  // namespace

MpiWorld::MpiWorld(int& argc, char**& argv) {
  int provided = 0;
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // A failed call returns its error here instead of ending the whole job.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiWorld::~MpiWorld() { MPI_Finalize(); }

std::vector<std::string> MpiWorld::gather(const std::string& text) const {
  const int length = static_cast<int>(text.size());
  std::vector<int> lengths(root() ? size_ : 0), offsets(root() ? size_ : 0);
  check(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
  std::string all;
  if (root()) {
    int total = 0;
    for (int i = 0; i < size_; ++i) {
      offsets[i] = total;
      total += lengths[i];
    }
    all.resize(static_cast<std::size_t>(total));
  }
  check(MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
                    MPI_COMM_WORLD),
        "MPI_Gatherv");
  std::vector<std::string> texts;
  for (int i = 0; root() && i < size_; ++i)
    texts.push_back(all.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(lengths[i])));
  return texts;
}

std::uint64_t MpiWorld::broadcast(std::uint64_t value) const {
  check(MPI_Bcast(&value, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return value;
}

std::string MpiWorld::broadcast_text(const std::string& text) const {
  std::string copy = text;
  copy.resize(broadcast(static_cast<std::uint64_t>(text.size())));
  check(MPI_Bcast(copy.data(), static_cast<int>(copy.size()), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return copy;
}

std::optional<std::string> MpiWorld::first_error(const std::string& error) const {
  const std::vector<std::string> errors = gather(error.empty() ? "" : fmt::format("{}\n{}", host_name(), error));
  std::string first;
  for (std::size_t i = 0; i < errors.size() && first.empty(); ++i)
    if (const auto nl = errors[i].find('\n'); nl != std::string::npos)
      first = fmt::format("rank {} ({}): {}", i, errors[i].substr(0, nl), errors[i].substr(nl + 1));
  if (broadcast(first.empty() ? 0 : 1) == 0) return std::nullopt;
  return first;
}

ClockOffset MpiWorld::measure_clock_offset(int rounds) const {
  ClockOffset best{.offset_ns = 0, .rtt_ns = UINT64_MAX};
  if (root()) {
    for (int peer = 1; peer < size_; ++peer)
      for (int i = 0; i < rounds; ++i) {
        std::uint64_t stamp = 0;
        check(MPI_Recv(&stamp, 1, MPI_UINT64_T, peer, kClockTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
        stamp = now_ns();
        check(MPI_Send(&stamp, 1, MPI_UINT64_T, peer, kClockTag, MPI_COMM_WORLD), "MPI_Send");
      }
    return {.offset_ns = 0, .rtt_ns = 0};
  }
  for (int i = 0; i < rounds; ++i) {
    std::uint64_t sent = now_ns(), root_clock = 0;
    check(MPI_Send(&sent, 1, MPI_UINT64_T, 0, kClockTag, MPI_COMM_WORLD), "MPI_Send");
    check(MPI_Recv(&root_clock, 1, MPI_UINT64_T, 0, kClockTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    const std::uint64_t received = now_ns();
    if (received - sent >= best.rtt_ns) continue;
    // Rank 0 read its clock halfway through the round trip, at best.
    best = {.offset_ns = static_cast<std::int64_t>(root_clock) - static_cast<std::int64_t>(sent + (received - sent) / 2),
            .rtt_ns = received - sent};
  }
  return best;
}

std::uint64_t MpiWorld::barrier() const {
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  return now_ns();
}

void MpiWorld::send(int to, int tag, const std::string& text) const {
  check(MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD), "MPI_Send");
}

std::optional<std::pair<int, std::string>> MpiWorld::try_receive(int tag) const {
  int arrived = 0;
  MPI_Status status;
  check(MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &arrived, &status), "MPI_Iprobe");
  if (!arrived) return std::nullopt;
  int length = 0;
  MPI_Get_count(&status, MPI_CHAR, &length);
  std::string text(static_cast<std::size_t>(length), '\0');
  check(MPI_Recv(text.data(), length, MPI_CHAR, status.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  return std::make_pair(status.MPI_SOURCE, std::move(text));
}

void MpiWorld::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace mux
