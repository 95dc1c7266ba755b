// The throwaway session the benchmarks record into: one per benchmark run, removed at exit.
#pragma once

namespace profilemate::bench {

// Points PROFILEMATE_SESSION_DIR at a fresh directory (once) and arranges for the recorder to
// stop and the directory to be removed at exit.
void use_throwaway_session();

}  // namespace profilemate::bench
