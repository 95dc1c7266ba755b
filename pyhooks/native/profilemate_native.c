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

/* Integer arguments without the cost of a format string: the hooks call this on every step. */
static int unsigned_args(PyObject* const* args, Py_ssize_t nargs, Py_ssize_t want, unsigned long long* out) {
  if (nargs != want) {
    PyErr_Format(PyExc_TypeError, "expected %zd arguments, got %zd", want, nargs);
    return 0;
  }
  for (Py_ssize_t i = 0; i < want; ++i) {
    out[i] = PyLong_AsUnsignedLongLong(args[i]);
    if (out[i] == (unsigned long long)-1 && PyErr_Occurred()) return 0;
  }
  return 1;
}

/* scheduler_step(step, t_ns, duration_ns, num_seqs, max_num_seqs, num_tokens, max_tokens,
 *                prefill_seqs, decode_seqs, prefill_tokens, decode_tokens, running, waiting,
 *                used_blocks, total_blocks): a SchedulerStep, the CPU time of schedule() as a
 *                CpuOperation, and a KvUsage sample when total_blocks > 0. */
static PyObject* native_scheduler_step(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  unsigned long long v[15];
  if (!unsigned_args(args, nargs, 15, v)) return NULL;
  profilemate_SchedulerStep e = profilemate_SchedulerStep_init_zero;
  e.step = v[0];
  e.t_ns = v[1];
  e.schedule_duration_ns = v[2];
  e.num_seqs = (uint32_t)v[3];
  e.max_num_seqs = (uint32_t)v[4];
  e.num_tokens = (uint32_t)v[5];
  e.max_tokens = (uint32_t)v[6];
  e.num_prefill_seqs = (uint32_t)v[7];
  e.num_decode_seqs = (uint32_t)v[8];
  e.num_prefill_tokens = (uint32_t)v[9];
  e.num_decode_tokens = (uint32_t)v[10];
  e.running_queue_len = (uint32_t)v[11];
  e.waiting_queue_len = (uint32_t)v[12];
  const unsigned long long used = v[13], total = v[14];
  e.has_kv_usage_pct = total > 0;
  e.kv_usage_pct = total > 0 ? (float)(100.0 * (double)used / (double)total) : 0.0f;
  int status = pm_record(profilemate_Record_scheduler_step_tag, &e);
  profilemate_CpuOperation op = profilemate_CpuOperation_init_zero;
  op.t_ns = e.t_ns;
  op.step = e.step;
  op.thread = pm_thread();
  pm_copy_string(op.operation, sizeof op.operation, "scheduler.schedule");
  op.duration_ns = e.schedule_duration_ns;
  status |= pm_record(profilemate_Record_cpu_operation_tag, &op);
  if (total > 0) {
    profilemate_KvUsage usage = profilemate_KvUsage_init_zero;
    usage.t_ns = e.t_ns + e.schedule_duration_ns;
    usage.step = e.step;
    usage.used_blocks = (uint32_t)used;
    usage.total_blocks = (uint32_t)total;
    status |= pm_record(profilemate_Record_kv_usage_tag, &usage);
  }
  return recorded(status);
}

/* kv_eviction(t_ns, block_id, lifetime_ns, idle_ns) */
static PyObject* native_kv_eviction(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  unsigned long long v[4];
  if (!unsigned_args(args, nargs, 4, v)) return NULL;
  profilemate_KvEviction e = profilemate_KvEviction_init_zero;
  e.t_ns = v[0];
  e.block_id = v[1];
  e.lifetime_ns = v[2];
  e.idle_ns = v[3];
  return recorded(pm_record(profilemate_Record_kv_eviction_tag, &e));
}

/* preemption(t_ns, step, request_id, event, reason, running_ns, computed_tokens_lost, blocks_freed,
 *            kv_usage_before_pct or -1, extra_info) */
/* preemption(t_ns, step, request_id, event, reason, running_ns, computed_tokens, blocks_freed,
 *            kv_usage_before_pct, extra_info, tokens_found_in_cache): a negative usage or found
 * count means "not known". */
static PyObject* native_preemption(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_Preemption e = profilemate_Preemption_init_zero;
  unsigned long long t_ns, step, running_ns;
  const char *request_id, *event, *reason, *extra;
  unsigned int lost, freed;
  double usage;
  long long found = -1;
  if (!PyArg_ParseTuple(args, "KKsssKIIds|L", &t_ns, &step, &request_id, &event, &reason, &running_ns, &lost,
                        &freed, &usage, &extra, &found)) {
    return NULL;
  }
  e.t_ns = t_ns;
  e.step = step;
  pm_copy_string(e.request_id, sizeof e.request_id, request_id);
  pm_copy_string(e.event, sizeof e.event, event);
  pm_copy_string(e.reason, sizeof e.reason, reason);
  e.running_ns = running_ns;
  e.computed_tokens_lost = lost;
  e.blocks_freed = freed;
  e.has_kv_usage_before_pct = usage >= 0;
  e.kv_usage_before_pct = (float)usage;
  pm_copy_string(e.extra_info, sizeof e.extra_info, extra);
  e.has_tokens_found_in_cache = found >= 0;
  e.tokens_found_in_cache = found >= 0 ? (uint32_t)found : 0;
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

/* kv_usage(t_ns, step, used_blocks, total_blocks) */
static PyObject* native_kv_usage(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_KvUsage e = profilemate_KvUsage_init_zero;
  unsigned long long t_ns, step;
  unsigned int used, total;
  if (!PyArg_ParseTuple(args, "KKII", &t_ns, &step, &used, &total)) return NULL;
  e.t_ns = t_ns;
  e.step = step;
  e.used_blocks = used;
  e.total_blocks = total;
  return recorded(pm_record(profilemate_Record_kv_usage_tag, &e));
}

/* cpu_operation(t_ns, step, operation, duration_ns, context) */
static PyObject* native_cpu_operation(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_CpuOperation e = profilemate_CpuOperation_init_zero;
  unsigned long long t_ns, step, duration_ns;
  const char *operation, *context;
  if (!PyArg_ParseTuple(args, "KKsKs", &t_ns, &step, &operation, &duration_ns, &context)) return NULL;
  e.t_ns = t_ns;
  e.step = step;
  e.thread = pm_thread();
  pm_copy_string(e.operation, sizeof e.operation, operation);
  e.duration_ns = duration_ns;
  pm_copy_string(e.context, sizeof e.context, context);
  return recorded(pm_record(profilemate_Record_cpu_operation_tag, &e));
}

/* forward_pass(t_ns, step, phase, batch_size, num_tokens, duration_ns, gpu_duration_ns or -1);
 * phase is the proto's Phase number. */
static PyObject* native_forward_pass(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  profilemate_ForwardPass e = profilemate_ForwardPass_init_zero;
  unsigned long long v[6];
  if (nargs != 7) {
    PyErr_Format(PyExc_TypeError, "expected 7 arguments, got %zd", nargs);
    return NULL;
  }
  if (!unsigned_args(args, 6, 6, v)) return NULL;
  const long long gpu_ns = PyLong_AsLongLong(args[6]);
  if (gpu_ns == -1 && PyErr_Occurred()) return NULL;
  e.t_ns = v[0];
  e.step = v[1];
  e.thread = pm_thread();
  e.phase = (profilemate_Phase)v[2];
  e.batch_size = (uint32_t)v[3];
  e.num_tokens = (uint32_t)v[4];
  e.duration_ns = v[5];
  e.has_gpu_duration_ns = gpu_ns >= 0;
  e.gpu_duration_ns = gpu_ns >= 0 ? (uint64_t)gpu_ns : 0;
  return recorded(pm_record(profilemate_Record_forward_pass_tag, &e));
}

/* encoder_timing(t_ns, step, component, duration_ns, context, gpu_duration_ns or -1) */
static PyObject* native_encoder_timing(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_EncoderTiming e = profilemate_EncoderTiming_init_zero;
  unsigned long long t_ns, step, duration_ns;
  const char *component, *context;
  long long gpu_ns;
  if (!PyArg_ParseTuple(args, "KKsKsL", &t_ns, &step, &component, &duration_ns, &context, &gpu_ns))
    return NULL;
  e.t_ns = t_ns;
  e.step = step;
  e.thread = pm_thread();
  pm_copy_string(e.component, sizeof e.component, component);
  e.duration_ns = duration_ns;
  pm_copy_string(e.context, sizeof e.context, context);
  e.has_gpu_duration_ns = gpu_ns >= 0;
  e.gpu_duration_ns = gpu_ns >= 0 ? (uint64_t)gpu_ns : 0;
  return recorded(pm_record(profilemate_Record_encoder_timing_tag, &e));
}

/* patch_status(component, target, applied, reason) */
static PyObject* native_patch_status(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_PatchStatus e = profilemate_PatchStatus_init_zero;
  const char* component;
  const char* target;
  int applied;
  const char* reason;
  if (!PyArg_ParseTuple(args, "ssps", &component, &target, &applied, &reason)) return NULL;
  e.t_ns = pm_now();
  pm_copy_string(e.component, sizeof e.component, component);
  pm_copy_string(e.target, sizeof e.target, target);
  e.applied = applied != 0;
  pm_copy_string(e.reason, sizeof e.reason, reason);
  return recorded(pm_record(profilemate_Record_patch_status_tag, &e));
}

/* process_info(role, vllm_version, python_version, torch_version[, dp, tp, pp, ep]): a rank below 0
 * is not known. Empty strings and unknown ranks leave what the log said before. */
static PyObject* native_process_info(PyObject* self, PyObject* args) {
  (void)self;
  profilemate_ProcessInfo e = profilemate_ProcessInfo_init_zero;
  const char *role, *vllm, *python, *torch;
  int dp = -1, tp = -1, pp = -1, ep = -1;
  if (!PyArg_ParseTuple(args, "ssss|iiii", &role, &vllm, &python, &torch, &dp, &tp, &pp, &ep)) return NULL;
  e.t_ns = pm_now();
  e.has_dp_rank = dp >= 0;
  e.dp_rank = e.has_dp_rank ? (uint32_t)dp : 0;
  e.has_tp_rank = tp >= 0;
  e.tp_rank = e.has_tp_rank ? (uint32_t)tp : 0;
  e.has_pp_rank = pp >= 0;
  e.pp_rank = e.has_pp_rank ? (uint32_t)pp : 0;
  e.has_ep_rank = ep >= 0;
  e.ep_rank = e.has_ep_rank ? (uint32_t)ep : 0;
  pm_copy_string(e.process_role, sizeof e.process_role, role);
  pm_copy_string(e.vllm_version, sizeof e.vllm_version, vllm);
  pm_copy_string(e.python_version, sizeof e.python_version, python);
  pm_copy_string(e.torch_version, sizeof e.torch_version, torch);
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
static PyObject* native_moe_expert_counts(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  unsigned long long v[4];
  if (nargs != 5) {
    PyErr_Format(PyExc_TypeError, "expected 5 arguments, got %zd", nargs);
    return NULL;
  }
  if (!unsigned_args(args, 4, 4, v)) return NULL;
  PyObject* counts = args[4];
  if (!PyList_Check(counts)) {
    PyErr_SetString(PyExc_TypeError, "counts must be a list of ints");
    return NULL;
  }
  const Py_ssize_t total = PyList_Size(counts);
  const Py_ssize_t per_record =
      (Py_ssize_t)(sizeof(((profilemate_MoeExpertCounts*)0)->counts) / sizeof(uint32_t));
  int status = PM_OK;
  for (Py_ssize_t first = 0; first < total; first += per_record) {
    profilemate_MoeExpertCounts e = profilemate_MoeExpertCounts_init_zero;
    e.t_ns = v[0];
    e.step = v[1];
    e.layer = (uint32_t)v[2];
    e.first_expert = (uint32_t)(v[3] + (unsigned long long)first);
    const Py_ssize_t n = total - first < per_record ? total - first : per_record;
    for (Py_ssize_t i = 0; i < n; ++i) {
      const unsigned long long count = PyLong_AsUnsignedLongLong(PyList_GetItem(counts, first + i));
      if (count == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
      e.counts[i] = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
    }
    e.counts_count = (pb_size_t)n;
    status |= pm_record(profilemate_Record_moe_expert_counts_tag, &e);
  }
  return recorded(status);
}

/* moe_timing(t_ns, step, layer, num_tokens, duration_ns, gpu_duration_ns or -1) */
static PyObject* native_moe_timing(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  unsigned long long v[5];
  if (nargs != 6) {
    PyErr_Format(PyExc_TypeError, "expected 6 arguments, got %zd", nargs);
    return NULL;
  }
  if (!unsigned_args(args, 5, 5, v)) return NULL;
  const long long gpu_ns = PyLong_AsLongLong(args[5]);
  if (gpu_ns == -1 && PyErr_Occurred()) return NULL;
  profilemate_MoeLayerTiming e = profilemate_MoeLayerTiming_init_zero;
  e.t_ns = v[0];
  e.step = v[1];
  e.thread = pm_thread();
  e.layer = (uint32_t)v[2];
  e.num_tokens = (uint32_t)v[3];
  e.duration_ns = v[4];
  e.has_gpu_duration_ns = gpu_ns >= 0;
  e.gpu_duration_ns = gpu_ns >= 0 ? (uint64_t)gpu_ns : 0;
  return recorded(pm_record(profilemate_Record_moe_timing_tag, &e));
}

static PyMethodDef kMethods[] = {
    {"start", native_start, METH_NOARGS, "Start the recorder (idempotent); True when recording."},
    {"active", native_active, METH_NOARGS, "True while recording."},
    {"now", native_now, METH_NOARGS, "Log time now, in ns."},
    {"session_dir", native_session_dir, METH_NOARGS, "The session directory, '' when not recording."},
    {"range_push", (PyCFunction)(void (*)(void))native_range_push, METH_FASTCALL,
     "Open an NVTX range (message, payload) in the ProfileMate domain on this thread."},
    {"range_pop", native_range_pop, METH_NOARGS, "Close this thread's innermost ProfileMate NVTX range."},
    {"scheduler_step", (PyCFunction)(void (*)(void))native_scheduler_step, METH_FASTCALL,
     "Record one scheduler step and its KV usage."},
    {"kv_usage", native_kv_usage, METH_VARARGS, "Record a KV cache usage sample."},
    {"kv_eviction", (PyCFunction)(void (*)(void))native_kv_eviction, METH_FASTCALL,
     "Record a KV block eviction."},
    {"preemption", native_preemption, METH_VARARGS, "Record a preemption or a resumption."},
    {"notice", native_notice, METH_VARARGS, "Record a notice (severity, source, message)."},
    {"hook_failures", native_hook_failures, METH_VARARGS, "Record the hooks' recording failures so far."},
    {"cpu_operation", native_cpu_operation, METH_VARARGS, "Record the CPU time of one vLLM operation."},
    {"forward_pass", (PyCFunction)(void (*)(void))native_forward_pass, METH_FASTCALL,
     "Record one forward pass."},
    {"encoder_timing", native_encoder_timing, METH_VARARGS, "Record one encoder execution."},
    {"descriptor_replays", native_descriptor_replays, METH_VARARGS,
     "Record graph replays of one batch descriptor counted in Python."},
    {"patch_status", native_patch_status, METH_VARARGS, "Record that a patch was applied or skipped."},
    {"process_info", native_process_info, METH_VARARGS, "Record the process role and versions."},
    {"set_capture_context", native_set_capture_context, METH_VARARGS,
     "Label graphs captured on this thread."},
    {"clear_capture_context", native_clear_capture_context, METH_NOARGS,
     "Stop labelling graphs on this thread."},
    {"capture_context", native_capture_context, METH_NOARGS, "This thread's capture context, or None."},
    {"moe_expert_counts", (PyCFunction)(void (*)(void))native_moe_expert_counts, METH_FASTCALL,
     "Record one MoE layer's expert selections over a window."},
    {"moe_timing", (PyCFunction)(void (*)(void))native_moe_timing, METH_FASTCALL,
     "Record one timed MoE layer call."},
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

PyMODINIT_FUNC PyInit__native(void) {
  return PyModule_Create(&kModule);
}
