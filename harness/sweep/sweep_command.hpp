#pragma once
namespace mux {
int sweep_command(int argc, char** argv);  // bench sweep ...
}  // namespace mux
