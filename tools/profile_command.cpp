// hakmem profile: the heap profile as text (top sites, leak candidates) or folded stacks.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "cli.h"
#include "profile_model.h"

namespace hakmem_cli {

void print_profile_help() {
  std::cout <<
      "Usage: hakmem profile [--alloc] [--top N] [--folded | --leaks] PROFILE\n"
      "\n"
      "Reads a heap profile (hakmem run --profile=PATH, HAKMEM_PROFILE=PATH, or\n"
      "hak_profile_dump) and prints the allocation sites that hold the most memory: the\n"
      "estimated live bytes and blocks of each call stack when the profile was written,\n"
      "with function names and file:line (elfutils libdw; the program's files must still\n"
      "be where they were).\n"
      "\n"
      "Options:\n"
      "  --alloc      rank by bytes allocated over the whole run instead of live bytes\n"
      "  --top N      show the first N sites (default 10; 0: all)\n"
      "  --folded     folded stacks, 'outer;inner;leaf BYTES' per line, for flamegraph.pl,\n"
      "               speedscope or inferno (live bytes, or allocated with --alloc)\n"
      "  --leaks      the blocks still live at exit, by site: leak candidates\n"
      "  -h, --help   show this help\n"
      "\n"
      "Figures are estimates from samples (one per HAKMEM_PROFILE_RATE bytes on average).\n"
      "Exit codes: 0 done, 1 cannot read the file, 2 bad command line or not a profile.\n";
}

namespace {

enum class View { kTop, kFolded, kLeaks };

int usage_error(const std::string& message) {
  std::cerr << "hakmem profile: " << message << " (try 'hakmem profile --help')\n";
  return kExitUsage;
}

std::string bytes(std::uint64_t n) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, u++;
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%" PRIu64 " B", n);
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string function_or_unknown(const ProfileStack& s, std::size_t i) {
  return i < s.frames.size() ? s.frames[i].label() : std::string("(unknown)");
}

void print_top(const Profile& p, std::vector<const ProfileStack*>& order, bool alloc, std::size_t top) {
  std::uint64_t total = 0, blocks = 0, samples = 0;
  for (const ProfileStack* s : order) {
    total += alloc ? s->alloc_bytes : s->live_bytes;
    blocks += alloc ? s->alloc_blocks : s->live_blocks;
    samples += alloc ? s->alloc_samples : s->live_samples;
  }
  std::cout << "hakmem profile of pid " << p.pid << " (" << p.exe << "), written "
            << (p.at_exit ? "at exit" : "while running") << "; one sample per " << bytes(p.rate)
            << " on average\n"
            << (alloc ? "allocated over the run: " : "live: ") << bytes(total) << " in " << blocks
            << " blocks (estimated from " << samples << " samples)\n\n";
  std::printf("%4s %12s %7s %10s  %s\n", "rank", alloc ? "allocated" : "live bytes", "share", "blocks", "site");
  std::size_t shown = 0;
  for (const ProfileStack* s : order) {
    std::uint64_t b = alloc ? s->alloc_bytes : s->live_bytes;
    if (b == 0 || (top && shown == top)) break;
    shown++;
    std::printf("%4zu %12s %6.1f%% %10" PRIu64 "  %s\n", shown, bytes(b).c_str(), total ? 100.0 * double(b) / double(total) : 0.0,
                alloc ? s->alloc_blocks : s->live_blocks, function_or_unknown(*s, 0).c_str());
    for (std::size_t i = 1; i < s->frames.size() && i < 6; i++)
      std::printf("%37s<- %s\n", "", s->frames[i].label().c_str());
  }
}

void print_folded(std::vector<const ProfileStack*>& order, bool alloc) {
  for (const ProfileStack* s : order) {
    std::uint64_t b = alloc ? s->alloc_bytes : s->live_bytes;
    if (b == 0) continue;
    std::string line;
    for (std::size_t i = s->frames.size(); i-- > 0;) {
      std::string name = s->frames[i].function;
      std::replace(name.begin(), name.end(), ';', ':');  // ';' separates frames
      std::replace(name.begin(), name.end(), ' ', '_');  // the count follows the last space
      line += name;
      if (i) line += ';';
    }
    if (line.empty()) line = "(unknown)";
    std::cout << line << ' ' << b << '\n';
  }
}

void print_leaks(const Profile& p, std::vector<const ProfileStack*>& order, std::size_t top) {
  if (!p.at_exit)
    std::cout << "note: this profile was written while the program ran (hak_profile_dump or a signal): "
                 "live blocks are not necessarily leaks\n\n";
  std::uint64_t total = 0, blocks = 0, sites = 0, shown = 0;
  for (const ProfileStack* s : order) {
    if (!s->live_bytes) continue;
    total += s->live_bytes;
    blocks += s->live_blocks;
    sites++;
    if (top && shown == top) continue;
    shown++;
    std::cout << "Leak of ~" << s->live_bytes << " bytes in ~" << s->live_blocks << " blocks (" << s->live_samples
              << " sampled) allocated from:\n";
    for (std::size_t i = 0; i < s->frames.size(); i++) std::cout << "    #" << i << ' ' << s->frames[i].label() << '\n';
    if (s->frames.empty()) std::cout << "    #0 (unknown)\n";
    std::cout << '\n';
  }
  std::cout << "SUMMARY: hakmem: ~" << total << " bytes (" << bytes(total) << ") in ~" << blocks
            << " blocks still live at " << (p.at_exit ? "exit" : "the dump") << ", from " << sites << " sites\n";
}

}  // namespace

int profile_command(int argc, char** argv) {
  std::optional<std::string> input;
  View view = View::kTop;
  bool alloc = false;
  std::size_t top = 10;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      print_profile_help();
      return kExitOk;
    } else if (a == "--alloc") {
      alloc = true;
    } else if (a == "--folded") {
      view = View::kFolded;
    } else if (a == "--leaks") {
      view = View::kLeaks;
    } else if (a == "--top" || a.starts_with("--top=")) {
      std::string v = a == "--top" ? (i + 1 < argc ? argv[++i] : "") : std::string(a.substr(6));
      char* end = nullptr;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end || v[0] == '-') return usage_error("--top needs a number, not '" + v + "'");
      top = std::size_t(n);
    } else if (a.size() > 1 && a[0] == '-') {
      return usage_error("unknown option '" + std::string(a) + "'");
    } else if (input) {
      return usage_error("more than one profile");
    } else {
      input = std::string(a);
    }
  }
  if (!input) return usage_error("missing the profile");
  if (view == View::kLeaks && alloc) return usage_error("--leaks and --alloc do not go together");
  std::optional<std::string> text = read_input(*input, "hakmem profile");
  if (!text) return kExitIoError;
  Profile p;
  try {
    p = load_profile(*text);
  } catch (const ProfileError& e) {
    std::cerr << "hakmem profile: " << *input << ": " << e.what() << '\n';
    return kExitUsage;
  }
  std::vector<const ProfileStack*> order;
  for (const ProfileStack& s : p.stacks) order.push_back(&s);
  std::stable_sort(order.begin(), order.end(), [alloc](const ProfileStack* a, const ProfileStack* b) {
    return alloc ? a->alloc_bytes > b->alloc_bytes : a->live_bytes > b->live_bytes;
  });
  if (view == View::kFolded) print_folded(order, alloc);
  else if (view == View::kLeaks) print_leaks(p, order, top);
  else print_top(p, order, alloc, top);
  std::cout.flush();
  return kExitOk;
}

}  // namespace hakmem_cli
