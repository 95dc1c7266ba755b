// A progress bar for long conversions: on stderr, and only when stderr is a terminal, so a log
// file or a pipe never gets carriage returns and escape codes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace profilemate::exporter {

class ProgressBar {
 public:
  // Below this many units of work (trace events: about 3M a second) a conversion is over in
  // less than a second: no bar.
  static constexpr uint64_t kLongConversion = 2000000;

  // On stderr when it is a terminal.
  explicit ProgressBar(std::string label);
  // Where and whether to draw, for tests.
  ProgressBar(std::string label, std::FILE* out, bool enabled, uint64_t minimum_total);
  // Erases the bar, so that the lines printed after it start on a clean line.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws when the whole percentage changes.
  void update(uint64_t done, uint64_t total);

 private:
  std::string label_;
  std::FILE* out_;
  bool enabled_;
  uint64_t minimum_total_;
  bool drawn_ = false;
  int percent_ = -1;
};

}  // namespace profilemate::exporter
