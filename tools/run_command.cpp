// hakmem run: preload libhakmem.so into a program, optionally with statistics or
// guard mode, and become that program (execvp), so its exit code is ours.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "cli.h"
#include "library_locator.h"

namespace hakmem_cli {

void print_run_help() {
  std::cout <<
      "Usage: hakmem run [options] [--] PROGRAM [ARGS...]\n"
      "\n"
      "Runs PROGRAM with libhakmem.so preloaded (LD_PRELOAD, put in front of any\n"
      "LD_PRELOAD already set). The exit code is PROGRAM's; 127 when PROGRAM cannot be\n"
      "executed, 125 when libhakmem.so cannot be found, 2 for a bad command line.\n"
      "\n"
      "Options:\n"
      "  --stats              print a statistics report on stderr when PROGRAM exits\n"
      "                       (sets HAKMEM_STATS=1)\n"
      "  --stats=json:PATH    write the statistics as JSON to PATH instead\n"
      "                       (sets HAKMEM_STATS=json:PATH; render with 'hakmem report')\n"
      "  --profile=PATH       sample allocations and write a heap profile to PATH at exit\n"
      "                       (sets HAKMEM_PROFILE=PATH; read it with 'hakmem profile')\n"
      "  --guard              guard mode: detect double and interior-pointer frees\n"
      "                       (sets HAKMEM_GUARD=1)\n"
      "  --lib PATH           use this libhakmem.so\n"
      "  -v, --verbose        say which library and settings are used, on stderr\n"
      "  -h, --help           show this help\n"
      "\n"
      "The library is, in order: --lib, $HAKMEM_LIB, ../libhakmem.so next to this\n"
      "executable's directory (build tree), ../lib/libhakmem.so or\n"
      "../lib/x86_64-linux-gnu/libhakmem.so (installed).\n";
}

namespace {

struct RunOptions {
  std::optional<std::string> stats;  // value for HAKMEM_STATS
  std::optional<std::string> profile;  // value for HAKMEM_PROFILE
  bool guard = false;
  bool verbose = false;
  std::optional<std::string> lib;
  int program_index = -1;  // index in argv of PROGRAM
};

// The program may change directory before it exits; the file belongs where the user
// asked for it.
std::string absolute_path(const std::string& path) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

int usage_error(const std::string& message) {
  std::cerr << "hakmem run: " << message << " (try 'hakmem run --help')\n";
  return kExitUsage;
}

// Returns an exit code when parsing ends the command (help or error).
std::optional<int> parse_options(int argc, char** argv, RunOptions& opt) {
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.empty() || a[0] != '-') break;  // PROGRAM without "--"
    if (a == "-h" || a == "--help") {
      print_run_help();
      return kExitOk;
    } else if (a == "--stats") {
      opt.stats.emplace("1");
    } else if (a.starts_with("--stats=")) {
      std::string_view v = a.substr(std::strlen("--stats="));
      if (!v.starts_with("json:"))
        return usage_error("--stats takes no value or json:PATH, not '" + std::string(v) + "'");
      std::string path(v.substr(std::strlen("json:")));
      if (path.empty()) return usage_error("--stats=json: needs a file name");
      opt.stats = "json:" + absolute_path(path);
    } else if (a.starts_with("--profile=")) {
      std::string path(a.substr(std::strlen("--profile=")));
      if (path.empty()) return usage_error("--profile= needs a file name");
      opt.profile = absolute_path(path);
    } else if (a == "--guard") {
      opt.guard = true;
    } else if (a == "-v" || a == "--verbose") {
      opt.verbose = true;
    } else if (a == "--lib") {
      if (i + 1 >= argc) return usage_error("--lib needs a path");
      opt.lib = argv[++i];
    } else if (a.starts_with("--lib=")) {
      opt.lib = std::string(a.substr(std::strlen("--lib=")));
    } else {
      return usage_error("unknown option '" + std::string(a) + "'");
    }
  }
  if (i >= argc) return usage_error("missing the program to run");
  opt.program_index = i;
  return std::nullopt;
}

bool set_env(const char* name, const std::string& value) {
  if (::setenv(name, value.c_str(), 1) == 0) return true;
  std::cerr << "hakmem run: cannot set " << name << ": " << std::strerror(errno) << '\n';
  return false;
}

}  // namespace

int run_command(int argc, char** argv) {
  RunOptions opt;
  if (auto done = parse_options(argc, argv, opt)) return *done;

  LibrarySearch lib = locate_library(opt.lib);
  if (!lib.path) {
    std::cerr << "hakmem run: " << lib.error << '\n';
    if (!opt.lib && !std::getenv("HAKMEM_LIB")) {
      std::cerr << "hakmem run: looked in:\n";
      for (const std::string& c : lib.candidates) std::cerr << "  " << c << '\n';
      std::cerr << "hakmem run: build the library (cmake --build BUILD --target hakmem), "
                   "or name it with --lib PATH or HAKMEM_LIB=PATH\n";
    }
    return kExitRunFailed;
  }
  // ld.so splits LD_PRELOAD at spaces and colons; such a path cannot be preloaded.
  if (lib.path->find_first_of(" :") != std::string::npos) {
    std::cerr << "hakmem run: cannot preload " << *lib.path
              << ": LD_PRELOAD cannot hold a path with spaces or colons\n";
    return kExitRunFailed;
  }

  std::string preload = *lib.path;
  if (const char* existing = std::getenv("LD_PRELOAD"); existing && *existing) {
    preload += ':';
    preload += existing;
  }
  if (!set_env("LD_PRELOAD", preload)) return kExitRunFailed;
  if (opt.stats && !set_env("HAKMEM_STATS", *opt.stats)) return kExitRunFailed;
  if (opt.guard && !set_env("HAKMEM_GUARD", "1")) return kExitRunFailed;
  if (opt.profile && !set_env("HAKMEM_PROFILE", *opt.profile)) return kExitRunFailed;

  char** program = argv + opt.program_index;
  if (opt.verbose) {
    std::cerr << "hakmem run: LD_PRELOAD=" << preload;
    if (opt.stats) std::cerr << " HAKMEM_STATS=" << *opt.stats;
    if (opt.guard) std::cerr << " HAKMEM_GUARD=1";
    if (opt.profile) std::cerr << " HAKMEM_PROFILE=" << *opt.profile;
    for (char** p = program; *p; ++p) std::cerr << ' ' << *p;
    std::cerr << '\n';
  }
  std::cout.flush();
  std::cerr.flush();
  ::execvp(program[0], program);
  int err = errno;
  std::cerr << "hakmem run: cannot execute '" << program[0] << "': " << std::strerror(err) << '\n';
  return kExitNotFound;
}

}  // namespace hakmem_cli
