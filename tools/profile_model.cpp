#include "profile_model.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

#include "json.h"

namespace hakmem_cli {

namespace {

using Json = nlohmann::json;

// Symbols through elfutils' libdwfl: it reads the load map in /proc/PID/maps form (which
// is what the allocator stores), finds each module's ELF and separate debug information
// (build-id, debuglink, /usr/lib/debug) and answers function names and lines.
class Symbolizer {
 public:
  explicit Symbolizer(const std::vector<std::string>& maps) {
    static const Dwfl_Callbacks callbacks = {dwfl_linux_proc_find_elf, dwfl_standard_find_debuginfo, nullptr, nullptr};
    dwfl_ = dwfl_begin(&callbacks);
    if (!dwfl_) return;
    std::string text;
    for (const std::string& l : maps) text += l + "\n";
    dwfl_report_begin(dwfl_);
    if (FILE* f = fmemopen(text.data(), text.size(), "r")) {
      dwfl_linux_proc_maps_report(dwfl_, f);
      fclose(f);
    }
    dwfl_report_end(dwfl_, nullptr, nullptr);
  }
  ~Symbolizer() {
    if (dwfl_) dwfl_end(dwfl_);
  }
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // `pc` is a return address (every frame but the allocator's first is one): looking up
  // pc - 1 names the call, not the instruction after it.
  const ProfileFrame& frame(std::uint64_t pc, bool* in_allocator) {
    auto it = cache_.find(pc);
    if (it == cache_.end()) it = cache_.emplace(pc, resolve(pc - 1)).first;
    *in_allocator = it->second.second;
    return it->second.first;
  }

 private:
  std::pair<ProfileFrame, bool> resolve(std::uint64_t addr) {
    ProfileFrame f;
    bool allocator = false;
    Dwfl_Module* m = dwfl_ ? dwfl_addrmodule(dwfl_, addr) : nullptr;
    if (!m) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr));
      f.function = buf;
      return {f, false};
    }
    Dwarf_Addr base = 0;
    const char* module = dwfl_module_info(m, nullptr, &base, nullptr, nullptr, nullptr, nullptr, nullptr);
    std::string mod = module ? module : "?";
    std::string base_name = mod.substr(mod.rfind('/') + 1);
    allocator = base_name.rfind("libhakmem", 0) == 0;
    GElf_Off off = 0;
    GElf_Sym sym;
    if (const char* name = dwfl_module_addrinfo(m, addr, &off, &sym, nullptr, nullptr, nullptr)) {
      int status = 0;
      std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
      f.function = status == 0 && d ? d.get() : name;
      if (auto at = f.function.find("@@"); at != std::string::npos) f.function.resize(at);  // symbol version
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(addr - base));
      f.function = base_name + buf;
    }
    if (Dwfl_Line* line = dwfl_module_getsrc(m, addr)) {
      int lineno = 0;
      if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
        f.file = file;
        f.line = lineno;
      }
    }
    // Linked statically, the allocator lives in the program: know it by its names.
    const std::string& fn = f.function;
    static const char* const kEntryPoints[] = {"malloc", "calloc", "realloc", "reallocarray", "free",
                                               "posix_memalign", "aligned_alloc", "memalign", "valloc",
                                               "pvalloc"};
    if (fn.rfind("hakmem::", 0) == 0 || fn.rfind("hak_", 0) == 0 || fn.rfind("operator new", 0) == 0) allocator = true;
    for (const char* e : kEntryPoints)
      if (fn == e) allocator = true;
    return {f, allocator};
  }

  Dwfl* dwfl_ = nullptr;
  std::map<std::uint64_t, std::pair<ProfileFrame, bool>> cache_;
};

std::uint64_t count(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_unsigned())
    throw ProfileError(std::string("missing or malformed field \"") + key + "\"");
  return it->get<std::uint64_t>();
}

}  // namespace

std::string ProfileFrame::label() const {
  if (file.empty()) return function;
  return function + " (" + file.substr(file.rfind('/') + 1) + ":" + std::to_string(line) + ")";
}

Profile load_profile(const std::string& text) {
  Json root;
  try {
    root = hakmem_cli::json::parse(text);
  } catch (const hakmem_cli::json::ParseError& e) {
    std::string at = e.line ? std::to_string(e.line) + ":" + std::to_string(e.column) + ": " : "";
    throw ProfileError(at + "malformed JSON: " + e.what());
  }
  if (!root.is_object() || !root.contains("hakmem_profile")) throw ProfileError("not a hakmem heap profile");
  Profile p;
  try {
    p.pid = count(root, "pid");
    p.rate = count(root, "rate");
    p.at_exit = root.at("at_exit").get<bool>();
    p.exe = root.at("exe").get<std::string>();
    p.version = root.at("hakmem").get<std::string>();
    Symbolizer symbols(root.at("maps").get<std::vector<std::string>>());
    std::map<std::string, std::size_t> index;  // merged stacks by their frames' labels
    for (const Json& s : root.at("stacks")) {
      ProfileStack st;
      bool leading = true;  // the allocator's frames come first; later ones (callbacks) stay
      for (const Json& f : s.at("frames")) {
        std::uint64_t pc = std::stoull(f.get<std::string>(), nullptr, 16);
        bool in_allocator = false;
        const ProfileFrame& frame = symbols.frame(pc, &in_allocator);
        if (leading && in_allocator) continue;
        leading = false;
        st.frames.push_back(frame);
      }
      std::string key;
      for (const ProfileFrame& f : st.frames) key += f.label() + "\n";
      auto [it, fresh] = index.emplace(key, p.stacks.size());
      if (fresh) p.stacks.push_back(std::move(st));
      ProfileStack& into = p.stacks[it->second];
      into.live_bytes += count(s, "live_bytes");
      into.live_blocks += count(s, "live_blocks");
      into.alloc_bytes += count(s, "alloc_bytes");
      into.alloc_blocks += count(s, "alloc_blocks");
      into.live_samples += count(s, "live_samples");
      into.alloc_samples += count(s, "alloc_samples");
    }
  } catch (const Json::exception& e) {
    throw ProfileError(e.what());
  } catch (const std::invalid_argument&) {
    throw ProfileError("a frame is not a hexadecimal address");
  }
  return p;
}

std::string profile_to_json(const Profile& p) {
  Json stacks = Json::array();
  for (const ProfileStack& s : p.stacks) {
    Json frames = Json::array();
    for (const ProfileFrame& f : s.frames) frames.push_back(f.label());
    stacks.push_back({{"frames", frames}, {"live_bytes", s.live_bytes}, {"live_blocks", s.live_blocks},
                      {"alloc_bytes", s.alloc_bytes}, {"alloc_blocks", s.alloc_blocks}});
  }
  Json doc = {{"pid", p.pid}, {"rate", p.rate}, {"at_exit", p.at_exit}, {"exe", p.exe}, {"stacks", stacks}};
  return hakmem_cli::json::dump_for_html(doc);
}

}  // namespace hakmem_cli
