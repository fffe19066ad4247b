// hakmem report: stats JSON in, one self-contained HTML page out.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "cli.h"
#include "json.h"
#include "profile_model.h"
#include "report_page.h"
#include "stats_model.h"

namespace hakmem_cli {

void print_report_help() {
  std::cout <<
      "Usage: hakmem report STATS.json [--profile PROFILE] [-o REPORT.html]\n"
      "\n"
      "Renders the statistics that hakmem wrote (hakmem run --stats=json:PATH, or\n"
      "HAKMEM_STATS=json:PATH, or hak_stats_write_json) as one self-contained HTML page\n"
      "with charts: memory summary, occupancy, fragmentation, remote-free traffic and\n"
      "refill paths per size class. The page needs no network.\n"
      "\n"
      "Options:\n"
      "  --profile PATH     also a heap profile (hakmem run --profile=PATH): an interactive\n"
      "                     flame graph and the top allocation sites\n"
      "  -o, --output PATH  where to write the page ('-' for stdout); default: the\n"
      "                     input's name with .html instead of .json\n"
      "  -h, --help         show this help\n"
      "\n"
      "STATS.json may be '-' for stdin. Exit codes: 0 written, 1 cannot read or write\n"
      "a file, 2 bad command line or malformed stats (the message says where).\n";
}

namespace {

int usage_error(const std::string& message) {
  std::cerr << "hakmem report: " << message << " (try 'hakmem report --help')\n";
  return kExitUsage;
}

std::string default_output(const std::string& input) {
  if (input == "-") return "-";
  std::string_view base = input;
  if (base.ends_with(".json")) base.remove_suffix(5);
  return std::string(base) + ".html";
}

bool write_output(const std::string& output, const std::string& page) {
  if (output == "-") {
    std::cout << page;
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  if (out) out << page;
  if (out) out.close();
  if (!out) {
    std::cerr << "hakmem report: cannot write " << output << ": " << std::strerror(errno) << '\n';
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> read_input(const std::string& input, const char* command) {
  if (input == "-") {
    std::ostringstream all;
    all << std::cin.rdbuf();
    if (std::cin.bad()) {
      std::cerr << command << ": cannot read stdin\n";
      return std::nullopt;
    }
    return all.str();
  }
  std::ifstream in(input, std::ios::binary);
  if (!in) {
    std::cerr << command << ": cannot open " << input << ": " << std::strerror(errno) << '\n';
    return std::nullopt;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    std::cerr << command << ": cannot read " << input << ": " << std::strerror(errno) << '\n';
    return std::nullopt;
  }
  return text;
}

int report_command(int argc, char** argv) {
  std::optional<std::string> input, output, profile_path;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      print_report_help();
      return kExitOk;
    } else if (a == "-o" || a == "--output") {
      if (i + 1 >= argc) return usage_error(std::string(a) + " needs a path");
      output = argv[++i];
    } else if (a == "--profile") {
      if (i + 1 >= argc) return usage_error("--profile needs a path");
      profile_path = argv[++i];
    } else if (a.starts_with("--profile=")) {
      profile_path = std::string(a.substr(std::strlen("--profile=")));
    } else if (a.starts_with("--output=")) {
      output = std::string(a.substr(std::strlen("--output=")));
    } else if (a.size() > 1 && a[0] == '-') {
      return usage_error("unknown option '" + std::string(a) + "'");
    } else if (input) {
      return usage_error("more than one input file");
    } else {
      input = std::string(a);
    }
  }
  if (!input) return usage_error("missing the stats file");
  if (output && output->empty()) return usage_error("empty output path");
  if (!output) output = default_output(*input);

  std::optional<std::string> text = read_input(*input, "hakmem report");
  if (!text) return kExitIoError;
  const std::string shown = *input == "-" ? "<stdin>" : *input;

  Stats stats;
  try {
    stats = stats_from_json(json::parse(*text));
  } catch (const json::ParseError& e) {
    std::cerr << "hakmem report: " << shown;
    if (e.line) std::cerr << ":" << e.line << ":" << e.column;
    std::cerr << ": malformed JSON: " << e.what() << '\n';
    return kExitUsage;
  } catch (const SchemaError& e) {
    std::cerr << "hakmem report: " << shown << ": not a hakmem stats file: " << e.what() << '\n';
    return kExitUsage;
  }

  std::string profile_json;
  if (profile_path) {
    std::optional<std::string> profile_text = read_input(*profile_path, "hakmem report");
    if (!profile_text) return kExitIoError;
    try {
      profile_json = profile_to_json(load_profile(*profile_text));
    } catch (const ProfileError& e) {
      std::cerr << "hakmem report: " << *profile_path << ": " << e.what() << '\n';
      return kExitUsage;
    }
  }
  if (!write_output(*output, render_report_page(stats, shown, profile_json))) return kExitIoError;
  if (*output != "-") std::cerr << "hakmem report: wrote " << *output << '\n';
  return kExitOk;
}

}  // namespace hakmem_cli
