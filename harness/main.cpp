#include <cstring>

#include "harness/commands.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "serve") == 0) return mux::serve_command(argc, argv);
  return mux::run_command(argc, argv);
}
