#include "notices.h"

#include <cstdio>

namespace profilemate::injection {

void notice(profilemate_Notice_Severity severity, const std::string& message, const char* source) {
  std::fprintf(stderr, "[ProfileMate] %s\n", message.c_str());
  profilemate_Notice record = profilemate_Notice_init_zero;
  record.t_ns = pm_now();
  record.severity = severity;
  pm_copy_string(record.source, sizeof record.source, source);
  pm_copy_string(record.message, sizeof record.message, message.c_str());
  pm_record(profilemate_Record_notice_tag, &record);
}

}  // namespace profilemate::injection
