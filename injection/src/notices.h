// Saying what degraded and what still works: one stderr line starting "[ProfileMate]" and the
// same text as a Notice record, so metadata.json has it too.
#pragma once

#include <string>

#include "profilemate/recorder.h"

namespace profilemate::injection {

// `source` names the part that speaks, in metadata.json.
void notice(profilemate_Notice_Severity severity, const std::string& message, const char* source = "cupti");

}  // namespace profilemate::injection
