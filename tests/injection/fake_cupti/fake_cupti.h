// Control interface of the fake CUPTI: what the driver simulator uses to play the parts of the
// CUDA runtime, the driver and CUPTI's activity worker. The CUPTI functions themselves are the
// real cupti.h prototypes, exported by libfake_cupti.so.
#pragma once

#include <cupti.h>

#include <cstddef>
#include <cstdint>

extern "C" {

struct FakeGraphTrace {
  uint32_t correlation_id;
  uint64_t start;  // CUPTI clock: CLOCK_REALTIME ns
  uint64_t end;
  uint32_t graph_id;
  uint32_t stream_id;
};

// Calls the subscriber for one API callback site, as CUPTI would; returns 1 if it was delivered
// (subscribed and that cbid enabled).
int fake_cupti_api(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, CUpti_ApiCallbackSite site,
                   const void* params, uint32_t correlation_id, const void* return_value,
                   uint64_t* correlation_data);
// Delivers CUPTI_CBID_STATE_FATAL_ERROR.
void fake_cupti_state_fatal(CUptiResult result, const char* message);
// Fills activity buffers (requested from the subscriber, `per_buffer` records each) and queues
// them; cuptiActivityFlushAll hands them back through the completion callback.
void fake_cupti_queue_graph_traces(const FakeGraphTrace* traces, size_t count, size_t per_buffer);
// GPU records the device has produced and CUPTI holds: the next cuptiActivityFlushAll hands
// them all over in one delivery, filling buffers requested from the subscriber one after another
// on the flushing thread (as many as it takes: each completed one is lent again). `traces` must
// stay valid until fake_cupti_held_records() is 0.
void fake_cupti_hold_graph_traces(const FakeGraphTrace* traces, size_t count);
size_t fake_cupti_held_records(void);
// CUPTI 13's per-thread buffers under a steady load: the record goes into the calling thread's
// buffer (requested from the subscriber when it has none; declined: the record is dropped). A
// full buffer is complete. A default flush hands back complete buffers only (a partly filled one
// still holds records of work in flight); a forced flush hands back every buffer.
void fake_cupti_record_in_thread_buffer(const FakeGraphTrace* trace);
// CUPTI's own worker: from now on complete buffers are also handed back from a thread of the
// fake's, so the completion callback may run on two threads at once.
void fake_cupti_start_worker(void);
// Buffers queued and not yet handed back by a flush.
size_t fake_cupti_pending_buffers(void);
// The next cuptiActivityGetNumDroppedRecords reports `count`.
void fake_cupti_set_dropped(size_t count);
// Whether anyone subscribed, and how many buffers were declined.
int fake_cupti_subscribed(void);
size_t fake_cupti_declined_buffers(void);
}
