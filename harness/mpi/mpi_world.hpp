#pragma once
// The few MPI operations `mpirun -n K bench [load]` needs, over MPI_COMM_WORLD with
// MPI_ERRORS_RETURN (a failed call throws instead of aborting the job). Only rank 0 prints.
// Built only with MPI (MUXBENCH_HAVE_MPI); this header does not include <mpi.h>.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mux {

// One rank's clock against rank 0's (CLOCK_MONOTONIC, which differs from host to host),
// measured NTP-style: the ping-pong round with the smallest round trip gives the offset,
// within +- half that round trip.
struct ClockOffset {
  std::int64_t offset_ns = 0;  // rank 0's clock minus this rank's
  std::uint64_t rtt_ns = 0;    // the round trip of the round used
};

class MpiWorld {
 public:
  MpiWorld(int& argc, char**& argv);  // MPI_Init_thread (funneled: only the main thread calls MPI)
  ~MpiWorld();                        // MPI_Finalize
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }

  // On rank 0: every rank's `text` in rank order; elsewhere: empty.
  std::vector<std::string> gather(const std::string& text) const;
  std::uint64_t broadcast(std::uint64_t value) const;  // rank 0's value, on every rank
  std::string broadcast_text(const std::string& text) const;  // rank 0's text, on every rank
  // Every rank passes its own error (empty: none). nullopt when every rank's is empty; else,
  // on rank 0, the first one, naming its rank and host ("" on the other ranks).
  std::optional<std::string> first_error(const std::string& error) const;
  // Every rank's clock against rank 0's (rounds ping-pongs per rank, one rank after another).
  ClockOffset measure_clock_offset(int rounds) const;
  // MPI_Barrier; returns the instant this rank left it (its own clock).
  std::uint64_t barrier() const;

  void send(int to, int tag, const std::string& text) const;
  // A message with `tag` from any rank, if one has arrived (never blocks for one).
  std::optional<std::pair<int, std::string>> try_receive(int tag) const;
  [[noreturn]] void abort(int code) const;  // MPI_Abort: every rank of the job ends

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace mux
