// Shared pieces of the `hakmem` command: exit codes and the subcommands' entry points.
#pragma once

#include <optional>
#include <string>

namespace hakmem_cli {

// Exit codes of the command itself. `hakmem run` otherwise becomes the program, so
// its exit code is the program's; the codes for its own failures follow env(1).
enum ExitCode : int {
  kExitOk = 0,
  kExitIoError = 1,      // report: cannot read the input or write the output
  kExitUsage = 2,        // bad command line; report: malformed stats JSON
  kExitRunFailed = 125,  // run: libhakmem.so not found or unusable
  kExitNotFound = 127,   // run: the program could not be executed
};

extern const char kProgramName[];

void print_main_help();
void print_run_help();
void print_report_help();

int run_command(int argc, char** argv);     // argv[0] is "run"
int report_command(int argc, char** argv);  // argv[0] is "report"
int profile_command(int argc, char** argv);  // argv[0] is "profile"
void print_profile_help();

// A whole file ("-": stdin); on failure says why on stderr, prefixed with `command`.
std::optional<std::string> read_input(const std::string& input, const char* command);

}  // namespace hakmem_cli
