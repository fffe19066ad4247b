// hakmem — the user's command: run a program on hakmem, and render its statistics.
#include <cstring>
#include <iostream>

#include "cli.h"
#include "hakmem/hakmem.h"

namespace hakmem_cli {

const char kProgramName[] = "hakmem";

void print_main_help() {
  std::cout <<
      "Usage: hakmem <command> [options]\n"
      "\n"
      "Run programs on the hakmem allocator and look at what it did.\n"
      "\n"
      "Commands:\n"
      "  run [--stats[=json:PATH]] [--profile=PATH] [--guard] [--lib PATH] -- PROGRAM [ARGS...]\n"
      "                 run PROGRAM with libhakmem.so preloaded\n"
      "  report STATS.json [--profile PROFILE] [-o REPORT.html]\n"
      "                 render a stats file (and a heap profile) as a self-contained HTML page\n"
      "  profile [--alloc] [--top N] [--folded | --leaks] PROFILE\n"
      "                 who holds the memory: top allocation sites, leaks, folded stacks\n"
      "\n"
      "Options:\n"
      "  -h, --help     show this help (also: hakmem <command> --help)\n"
      "  -V, --version  print the version\n"
      "\n"
      "Examples:\n"
      "  hakmem run --stats -- ./server --port 8080\n"
      "  hakmem run --stats=json:stats.json -- ./server && hakmem report stats.json -o report.html\n"
      "  hakmem run --profile=heap.json -- ./server && hakmem profile heap.json\n";
}

}  // namespace hakmem_cli

int main(int argc, char** argv) {
  using namespace hakmem_cli;
  if (argc < 2) {
    std::cerr << "hakmem: missing command (try 'hakmem --help')\n";
    return kExitUsage;
  }
  const char* command = argv[1];
  if (std::strcmp(command, "--version") == 0 || std::strcmp(command, "-V") == 0 ||
      std::strcmp(command, "version") == 0) {
    std::cout << kProgramName << ' ' << HAKMEM_VERSION_STRING << '\n';
    return kExitOk;
  }
  if (std::strcmp(command, "--help") == 0 || std::strcmp(command, "-h") == 0 ||
      std::strcmp(command, "help") == 0) {
    if (argc > 2 && std::strcmp(argv[2], "run") == 0) print_run_help();
    else if (argc > 2 && std::strcmp(argv[2], "report") == 0) print_report_help();
    else if (argc > 2 && std::strcmp(argv[2], "profile") == 0) print_profile_help();
    else print_main_help();
    return kExitOk;
  }
  if (std::strcmp(command, "run") == 0) return run_command(argc - 1, argv + 1);
  if (std::strcmp(command, "report") == 0) return report_command(argc - 1, argv + 1);
  if (std::strcmp(command, "profile") == 0) return profile_command(argc - 1, argv + 1);
  std::cerr << "hakmem: unknown command '" << command << "' (try 'hakmem --help')\n";
  return kExitUsage;
}
