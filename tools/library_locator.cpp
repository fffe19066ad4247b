#include "library_locator.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace hakmem_cli {

namespace {

constexpr const char* kLibraryName = "libhakmem.so";

bool is_loadable_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), R_OK) == 0;
}

// LD_PRELOAD must not be handed a relative path: the dynamic loader would resolve
// it against the working directory of every program the child starts later.
std::string absolute_normal(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) return p.string();
  return abs.lexically_normal().string();
}

LibrarySearch explicit_choice(const std::string& given, const char* source) {
  LibrarySearch r;
  r.candidates.push_back(given);
  if (given.empty()) {
    r.error = std::string(source) + " is empty";
  } else if (!is_loadable_file(given)) {
    r.error = std::string(source) + " names " + given + ", which is not a readable file";
  } else {
    r.path = absolute_normal(given);
  }
  return r;
}

}  // namespace

std::string executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return exe.parent_path().string();
}

LibrarySearch locate_library(const std::optional<std::string>& from_option) {
  if (from_option) return explicit_choice(*from_option, "--lib");
  if (const char* env = std::getenv("HAKMEM_LIB")) return explicit_choice(env, "HAKMEM_LIB");

  LibrarySearch r;
  std::string dir = executable_dir();
  if (dir.empty()) {
    r.error = "cannot find the directory of this executable (/proc/self/exe)";
    return r;
  }
  const fs::path up = fs::path(dir) / "..";
  std::vector<fs::path> places = {
      up / kLibraryName,
      up / "lib" / kLibraryName,
      up / "lib" / "x86_64-linux-gnu" / kLibraryName,
  };
#ifdef HAKMEM_CLI_INSTALL_LIBDIR
  places.push_back(up / HAKMEM_CLI_INSTALL_LIBDIR / kLibraryName);
#endif
  for (const fs::path& p : places) {
    std::string shown = p.lexically_normal().string();
    bool seen = false;
    for (const std::string& c : r.candidates) seen = seen || c == shown;
    if (seen) continue;
    r.candidates.push_back(shown);
    if (is_loadable_file(p)) {
      r.path = absolute_normal(p);
      return r;
    }
  }
  r.error = "cannot find libhakmem.so";
  return r;
}

}  // namespace hakmem_cli
