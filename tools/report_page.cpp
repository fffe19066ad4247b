#include "report_page.h"

#include "hakmem/hakmem.h"
#include "report_assets.h"

namespace hakmem_cli {

namespace {

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

struct ChartSection {
  const char* id;
  const char* title;
  const char* explanation;
  const char* controls;  // HTML placed beside the title, or ""
};

// The order here is the order on the page; the script draws into these ids.
constexpr ChartSection kSections[kReportChartCount] = {
    {"chart-memory", "Memory summary",
     "What hakmem holds from the operating system now and at its peak, the process's resident set, "
     "the bytes given back to the OS over the run, and large blocks (above the size classes) in use "
     "and cached.", ""},
    {"chart-occupancy", "Occupancy per size class",
     "Bytes handed out (in use, including per-thread caches) and bytes still free in the slabs of "
     "each size class.", ""},
    {"chart-fragmentation", "Fragmentation per size class",
     "Share of each class's slab capacity that is free: free / (in use + free). The dashed line is "
     "the figure over all classes.", ""},
    {"chart-remote", "Remote-free traffic per size class",
     "Frees from a thread that does not own the block's slab (remote frees), remote queues drained "
     "by the owner (drains), and slabs of exited threads taken over (adopts).",
     "<label class=\"option\"><input type=\"checkbox\" id=\"remote-log\"> logarithmic scale</label>"},
    {"chart-refill", "Refill paths per size class",
     "Where a thread found blocks when its slab of a class ran dry, in the order it tries them: its "
     "slab's own remote frees, a slab it already owns (sticky), a slab announced through a mailbox, "
     "a slab of an exited thread (adopt), a free slab of an existing SuperSlab (gate), or a new "
     "SuperSlab (fresh).", ""},
};

}  // namespace

std::string render_report_page(const Stats& stats, std::string_view source_name, const std::string& profile_json) {
  std::string title = "hakmem report \xE2\x80\x94 pid " + std::to_string(stats.pid);
  std::string page;
  page.reserve(64 * 1024);
  page +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // The page is a file on disk: it must never reach out to the network.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
      "<meta name=\"generator\" content=\"hakmem " HAKMEM_VERSION_STRING "\">\n<title>";
  page += html_escape(title);
  page += "</title>\n<style>\n";
  page += kReportStyle;
  page += "</style>\n</head>\n<body>\n<header>\n<h1>hakmem memory report</h1>\n<p class=\"meta\">pid ";
  page += std::to_string(stats.pid);
  page += " &middot; stats written by hakmem ";
  page += html_escape(stats.version);
  page += " &middot; source <code>";
  page += html_escape(source_name);
  page += "</code> &middot; rendered by hakmem " HAKMEM_VERSION_STRING "</p>\n</header>\n<main>\n";
  page +=
      "<noscript><p class=\"warning\">The charts are drawn by the script inside this page; "
      "enable JavaScript to see them.</p></noscript>\n"
      "<section class=\"cards\" id=\"cards\" aria-label=\"Totals\"></section>\n";
  for (const ChartSection& s : kSections) {
    page += "<section class=\"panel\">\n";
    page += s.controls;
    page += "<h2>";
    page += s.title;
    page += "</h2>\n<p class=\"explain\">";
    page += s.explanation;
    page += "</p>\n<svg class=\"chart\" id=\"";
    page += s.id;
    page += "\" role=\"img\" aria-label=\"";
    page += s.title;
    page += "\" xmlns=\"http://www.w3.org/2000/svg\"></svg>\n</section>\n";
  }
  if (!profile_json.empty()) {
    page +=
        "<section class=\"panel\">\n<label class=\"option\"><input type=\"checkbox\" id=\"flame-alloc\"> "
        "bytes allocated over the run</label><h2>Heap profile: who holds the memory</h2>\n<p class=\"explain\">"
        "Sampled call stacks (estimates), the program's entry at the bottom and the allocating function on top; "
        "each frame is as wide as the live bytes allocated under it. Click a frame to zoom in, again to zoom "
        "out; hover for figures.</p>\n<svg class=\"flame\" id=\"flame\" role=\"img\" aria-label=\"Flame graph\" "
        "xmlns=\"http://www.w3.org/2000/svg\"></svg>\n<h2>Top allocation sites</h2>\n"
        "<div class=\"table-wrap\"><table id=\"site-table\"></table></div>\n</section>\n"
        "<script type=\"application/json\" id=\"hakmem-profile\">\n";
    page += profile_json;
    page += "\n</script>\n";
  }
  page +=
      "<section class=\"panel\">\n<h2>Size classes</h2>\n<p class=\"explain\" id=\"table-note\"></p>\n"
      "<div class=\"table-wrap\"><table id=\"class-table\"></table></div>\n</section>\n";
  page += "</main>\n";
  page += "<script type=\"application/json\" id=\"hakmem-stats\">\n";
  page += stats_to_json(stats);  // '<' is escaped inside, so this cannot end the element
  page += "\n</script>\n<script>\n";
  page += kReportScript;
  page += "</script>\n</body>\n</html>\n";
  return page;
}

}  // namespace hakmem_cli
