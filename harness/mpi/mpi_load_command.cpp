// `mpirun -n K bench load --target=S:P ...`: every rank a load shard (harness/mpi/mpi_load.hpp),
// rank 0 merging, printing and writing.
#include <cstdio>

#include <fmt/format.h>

#include "core/usage_error.hpp"
#include "harness/mpi/mpi_command.hpp"
#include "harness/mpi/mpi_load.hpp"
#include "harness/mpi/mpi_measure.hpp"
#include "harness/run/measurement.hpp"
#include "harness/results/run_reporters.hpp"
#include "harness/run/preflight.hpp"
#include "harness/system/environment.hpp"
#include "harness/system/stop_signals.hpp"

namespace mux {

int mpi_load_command(int argc, char** argv) {
  MpiWorld world(argc, argv);
  if (const auto why = identity_mismatch(world, argc, argv)) return fail_everywhere(world, *why);
  int exit_code = 0;
  const auto options = parse_on_every_rank(world, [&] { return parse_load_options(argc, argv, exit_code, run_output_flags()); });
  if (!options) return exit_code;
  RunOptions o = *options;
  const auto ranks = static_cast<std::size_t>(world.size());
  if (const std::string why = mpi_shape_refusal(o, ranks); !why.empty()) return fail_everywhere(world, why);
  o.mpi_ranks = ranks;
  std::string error;
  try {
    RunOptions mine = o;
    mine.load = rank_share(o.load, world, false);
    preflight(mine);
  } catch (const UsageError& e) {
    error = e.what();
  }
  if (const auto first = world.first_error(error)) return fail_everywhere(world, *first);
  try {
    install_stop_signals();
    pin_process(o.load.cpus);
    const auto environment = world.root() ? describe_environment() : nlohmann::ordered_json();
    const RunRecord record =
        measure_mpi(o, o.server.backend, parse_target(o.target), world, world.root() ? header_once(o) : std::function<void()>());
    if (!world.root()) return 0;
    const ReportedRun run{o, record, environment};
    const std::vector<std::string> unwritten = publish(run);
    if (const std::string notes = run_notes(run); !notes.empty()) std::fputs(fmt::format("\n{}", notes).c_str(), stdout);
    const int code = report_unwritten(unwritten, record.complete ? 0 : stop_signal() ? kExitInterrupted : kExitFailed);
    if (a_rank_never_reported(record)) world.abort(code);
    return code;
  } catch (const UsageError& e) {
    return fail_everywhere(world, e.what());
  } catch (const std::exception& e) {
    fail_with(fmt::format("rank {}: {}", world.rank(), e.what()), kExitFailed);
    world.abort(kExitFailed);
  }
}

}  // namespace mux
