#include "graph_tracker.h"

#include <gtest/gtest.h>

#include <vector>

namespace profilemate::injection {
namespace {

// What the tracker wrote, in order.
std::vector<profilemate_GraphReplay> g_replays;
std::vector<profilemate_GraphCapture> g_captures;
std::vector<profilemate_GraphInstantiate> g_instantiations;
std::vector<profilemate_GraphReplayGpuTime> g_late_times;

int capture_record(uint32_t kind, const void* event) {
  if (kind == profilemate_Record_graph_replay_tag)
    g_replays.push_back(*static_cast<const profilemate_GraphReplay*>(event));
  if (kind == profilemate_Record_graph_capture_tag)
    g_captures.push_back(*static_cast<const profilemate_GraphCapture*>(event));
  if (kind == profilemate_Record_graph_replay_gpu_time_tag)
    g_late_times.push_back(*static_cast<const profilemate_GraphReplayGpuTime*>(event));
  if (kind == profilemate_Record_graph_instantiate_tag) {
    g_instantiations.push_back(*static_cast<const profilemate_GraphInstantiate*>(event));
  }
  return PM_OK;
}

class GraphTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_replays.clear();
    g_captures.clear();
    g_instantiations.clear();
    g_late_times.clear();
  }
  void TearDown() override { pm_set_capture_context(nullptr); }
};

TEST_F(GraphTrackerTest, ACaptureCarriesTheContextSetOnItsThreadAndItsDuration) {
  GraphTracker tracker(&capture_record);
  profilemate_CaptureContext context = profilemate_CaptureContext_init_zero;
  pm_copy_string(context.runtime_mode, sizeof context.runtime_mode, "PIECEWISE");
  context.num_tokens = 256;
  pm_set_capture_context(&context);
  tracker.capture_begin(/*stream=*/0xabc, /*stream_id=*/3, /*mode=*/1, /*t=*/1000);
  pm_set_capture_context(nullptr);  // what counts is the context at the capture's beginning
  tracker.capture_end(0xabc, /*graph=*/9, /*nodes=*/77, true, 4500);
  ASSERT_EQ(g_captures.size(), 1u);
  const profilemate_GraphCapture& capture = g_captures[0];
  EXPECT_TRUE(capture.has_context);
  EXPECT_STREQ(capture.context.runtime_mode, "PIECEWISE");
  EXPECT_EQ(capture.context.num_tokens, 256u);
  EXPECT_EQ(capture.graph_id, 9u);
  EXPECT_EQ(capture.node_count, 77u);
  EXPECT_EQ(capture.begin_ns, 1000u);
  EXPECT_EQ(capture.duration_ns, 3500u);
  EXPECT_EQ(capture.capture_mode, 1u);
  EXPECT_EQ(capture.status, profilemate_GraphCapture_Status_OK);
}

TEST_F(GraphTrackerTest, AnEndWithoutABeginIsIgnoredAndAFailedCaptureIsMarked) {
  GraphTracker tracker(&capture_record);
  tracker.capture_end(1, 5, 1, true, 10);
  EXPECT_TRUE(g_captures.empty());
  tracker.capture_begin(2, 2, 0, 10);
  tracker.capture_end(2, 0, 0, false, 20);
  ASSERT_EQ(g_captures.size(), 1u);
  EXPECT_EQ(g_captures[0].status, profilemate_GraphCapture_Status_FAILED);
  EXPECT_FALSE(g_captures[0].has_context);
}

TEST_F(GraphTrackerTest, JoinsALaunchWithItsGpuRecordWhicheverComesFirst) {
  GraphTracker tracker(&capture_record);
  tracker.launch(/*correlation=*/1, /*exec=*/50, /*stream=*/7, /*enter=*/1000, /*exit=*/1200);
  EXPECT_TRUE(g_replays.empty()) << "waits for its GPU record";
  tracker.gpu_execution(1, 1300, 5300);
  tracker.gpu_execution(2, 2300, 2400);  // before its launch returned
  tracker.launch(2, 51, 7, 2000, 2100);
  ASSERT_EQ(g_replays.size(), 2u);
  EXPECT_EQ(g_replays[0].exec_id, 50u);
  EXPECT_EQ(g_replays[0].cpu_enter_ns, 1000u);
  EXPECT_EQ(g_replays[0].cpu_duration_ns, 200u);
  EXPECT_EQ(g_replays[0].gpu_start_offset_ns, 300);
  EXPECT_EQ(g_replays[0].gpu_duration_ns, 4000u);
  EXPECT_EQ(g_replays[1].exec_id, 51u);
  EXPECT_EQ(g_replays[1].gpu_duration_ns, 100u);
  EXPECT_EQ(tracker.counters().replays_with_gpu, 2u);
}

TEST_F(GraphTrackerTest, SaysWhetherALaunchStillAwaitsItsGpuRecordWhateverOrderTheyJoinIn) {
  GraphTracker tracker(&capture_record);
  EXPECT_FALSE(tracker.awaiting_gpu());
  tracker.launch(1, 50, 7, 1000, 1200);
  tracker.launch(2, 50, 7, 2000, 2200);
  EXPECT_TRUE(tracker.awaiting_gpu());
  tracker.gpu_execution(2, 2300, 2400);  // the later one first: the earlier still waits
  EXPECT_TRUE(tracker.awaiting_gpu());
  tracker.gpu_execution(1, 1300, 1400);
  EXPECT_FALSE(tracker.awaiting_gpu());
  tracker.launch(3, 50, 7, 3000, 3200);
  tracker.expire(3300, /*everything=*/true);
  EXPECT_FALSE(tracker.awaiting_gpu()) << "written without GPU time: no longer awaited";
}

TEST_F(GraphTrackerTest, WaitingLaunchesAreBoundedAndOverdueOnesAreWrittenWithoutGpuTime) {
  GraphTracker tracker(&capture_record, {.max_pending_launches = 3, .gpu_record_timeout_ns = 1000});
  for (uint32_t i = 1; i <= 4; ++i) tracker.launch(i, 60, 1, i * 100, i * 100 + 10);
  ASSERT_EQ(g_replays.size(), 1u) << "the oldest makes room";
  EXPECT_EQ(g_replays[0].cpu_enter_ns, 100u);
  EXPECT_FALSE(g_replays[0].has_gpu_duration_ns);
  tracker.gpu_execution(3, 400, 450);
  tracker.expire(/*now=*/1250, false);  // launch 2 (t=200) is overdue, launch 4 (t=400) is not
  ASSERT_EQ(g_replays.size(), 3u);
  EXPECT_EQ(g_replays[2].cpu_enter_ns, 200u);
  tracker.expire(1250, true);
  ASSERT_EQ(g_replays.size(), 4u);
  EXPECT_EQ(g_replays[3].cpu_enter_ns, 400u);
  EXPECT_EQ(tracker.counters().replays_without_gpu, 3u);
  EXPECT_EQ(tracker.counters().replays_with_gpu, 1u);
}

TEST_F(GraphTrackerTest, AGpuRecordAfterItsLaunchWasWrittenIsWrittenAsALateGpuTime) {
  GraphTracker tracker(&capture_record, {.gpu_record_timeout_ns = 1000, .late_gpu_record_ns = 1'000'000'000});
  tracker.launch(7, 60, 1, 100, 110);
  tracker.expire(/*now=*/5000, false);
  ASSERT_EQ(g_replays.size(), 1u);
  EXPECT_FALSE(g_replays[0].has_gpu_duration_ns);
  EXPECT_TRUE(g_replays[0].has_correlation_id) << "an overdue replay names its id for a late GPU time";
  EXPECT_EQ(g_replays[0].correlation_id, 7u);
  tracker.gpu_execution(7, 300, 800);
  ASSERT_EQ(g_late_times.size(), 1u);
  EXPECT_EQ(g_late_times[0].correlation_id, 7u);
  EXPECT_EQ(g_late_times[0].gpu_start_ns, 300u);
  EXPECT_EQ(g_late_times[0].gpu_duration_ns, 500u);
  EXPECT_EQ(tracker.counters().late_gpu_times, 1u);
  EXPECT_EQ(tracker.counters().unmatched_gpu_records, 0u);
  // Replays written at the very end name no id: nothing comes after them.
  tracker.launch(8, 60, 1, 6000, 6010);
  tracker.expire(6000, true);
  ASSERT_EQ(g_replays.size(), 2u);
  EXPECT_FALSE(g_replays[1].has_correlation_id);
}

TEST_F(GraphTrackerTest, OverdueLaunchesAreRememberedForALimitedCountAndTime) {
  GraphTracker tracker(
      &capture_record,
      {.gpu_record_timeout_ns = 1000, .late_gpu_record_ns = 10'000'000, .max_late_launches = 2});
  for (uint32_t id = 1; id <= 3; ++id) tracker.launch(id, 60, 1, id * 100, id * 100 + 10);
  tracker.expire(/*now=*/5000, false);  // all three overdue: only the newest two are remembered
  tracker.gpu_execution(1, 10, 20);
  tracker.gpu_execution(2, 10, 20);
  EXPECT_EQ(g_late_times.size(), 1u) << "id 1 was forgotten to bound the memory";
  tracker.launch(4, 60, 1, 30'000'000, 30'000'010);
  tracker.expire(40'000'000, false);  // 40 ms: ids 2 and 3, remembered at 5 us, are too old now
  tracker.gpu_execution(3, 10, 20);
  tracker.gpu_execution(4, 10, 20);
  ASSERT_EQ(g_late_times.size(), 2u);
  EXPECT_EQ(g_late_times[1].correlation_id, 4u);
  tracker.expire(40'000'000, true);
  EXPECT_EQ(tracker.counters().unmatched_gpu_records, 2u) << "ids 1 and 3";
}

TEST_F(GraphTrackerTest, LaunchesThatReturnOutOfOrderAndIdsThatWrapAroundStillJoin) {
  GraphTracker tracker(&capture_record);
  // Correlation ids are handed out at ENTER; launch 0 (after the wrap) returns after launch 1.
  for (const uint32_t id : {0xfffffffeu, 0xffffffffu, 1u, 0u}) tracker.launch(id, id % 100, 1, 10, 20);
  for (const uint32_t id : {1u, 0xfffffffeu, 0u, 0xffffffffu}) tracker.gpu_execution(id, 30, 30 + id % 100);
  ASSERT_EQ(g_replays.size(), 4u);
  for (const profilemate_GraphReplay& replay : g_replays) {
    EXPECT_EQ(replay.gpu_duration_ns, replay.exec_id) << "joined with its own GPU record";
  }
  EXPECT_EQ(tracker.counters().replays_with_gpu, 4u);
  EXPECT_EQ(tracker.counters().unmatched_gpu_records, 0u);
}

uint64_t g_replays_with_gpu_time = 0;
int count_replays_with_gpu_time(uint32_t kind, const void* event) {
  if (kind == profilemate_Record_graph_replay_tag)
    g_replays_with_gpu_time +=
        static_cast<const profilemate_GraphReplay*>(event)->has_gpu_duration_ns ? 1 : 0;
  return PM_OK;
}

TEST_F(GraphTrackerTest, AMillionLaunchesInFlightAllJoinWithTheDefaultLimits) {
  constexpr uint32_t kLaunches = 1'000'000;  // then one CUPTI delivery of all their GPU records
  g_replays_with_gpu_time = 0;
  GraphTracker tracker(&count_replays_with_gpu_time);
  for (uint32_t id = 1; id <= kLaunches; ++id) tracker.launch(id, 1, 1, id, id + 5);
  for (uint32_t id = 1; id <= kLaunches; ++id) tracker.gpu_execution(id, id + 10, id + 20);
  EXPECT_EQ(g_replays_with_gpu_time, kLaunches);
  EXPECT_EQ(tracker.counters().replays_without_gpu, 0u);
}

TEST_F(GraphTrackerTest, WithoutGpuTimingEveryLaunchIsWrittenAtOnce) {
  GraphTracker tracker(&capture_record);
  tracker.set_gpu_timing(false);
  tracker.launch(1, 70, 1, 10, 20);
  ASSERT_EQ(g_replays.size(), 1u);
  EXPECT_FALSE(g_replays[0].has_gpu_start_offset_ns);
}

TEST_F(GraphTrackerTest, InstantiationLinksTheGraphToItsExecutable) {
  GraphTracker tracker(&capture_record);
  tracker.instantiate(/*graph=*/9, /*exec=*/109, /*flags=*/3, 100, 160, 0);
  ASSERT_EQ(g_instantiations.size(), 1u);
  EXPECT_EQ(g_instantiations[0].graph_id, 9u);
  EXPECT_EQ(g_instantiations[0].exec_id, 109u);
  EXPECT_EQ(g_instantiations[0].duration_ns, 60u);
  EXPECT_EQ(g_instantiations[0].flags, 3u);
}

}  // namespace
}  // namespace profilemate::injection
