#include <cstring>

#include "harness/commands.hpp"

int main(int argc, char** argv) {
  const char* sub = argc > 1 ? argv[1] : "";
  if (std::strcmp(sub, "serve") == 0) return mux::serve_command(argc, argv);
  if (std::strcmp(sub, "load") == 0) return mux::load_command(argc, argv);
  if (std::strcmp(sub, "sweep") == 0) return mux::sweep_command(argc, argv);
  if (std::strcmp(sub, "--list-backends") == 0) return mux::list_backends_command(argc, argv);
  return mux::run_command(argc, argv);
}
