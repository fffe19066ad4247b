// The HTML page of `hakmem report`: one self-contained file (inline CSS, inline
// JavaScript that draws SVG charts from the embedded stats; nothing is fetched).
#pragma once

#include <string>
#include <string_view>

#include "stats_model.h"

namespace hakmem_cli {

// Number of <svg class="chart"> elements the page draws; the page stores the count it
// actually drew in document.body.dataset.chartsDrawn, so a browser test can compare.
inline constexpr int kReportChartCount = 5;

// source_name is shown in the page (where the stats came from). profile_json, when not
// empty, is a heap profile (profile_to_json): the page adds its flame graph and top sites.
std::string render_report_page(const Stats& stats, std::string_view source_name, const std::string& profile_json = {});

}  // namespace hakmem_cli
