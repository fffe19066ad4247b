// The stylesheet and script inlined into every report page.
#pragma once

namespace hakmem_cli {

extern const char kReportStyle[];
extern const char kReportScript[];

}  // namespace hakmem_cli
