// The heap profile that the allocator writes (HAKMEM_PROFILE=PATH, hak_profile_dump),
// read and symbolized: call stacks with the memory their sampled allocations stand for.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace hakmem_cli {

struct ProfileFrame {
  std::string function;  // demangled; "module+0xoffset" when there is no symbol
  std::string file;      // source file, when debug information has it
  int line = 0;
  std::string label() const;  // "function (file:line)"
};

// One call stack, outermost frame last, the allocator's own frames removed.
struct ProfileStack {
  std::vector<ProfileFrame> frames;
  std::uint64_t live_bytes = 0, live_blocks = 0, alloc_bytes = 0, alloc_blocks = 0;
  std::uint64_t live_samples = 0, alloc_samples = 0;
};

struct Profile {
  std::uint64_t pid = 0, rate = 0;
  bool at_exit = false;
  std::string exe, version;
  std::vector<ProfileStack> stacks;  // stacks that differ only in allocator frames are merged
};

class ProfileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and symbolizes (libdw, from the load map in the file). Throws ProfileError.
Profile load_profile(const std::string& text);

// The profile as the report page embeds it: JSON, safe inside a <script> element.
std::string profile_to_json(const Profile& profile);

}  // namespace hakmem_cli
