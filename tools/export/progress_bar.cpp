#include "progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

namespace profilemate::exporter {

ProgressBar::ProgressBar(std::string label)
    : ProgressBar(std::move(label), stderr, isatty(STDERR_FILENO) == 1, kLongConversion) {}

ProgressBar::ProgressBar(std::string label, std::FILE* out, bool enabled, uint64_t minimum_total)
    : label_(std::move(label)), out_(out), enabled_(enabled), minimum_total_(minimum_total) {}

ProgressBar::~ProgressBar() {
  if (!drawn_) return;
  std::fputs("\r\033[K", out_);  // carriage return, erase to the end of the line
  std::fflush(out_);
}

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!enabled_ || total == 0 || total < minimum_total_) return;
  const int percent = static_cast<int>(std::min(done, total) * 100 / total);
  if (percent == percent_) return;
  percent_ = percent;
  constexpr int kWidth = 40;
  const int filled = percent * kWidth / 100;
  std::fprintf(out_, "\r%s [%s%s] %3d%%", label_.c_str(), std::string(filled, '#').c_str(),
               std::string(kWidth - filled, ' ').c_str(), percent);
  std::fflush(out_);
  drawn_ = true;
}

}  // namespace profilemate::exporter
