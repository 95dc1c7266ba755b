/* profilemate._native: the Python hooks' bridge to the recorder core (C ABI in
 * recorder/include/profilemate/recorder.h). Stable ABI: one build serves Python 3.10 and later.
 * Every function is cheap and never raises on a recording failure: the hooks count those. */
#define Py_LIMITED_API 0x030A0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "profilemate/recorder.h"

static PyObject* native_start(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  return PyBool_FromLong(pm_start() == PM_OK);
}

static PyObject* native_active(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  return PyBool_FromLong(pm_active());
}

static PyObject* native_now(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  return PyLong_FromUnsignedLongLong(pm_now());
}

/* flush(timeout_ms): waits, without the GIL, until what was recorded so far is in the file. */
static PyObject* native_flush(PyObject* self, PyObject* args) {
  (void)self;
  unsigned int timeout_ms;
  if (!PyArg_ParseTuple(args, "I", &timeout_ms)) return NULL;
  PyThreadState* saved = PyEval_SaveThread();
  const int status = pm_flush(timeout_ms);
  PyEval_RestoreThread(saved);
  return PyBool_FromLong(status == PM_OK);
}

static PyObject* native_session_dir(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  return PyUnicode_FromString(pm_session_dir());
}

/* range_push(message, payload) / range_pop(): an NVTX push/pop range in the "ProfileMate" domain
 * on this thread (pm_range_push/pop), for an nsys timeline; almost free when no NVTX tool is
 * attached. The hooks pass constant strings, whose UTF-8 form Python keeps: nothing is copied. */
static PyObject* native_range_push(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  if (nargs != 2) {
    PyErr_Format(PyExc_TypeError, "expected 2 arguments, got %zd", nargs);
    return NULL;
  }
  const char* message = PyUnicode_AsUTF8AndSize(args[0], NULL);
  if (message == NULL) return NULL;
  const unsigned long long payload = PyLong_AsUnsignedLongLong(args[1]);
  if (payload == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  pm_range_push(message, payload);
  Py_RETURN_NONE;
}

static PyObject* native_range_pop(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  pm_range_pop();
  Py_RETURN_NONE;
}

static PyObject* recorded(int status) {
  return PyBool_FromLong(status == PM_OK);
}

/* Records are passed by name: each function takes keyword arguments named as the proto's fields
 * (the nanopb struct's members, whose names the FIELD macros stringify), listed in a table that
 * says where each goes and how it converts. The C side only converts and encodes; what a field
 * means is decided in Python. A field the table lacks, a required field missing, a positional
 * argument or a value that does not fit is a TypeError naming the function and the field. No function
 * takes more than 15 fields: CPython passes a call's keywords without building a dict only up to 15
 * (tests/pyhooks/test_native_bridge.py checks the tables and the hooks' calls). */
typedef enum { U64, U32, F32, STR, BOOL, OBJECT } Kind;

typedef struct {
  const char* name;
  Kind kind;
  size_t offset;  /* in the call's struct */
  size_t size;    /* of a STR's buffer */
  Py_ssize_t has; /* offset of an optional field's has_ flag (None or absent: false), else -1 */
  PyObject* key;  /* the interned name, made at import: keywords at a call site are interned too */
} Field;

typedef struct {
  const char* function;
  Field* fields;
  Py_ssize_t count;
} Fields;

#define MEMBER(T, member, name, kind, has) \
  { name, kind, offsetof(T, member), sizeof(((T*)0)->member), has, NULL }
#define FIELD_OF(T, member, kind) MEMBER(T, member, #member, kind, -1)
#define OPTIONAL_OF(T, member, kind) MEMBER(T, member, #member, kind, (Py_ssize_t)offsetof(T, has_##member))
/* A field of the record `e` inside a call's struct that has more. */
#define FIELD_IN(T, member, kind) MEMBER(T, e.member, #member, kind, -1)
#define FIELDS(function, table) \
  { function, table, (Py_ssize_t)(sizeof table / sizeof table[0]) }

_Static_assert(sizeof(profilemate_Phase) == sizeof(uint32_t), "Phase is stored as a uint32");

static int field_error(const Fields* spec, const Field* f, PyObject* value, const char* expected) {
  PyErr_Clear();
  PyErr_Format(PyExc_TypeError, "%s(): field %s must be %s, got %R", spec->function, f->name, expected,
               value);
  return 0;
}

static int store(const Fields* spec, const Field* f, char* out, PyObject* value) {
  if (f->has >= 0) {
    *(bool*)(out + f->has) = value != Py_None;
    if (value == Py_None) return 1;
  }
  char* at = out + f->offset;
  switch (f->kind) {
    case U64: {
      const unsigned long long v = PyLong_AsUnsignedLongLong(value);
      if (v == (unsigned long long)-1 && PyErr_Occurred()) return field_error(spec, f, value, "an int >= 0");
      *(uint64_t*)at = v;
      return 1;
    }
    case U32: {
      const unsigned long long v = PyLong_AsUnsignedLongLong(value);
      if ((v == (unsigned long long)-1 && PyErr_Occurred()) || v > UINT32_MAX)
        return field_error(spec, f, value, "an int in [0, 2**32)");
      *(uint32_t*)at = (uint32_t)v;
      return 1;
    }
    case F32: {
      const double v = PyFloat_AsDouble(value);
      if (v == -1.0 && PyErr_Occurred()) return field_error(spec, f, value, "a number");
      *(float*)at = (float)v;
      return 1;
    }
    case STR: {
      const char* v = PyUnicode_Check(value) ? PyUnicode_AsUTF8AndSize(value, NULL) : NULL;
      if (v == NULL) return field_error(spec, f, value, "a str");
      pm_copy_string(at, f->size, v);
      return 1;
    }
    case BOOL: {
      const int v = PyObject_IsTrue(value);
      if (v < 0) return field_error(spec, f, value, "true or false");
      *(bool*)at = v != 0;
      return 1;
    }
    case OBJECT: *(PyObject**)at = value; return 1; /* borrowed: the call holds it */
  }
  return 0;
}

static const Field* find(const Fields* spec, PyObject* key, Py_ssize_t position, Py_ssize_t* index) {
  if (position < spec->count && spec->fields[position].key == key) { /* the usual order */
    *index = position;
    return &spec->fields[position];
  }
  for (Py_ssize_t i = 0; i < spec->count; ++i) {
    if (spec->fields[i].key == key || PyUnicode_Compare(spec->fields[i].key, key) == 0) {
      *index = i;
      return &spec->fields[i];
    }
  }
  return NULL;
}

/* Fills `out` (zeroed by the caller) from the call's keyword arguments. */
static int parse_fields(const Fields* spec, void* out, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) {
  if (nargs != 0) {
    PyErr_Format(PyExc_TypeError, "%s() takes its fields by name, got %zd positional argument(s)",
                 spec->function, nargs);
    return 0;
  }
  const Py_ssize_t given = kwnames != NULL ? PyTuple_Size(kwnames) : 0;
  uint64_t seen = 0;
  for (Py_ssize_t i = 0; i < given; ++i) {
    PyObject* key = PyTuple_GetItem(kwnames, i);
    Py_ssize_t index = 0;
    const Field* f = find(spec, key, i, &index);
    if (f == NULL) {
      PyErr_Format(PyExc_TypeError, "%s() has no field %R", spec->function, key);
      return 0;
    }
    if (!store(spec, f, (char*)out, args[i])) return 0;
    seen |= 1ull << index;
  }
  for (Py_ssize_t i = 0; i < spec->count; ++i) {
    if (spec->fields[i].has < 0 && !(seen & (1ull << i))) {
      PyErr_Format(PyExc_TypeError, "%s() is missing field %s", spec->function, spec->fields[i].name);
      return 0;
    }
  }
  return 1;
}

#define PARSE(spec, out) parse_fields(&spec, &out, args, nargs, kwnames)
#define NAMED_FUNCTION(name) \
  static PyObject* native_##name(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames)

/* scheduler_step(<SchedulerStep's fields>): the SchedulerStep and the CPU time of schedule() as a
 * CpuOperation "scheduler.schedule". The step's KvUsage is a kv_usage() call of its own: with its
 * two fields here, a call would pass 16 keywords, and CPython passes more than 15 through a dict. */
static Field kSchedulerStep[] = {
    FIELD_OF(profilemate_SchedulerStep, step, U64),
    FIELD_OF(profilemate_SchedulerStep, t_ns, U64),
    FIELD_OF(profilemate_SchedulerStep, schedule_duration_ns, U64),
    FIELD_OF(profilemate_SchedulerStep, num_seqs, U32),
    FIELD_OF(profilemate_SchedulerStep, max_num_seqs, U32),
    FIELD_OF(profilemate_SchedulerStep, num_tokens, U32),
    FIELD_OF(profilemate_SchedulerStep, max_tokens, U32),
    FIELD_OF(profilemate_SchedulerStep, num_prefill_seqs, U32),
    FIELD_OF(profilemate_SchedulerStep, num_decode_seqs, U32),
    FIELD_OF(profilemate_SchedulerStep, num_prefill_tokens, U32),
    FIELD_OF(profilemate_SchedulerStep, num_decode_tokens, U32),
    FIELD_OF(profilemate_SchedulerStep, running_queue_len, U32),
    FIELD_OF(profilemate_SchedulerStep, waiting_queue_len, U32),
    OPTIONAL_OF(profilemate_SchedulerStep, kv_usage_pct, F32),
};
static Fields kSchedulerStepFields = FIELDS("scheduler_step", kSchedulerStep);

NAMED_FUNCTION(scheduler_step) {
  (void)self;
  profilemate_SchedulerStep e = profilemate_SchedulerStep_init_zero;
  if (!PARSE(kSchedulerStepFields, e)) return NULL;
  int status = pm_record(profilemate_Record_scheduler_step_tag, &e);
  profilemate_CpuOperation op = profilemate_CpuOperation_init_zero;
  op.t_ns = e.t_ns;
  op.step = e.step;
  op.thread = pm_thread();
  pm_copy_string(op.operation, sizeof op.operation, "scheduler.schedule");
  op.duration_ns = e.schedule_duration_ns;
  status |= pm_record(profilemate_Record_cpu_operation_tag, &op);
  return recorded(status);
}

static Field kKvEviction[] = {
    FIELD_OF(profilemate_KvEviction, t_ns, U64),
    FIELD_OF(profilemate_KvEviction, block_id, U64),
    FIELD_OF(profilemate_KvEviction, lifetime_ns, U64),
    FIELD_OF(profilemate_KvEviction, idle_ns, U64),
};
static Fields kKvEvictionFields = FIELDS("kv_eviction", kKvEviction);

NAMED_FUNCTION(kv_eviction) {
  (void)self;
  profilemate_KvEviction e = profilemate_KvEviction_init_zero;
  if (!PARSE(kKvEvictionFields, e)) return NULL;
  return recorded(pm_record(profilemate_Record_kv_eviction_tag, &e));
}

/* preemption(...): a preemption or a resumption; kv_usage_before_pct and tokens_found_in_cache
 * are None when not known. */
static Field kPreemption[] = {
    FIELD_OF(profilemate_Preemption, t_ns, U64),
    FIELD_OF(profilemate_Preemption, step, U64),
    FIELD_OF(profilemate_Preemption, request_id, STR),
    FIELD_OF(profilemate_Preemption, event, STR),
    FIELD_OF(profilemate_Preemption, reason, STR),
    FIELD_OF(profilemate_Preemption, running_ns, U64),
    FIELD_OF(profilemate_Preemption, computed_tokens_lost, U32),
    FIELD_OF(profilemate_Preemption, blocks_freed, U32),
    OPTIONAL_OF(profilemate_Preemption, kv_usage_before_pct, F32),
    FIELD_OF(profilemate_Preemption, extra_info, STR),
    OPTIONAL_OF(profilemate_Preemption, tokens_found_in_cache, U32),
};
static Fields kPreemptionFields = FIELDS("preemption", kPreemption);

NAMED_FUNCTION(preemption) {
  (void)self;
  profilemate_Preemption e = profilemate_Preemption_init_zero;
  if (!PARSE(kPreemptionFields, e)) return NULL;
  return recorded(pm_record(profilemate_Record_preemption_tag, &e));
}

/* notice(severity, source, message): severity is profilemate.Notice.Severity's number. */
static PyObject* native_notice(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_Notice e = profilemate_Notice_init_zero;
  int severity;
  const char *source, *message;
  if (!PyArg_ParseTuple(args, "iss", &severity, &source, &message)) return NULL;
  e.t_ns = pm_now();
  e.severity = (profilemate_Notice_Severity)severity;
  pm_copy_string(e.source, sizeof e.source, source);
  pm_copy_string(e.message, sizeof e.message, message);
  return recorded(pm_record(profilemate_Record_notice_tag, &e));
}

/* hook_failures(total): the hooks' recording failures so far (cumulative, as DroppedRecords). */
static PyObject* native_hook_failures(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_DroppedRecords e = profilemate_DroppedRecords_init_zero;
  unsigned long long total;
  if (!PyArg_ParseTuple(args, "K", &total)) return NULL;
  e.t_ns = pm_now();
  e.reason = profilemate_DroppedRecords_Reason_HOOK_FAILURE;
  e.dropped = total;
  return recorded(pm_record(profilemate_Record_dropped_records_tag, &e));
}

static Field kKvUsage[] = {
    FIELD_OF(profilemate_KvUsage, t_ns, U64),
    FIELD_OF(profilemate_KvUsage, step, U64),
    FIELD_OF(profilemate_KvUsage, used_blocks, U32),
    FIELD_OF(profilemate_KvUsage, total_blocks, U32),
};
static Fields kKvUsageFields = FIELDS("kv_usage", kKvUsage);

NAMED_FUNCTION(kv_usage) {
  (void)self;
  profilemate_KvUsage e = profilemate_KvUsage_init_zero;
  if (!PARSE(kKvUsageFields, e)) return NULL;
  return recorded(pm_record(profilemate_Record_kv_usage_tag, &e));
}

/* The records below carry the recording thread's index, which the C side adds. */
static Field kCpuOperation[] = {
    FIELD_OF(profilemate_CpuOperation, t_ns, U64),      FIELD_OF(profilemate_CpuOperation, step, U64),
    FIELD_OF(profilemate_CpuOperation, operation, STR), FIELD_OF(profilemate_CpuOperation, duration_ns, U64),
    FIELD_OF(profilemate_CpuOperation, context, STR),
};
static Fields kCpuOperationFields = FIELDS("cpu_operation", kCpuOperation);

NAMED_FUNCTION(cpu_operation) {
  (void)self;
  profilemate_CpuOperation e = profilemate_CpuOperation_init_zero;
  if (!PARSE(kCpuOperationFields, e)) return NULL;
  e.thread = pm_thread();
  return recorded(pm_record(profilemate_Record_cpu_operation_tag, &e));
}

/* forward_pass(...): phase is the proto's Phase number; gpu_duration_ns None when not known. */
static Field kForwardPass[] = {
    FIELD_OF(profilemate_ForwardPass, t_ns, U64),
    FIELD_OF(profilemate_ForwardPass, step, U64),
    FIELD_OF(profilemate_ForwardPass, phase, U32),
    FIELD_OF(profilemate_ForwardPass, batch_size, U32),
    FIELD_OF(profilemate_ForwardPass, num_tokens, U32),
    FIELD_OF(profilemate_ForwardPass, duration_ns, U64),
    OPTIONAL_OF(profilemate_ForwardPass, gpu_duration_ns, U64),
};
static Fields kForwardPassFields = FIELDS("forward_pass", kForwardPass);

NAMED_FUNCTION(forward_pass) {
  (void)self;
  profilemate_ForwardPass e = profilemate_ForwardPass_init_zero;
  if (!PARSE(kForwardPassFields, e)) return NULL;
  e.thread = pm_thread();
  return recorded(pm_record(profilemate_Record_forward_pass_tag, &e));
}

static Field kEncoderTiming[] = {
    FIELD_OF(profilemate_EncoderTiming, t_ns, U64),
    FIELD_OF(profilemate_EncoderTiming, step, U64),
    FIELD_OF(profilemate_EncoderTiming, component, STR),
    FIELD_OF(profilemate_EncoderTiming, duration_ns, U64),
    FIELD_OF(profilemate_EncoderTiming, context, STR),
    OPTIONAL_OF(profilemate_EncoderTiming, gpu_duration_ns, U64),
};
static Fields kEncoderTimingFields = FIELDS("encoder_timing", kEncoderTiming);

NAMED_FUNCTION(encoder_timing) {
  (void)self;
  profilemate_EncoderTiming e = profilemate_EncoderTiming_init_zero;
  if (!PARSE(kEncoderTimingFields, e)) return NULL;
  e.thread = pm_thread();
  return recorded(pm_record(profilemate_Record_encoder_timing_tag, &e));
}

static Field kPatchStatus[] = {
    FIELD_OF(profilemate_PatchStatus, component, STR),
    FIELD_OF(profilemate_PatchStatus, target, STR),
    FIELD_OF(profilemate_PatchStatus, applied, BOOL),
    FIELD_OF(profilemate_PatchStatus, reason, STR),
};
static Fields kPatchStatusFields = FIELDS("patch_status", kPatchStatus);

NAMED_FUNCTION(patch_status) {
  (void)self;
  profilemate_PatchStatus e = profilemate_PatchStatus_init_zero;
  if (!PARSE(kPatchStatusFields, e)) return NULL;
  e.t_ns = pm_now();
  return recorded(pm_record(profilemate_Record_patch_status_tag, &e));
}

/* process_info(...): empty strings and absent ranks (None) leave what the log said before. */
static Field kProcessInfo[] = {
    FIELD_OF(profilemate_ProcessInfo, process_role, STR),
    FIELD_OF(profilemate_ProcessInfo, vllm_version, STR),
    FIELD_OF(profilemate_ProcessInfo, python_version, STR),
    FIELD_OF(profilemate_ProcessInfo, torch_version, STR),
    OPTIONAL_OF(profilemate_ProcessInfo, dp_rank, U32),
    OPTIONAL_OF(profilemate_ProcessInfo, tp_rank, U32),
    OPTIONAL_OF(profilemate_ProcessInfo, pp_rank, U32),
    OPTIONAL_OF(profilemate_ProcessInfo, ep_rank, U32),
};
static Fields kProcessInfoFields = FIELDS("process_info", kProcessInfo);

NAMED_FUNCTION(process_info) {
  (void)self;
  profilemate_ProcessInfo e = profilemate_ProcessInfo_init_zero;
  if (!PARSE(kProcessInfoFields, e)) return NULL;
  e.t_ns = pm_now();
  return recorded(pm_record(profilemate_Record_process_info_tag, &e));
}

/* A batch descriptor label from (runtime_mode, num_tokens, num_reqs or -1, uniform, has_lora, wrapper),
 * the tuple the hooks' cuda_graphs.capture_label builds. */
static int parse_label(PyObject* label, profilemate_CaptureContext* c) {
  const char *mode, *wrapper;
  unsigned int num_tokens;
  long long num_reqs;
  int uniform, has_lora;
  if (!PyArg_ParseTuple(label, "sILpps", &mode, &num_tokens, &num_reqs, &uniform, &has_lora, &wrapper))
    return 0;
  pm_copy_string(c->runtime_mode, sizeof c->runtime_mode, mode);
  c->num_tokens = num_tokens;
  c->has_num_reqs = num_reqs >= 0;
  c->num_reqs = num_reqs >= 0 ? (uint32_t)num_reqs : 0;
  c->uniform = uniform != 0;
  c->has_lora = has_lora != 0;
  pm_copy_string(c->wrapper, sizeof c->wrapper, wrapper);
  return 1;
}

/* set_capture_context(runtime_mode, num_tokens, num_reqs or -1, uniform, has_lora, wrapper) */
static PyObject* native_set_capture_context(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_CaptureContext c = profilemate_CaptureContext_init_zero;
  if (!parse_label(args, &c)) return NULL;
  pm_set_capture_context(&c);
  Py_RETURN_NONE;
}

/* descriptor_replays(t_ns, label, replays): label as for set_capture_context, as one tuple */
static PyObject* native_descriptor_replays(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_DescriptorReplays e = profilemate_DescriptorReplays_init_zero;
  unsigned long long t_ns, replays;
  PyObject* label;
  if (!PyArg_ParseTuple(args, "KO!K", &t_ns, &PyTuple_Type, &label, &replays)) return NULL;
  if (!parse_label(label, &e.label)) return NULL;
  e.t_ns = t_ns;
  e.has_label = true;
  e.replays = replays;
  e.thread = pm_thread();
  return recorded(pm_record(profilemate_Record_descriptor_replays_tag, &e));
}

/* capture_context() -> (runtime_mode, num_tokens, num_reqs or None, uniform, has_lora, wrapper) or None */
static PyObject* native_capture_context(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  profilemate_CaptureContext c;
  if (!pm_get_capture_context(&c)) Py_RETURN_NONE;
  PyObject* num_reqs = c.has_num_reqs ? PyLong_FromUnsignedLong(c.num_reqs) : (Py_INCREF(Py_None), Py_None);
  return Py_BuildValue("(sINOOs)", c.runtime_mode, c.num_tokens, num_reqs, c.uniform ? Py_True : Py_False,
                       c.has_lora ? Py_True : Py_False, c.wrapper);
}

static PyObject* native_clear_capture_context(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  pm_set_capture_context(NULL);
  Py_RETURN_NONE;
}

/* MoE hooks (patches/moe.py). */

/* moe_expert_counts(t_ns, step, layer, first_expert, counts): one layer's expert selections over a
 * window, counts a list of ints (clamped to uint32); split into records of at most the proto's
 * max_count, each with the index of its first expert. */
typedef struct {
  profilemate_MoeExpertCounts e;
  PyObject* counts;
} MoeExpertCountsCall;
static Field kMoeExpertCounts[] = {
    FIELD_IN(MoeExpertCountsCall, t_ns, U64),      FIELD_IN(MoeExpertCountsCall, step, U64),
    FIELD_IN(MoeExpertCountsCall, layer, U32),     FIELD_IN(MoeExpertCountsCall, first_expert, U32),
    FIELD_OF(MoeExpertCountsCall, counts, OBJECT),
};
static Fields kMoeExpertCountsFields = FIELDS("moe_expert_counts", kMoeExpertCounts);

NAMED_FUNCTION(moe_expert_counts) {
  (void)self;
  MoeExpertCountsCall call = {profilemate_MoeExpertCounts_init_zero, NULL};
  if (!PARSE(kMoeExpertCountsFields, call)) return NULL;
  if (!PyList_Check(call.counts)) {
    PyErr_Format(PyExc_TypeError, "moe_expert_counts(): field counts must be a list of ints, got %R",
                 call.counts);
    return NULL;
  }
  const Py_ssize_t total = PyList_Size(call.counts);
  const Py_ssize_t per_record = (Py_ssize_t)(sizeof call.e.counts / sizeof call.e.counts[0]);
  int status = PM_OK;
  for (Py_ssize_t first = 0; first < total; first += per_record) {
    profilemate_MoeExpertCounts e = call.e;
    e.first_expert = (uint32_t)(call.e.first_expert + (uint64_t)first);
    const Py_ssize_t n = total - first < per_record ? total - first : per_record;
    for (Py_ssize_t i = 0; i < n; ++i) {
      const unsigned long long count = PyLong_AsUnsignedLongLong(PyList_GetItem(call.counts, first + i));
      if (count == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
      e.counts[i] = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
    }
    e.counts_count = (pb_size_t)n;
    status |= pm_record(profilemate_Record_moe_expert_counts_tag, &e);
  }
  return recorded(status);
}

static Field kMoeTiming[] = {
    FIELD_OF(profilemate_MoeLayerTiming, t_ns, U64),
    FIELD_OF(profilemate_MoeLayerTiming, step, U64),
    FIELD_OF(profilemate_MoeLayerTiming, layer, U32),
    FIELD_OF(profilemate_MoeLayerTiming, num_tokens, U32),
    FIELD_OF(profilemate_MoeLayerTiming, duration_ns, U64),
    OPTIONAL_OF(profilemate_MoeLayerTiming, gpu_duration_ns, U64),
};
static Fields kMoeTimingFields = FIELDS("moe_timing", kMoeTiming);

NAMED_FUNCTION(moe_timing) {
  (void)self;
  profilemate_MoeLayerTiming e = profilemate_MoeLayerTiming_init_zero;
  if (!PARSE(kMoeTimingFields, e)) return NULL;
  e.thread = pm_thread();
  return recorded(pm_record(profilemate_Record_moe_timing_tag, &e));
}

/* count_selections(counts_address, num_experts, ids_address, num_ids, id_bytes): adds one to
 * counts[id] for each of the num_ids ids (signed integers of id_bytes, 4 or 8, one after another)
 * at ids_address; counts is num_experts int64 counters at counts_address. Both are host memory the
 * caller holds (moe.py: a CPU tensor's storage, contiguous). An id that is not an expert is a
 * ValueError naming it, and nothing is added: the ids are checked before any counter moves. One
 * call instead of the index_add_ torch would dispatch: on the CPU, where every layer call runs
 * this, torch's dispatch costs microseconds when the forward has left the caches cold. */
typedef struct {
  uint64_t counts_address;
  uint32_t num_experts;
  uint64_t ids_address;
  uint32_t num_ids;
  uint32_t id_bytes;
} CountSelectionsCall;
static Field kCountSelections[] = {
    FIELD_OF(CountSelectionsCall, counts_address, U64), FIELD_OF(CountSelectionsCall, num_experts, U32),
    FIELD_OF(CountSelectionsCall, ids_address, U64),    FIELD_OF(CountSelectionsCall, num_ids, U32),
    FIELD_OF(CountSelectionsCall, id_bytes, U32),
};
static Fields kCountSelectionsFields = FIELDS("count_selections", kCountSelections);

static int64_t id_at(const CountSelectionsCall* c, uint32_t i) {
  return c->id_bytes == 4 ? ((const int32_t*)(uintptr_t)c->ids_address)[i]
                          : ((const int64_t*)(uintptr_t)c->ids_address)[i];
}

NAMED_FUNCTION(count_selections) {
  (void)self;
  CountSelectionsCall c = {0, 0, 0, 0, 0};
  if (!PARSE(kCountSelectionsFields, c)) return NULL;
  if (c.id_bytes != 4 && c.id_bytes != 8) {
    PyErr_Format(PyExc_ValueError, "count_selections(): field id_bytes must be 4 or 8, got %u", c.id_bytes);
    return NULL;
  }
  if (c.num_ids == 0) Py_RETURN_NONE;
  if (c.counts_address == 0 || c.ids_address == 0) {
    PyErr_SetString(PyExc_ValueError, "count_selections(): counts_address and ids_address must not be 0");
    return NULL;
  }
  for (uint32_t i = 0; i < c.num_ids; ++i) {
    const int64_t id = id_at(&c, i);
    if (id < 0 || id >= (int64_t)c.num_experts) {
      PyErr_Format(PyExc_ValueError, "count_selections(): id %lld (at %u) is not one of the %u experts",
                   (long long)id, i, c.num_experts);
      return NULL;
    }
  }
  int64_t* counts = (int64_t*)(uintptr_t)c.counts_address;
  for (uint32_t i = 0; i < c.num_ids; ++i) ++counts[id_at(&c, i)];
  Py_RETURN_NONE;
}

/* Every record function's table (fields() lists them); count_selections' is apart. */
static Fields* const kAllFields[] = {
    &kSchedulerStepFields, &kKvEvictionFields,  &kPreemptionFields,    &kKvUsageFields,
    &kCpuOperationFields,  &kForwardPassFields, &kEncoderTimingFields, &kMoeExpertCountsFields,
    &kMoeTimingFields,     &kPatchStatusFields, &kProcessInfoFields,
};

/* fields() -> {function: (field, ...)}: the names each record function takes (for tests and
 * diagnose). */
static PyObject* native_fields(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  PyObject* all = PyDict_New();
  if (all == NULL) return NULL;
  for (size_t t = 0; t < sizeof kAllFields / sizeof kAllFields[0]; ++t) {
    const Fields* spec = kAllFields[t];
    PyObject* names = PyTuple_New(spec->count);
    if (names == NULL) goto failed;
    for (Py_ssize_t i = 0; i < spec->count; ++i) {
      Py_INCREF(spec->fields[i].key);
      PyTuple_SetItem(names, i, spec->fields[i].key);
    }
    const int stored = PyDict_SetItemString(all, spec->function, names);
    Py_DECREF(names);
    if (stored != 0) goto failed;
  }
  return all;
failed:
  Py_DECREF(all);
  return NULL;
}

static PyMethodDef kMethods[] = {
    {"start", native_start, METH_NOARGS, "Start the recorder (idempotent); True when recording."},
    {"active", native_active, METH_NOARGS, "True while recording."},
    {"now", native_now, METH_NOARGS, "Log time now, in ns."},
    {"flush", native_flush, METH_VARARGS,
     "Wait until everything recorded is in the file (at most timeout_ms)."},
    {"session_dir", native_session_dir, METH_NOARGS, "The session directory, '' when not recording."},
    {"range_push", (PyCFunction)(void (*)(void))native_range_push, METH_FASTCALL,
     "Open an NVTX range (message, payload) in the ProfileMate domain on this thread."},
    {"range_pop", native_range_pop, METH_NOARGS, "Close this thread's innermost ProfileMate NVTX range."},
    {"scheduler_step", (PyCFunction)(void (*)(void))native_scheduler_step, METH_FASTCALL | METH_KEYWORDS,
     "Record one scheduler step and the CPU time of schedule()."},
    {"kv_usage", (PyCFunction)(void (*)(void))native_kv_usage, METH_FASTCALL | METH_KEYWORDS,
     "Record a KV cache usage sample."},
    {"kv_eviction", (PyCFunction)(void (*)(void))native_kv_eviction, METH_FASTCALL | METH_KEYWORDS,
     "Record a KV block eviction."},
    {"preemption", (PyCFunction)(void (*)(void))native_preemption, METH_FASTCALL | METH_KEYWORDS,
     "Record a preemption or a resumption."},
    {"notice", native_notice, METH_VARARGS, "Record a notice (severity, source, message)."},
    {"hook_failures", native_hook_failures, METH_VARARGS, "Record the hooks' recording failures so far."},
    {"cpu_operation", (PyCFunction)(void (*)(void))native_cpu_operation, METH_FASTCALL | METH_KEYWORDS,
     "Record the CPU time of one vLLM operation."},
    {"forward_pass", (PyCFunction)(void (*)(void))native_forward_pass, METH_FASTCALL | METH_KEYWORDS,
     "Record one forward pass."},
    {"encoder_timing", (PyCFunction)(void (*)(void))native_encoder_timing, METH_FASTCALL | METH_KEYWORDS,
     "Record one encoder execution."},
    {"descriptor_replays", native_descriptor_replays, METH_VARARGS,
     "Record graph replays of one batch descriptor counted in Python."},
    {"patch_status", (PyCFunction)(void (*)(void))native_patch_status, METH_FASTCALL | METH_KEYWORDS,
     "Record that a patch was applied or skipped."},
    {"process_info", (PyCFunction)(void (*)(void))native_process_info, METH_FASTCALL | METH_KEYWORDS,
     "Record the process role and versions."},
    {"set_capture_context", native_set_capture_context, METH_VARARGS,
     "Label graphs captured on this thread."},
    {"clear_capture_context", native_clear_capture_context, METH_NOARGS,
     "Stop labelling graphs on this thread."},
    {"capture_context", native_capture_context, METH_NOARGS, "This thread's capture context, or None."},
    {"moe_expert_counts", (PyCFunction)(void (*)(void))native_moe_expert_counts,
     METH_FASTCALL | METH_KEYWORDS, "Record one MoE layer's expert selections over a window."},
    {"moe_timing", (PyCFunction)(void (*)(void))native_moe_timing, METH_FASTCALL | METH_KEYWORDS,
     "Record one timed MoE layer call."},
    {"count_selections", (PyCFunction)(void (*)(void))native_count_selections, METH_FASTCALL | METH_KEYWORDS,
     "Add MoE expert selections, read from host memory, to host counters."},
    {"fields", native_fields, METH_NOARGS, "The field names each record function takes, by function."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef kModule = {PyModuleDef_HEAD_INIT,
                                     "_native",
                                     "ProfileMate's bridge to the recorder core.",
                                     -1,
                                     kMethods,
                                     NULL,
                                     NULL,
                                     NULL,
                                     NULL};

static int intern_names(Fields* spec) {
  for (Py_ssize_t i = 0; i < spec->count; ++i) {
    Field* f = &spec->fields[i];
    if (f->key == NULL && (f->key = PyUnicode_InternFromString(f->name)) == NULL) return 0;
  }
  return 1;
}

PyMODINIT_FUNC PyInit__native(void) {
  for (size_t t = 0; t < sizeof kAllFields / sizeof kAllFields[0]; ++t) {
    if (!intern_names(kAllFields[t])) return NULL;
  }
  if (!intern_names(&kCountSelectionsFields)) return NULL;
  return PyModule_Create(&kModule);
}
