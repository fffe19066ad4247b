// Finds libhakmem.so for `hakmem run`.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace hakmem_cli {

struct LibrarySearch {
  std::optional<std::string> path;     // absolute path of the library, when found
  std::string error;                   // why not, when not found
  std::vector<std::string> candidates; // the places looked at, for the error message
};

// Order: the --lib argument, else $HAKMEM_LIB, else relative to this executable:
// ../libhakmem.so (build tree), ../lib/libhakmem.so, ../lib/x86_64-linux-gnu/libhakmem.so
// and ../<CMAKE_INSTALL_LIBDIR>/libhakmem.so (installed layouts). An explicit choice
// (--lib or $HAKMEM_LIB) that does not exist is an error, never a silent fallback.
LibrarySearch locate_library(const std::optional<std::string>& from_option);

// Directory of the running executable (from /proc/self/exe), empty if unknown.
std::string executable_dir();

}  // namespace hakmem_cli
