#include "session_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <regex>

#include "test_support.h"

namespace profilemate::recorder {
namespace {

using profilemate::testing::TempDir;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class SessionDirTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* name : {"PROFILEMATE_SESSION_DIR", "VLLM_PROFILING_DIR", "VLLM_PROFILING_SESSION_ID"})
      ::unsetenv(name);
  }
  TempDir tmp_;
};

TEST_F(SessionDirTest, NewSessionIsOwnerOnlyNamedByTimeAndExportedToChildren) {
  const std::string parent = tmp_ / "profiles/nested";
  SessionLogResult result = open_session_log("", parent, 4242);
  ASSERT_EQ(result.error, "");
  EXPECT_TRUE(std::regex_match(result.log.session_id, std::regex(R"(session_\d{8}_\d{6}_[0-9a-f]{6})")))
      << result.log.session_id;
  EXPECT_EQ(result.log.dir_path, parent + "/" + result.log.session_id);
  EXPECT_EQ(result.log.log_path, result.log.dir_path + "/process_4242.pmlog");
  EXPECT_EQ(mode_of(parent), 0700u);
  EXPECT_EQ(mode_of(result.log.dir_path), 0700u);
  EXPECT_EQ(mode_of(result.log.log_path), 0600u);
  ASSERT_NE(std::getenv("PROFILEMATE_SESSION_DIR"), nullptr);
  EXPECT_EQ(std::string(std::getenv("PROFILEMATE_SESSION_DIR")), result.log.dir_path);
}

TEST_F(SessionDirTest, ExportsTheSessionAsVllmVariablesThatMakeTheSamePath) {
  // Ray actors get only VLLM_ variables: parent and id must name this very directory.
  const std::string session = tmp_ / "runs/run1/";
  ASSERT_EQ(open_session_log(session, "", 1).error, "");
  ASSERT_NE(std::getenv("VLLM_PROFILING_DIR"), nullptr);
  ASSERT_NE(std::getenv("VLLM_PROFILING_SESSION_ID"), nullptr);
  EXPECT_EQ(std::string(std::getenv("VLLM_PROFILING_DIR")), tmp_ / "runs");
  EXPECT_EQ(std::string(std::getenv("VLLM_PROFILING_SESSION_ID")), "run1");
}

TEST_F(SessionDirTest, ADirectoryNameThatIsNoSessionIdIsNotExportedAndAnInheritedIdIsDropped) {
  ::setenv("VLLM_PROFILING_SESSION_ID", "another", 1);
  ASSERT_EQ(open_session_log(tmp_ / "runs/my run", "", 1).error, "");
  EXPECT_EQ(std::getenv("VLLM_PROFILING_SESSION_ID"), nullptr)
      << "a Ray actor would reject it, or join another";
}

TEST(SessionId, IsOnePlainNameThatFitsTheLogHeader) {
  for (const std::string_view id : {"run1", "session_20261130_171500_ab12cd", "a.b-c_D"}) {
    EXPECT_TRUE(is_session_id(id)) << id;
  }
  for (const std::string_view id : {"", ".", "..", "my run", "a/b", "caf\xc3\xa9", "x\n"}) {
    EXPECT_FALSE(is_session_id(id)) << id;
  }
  EXPECT_TRUE(is_session_id(std::string(kMaxSessionIdLength, 'a')));
  EXPECT_FALSE(is_session_id(std::string(kMaxSessionIdLength + 1, 'a')));
}

TEST_F(SessionDirTest, JoinsAGivenSessionAndNeverOverwritesAnExistingLog) {
  const std::string session = tmp_ / "s";
  SessionLogResult first = open_session_log(session, "", 7);
  SessionLogResult second = open_session_log(session, "", 7);
  ASSERT_EQ(first.error, "");
  ASSERT_EQ(second.error, "");
  EXPECT_EQ(first.log.log_path, session + "/process_7.pmlog");
  EXPECT_EQ(second.log.log_path, session + "/process_7_1.pmlog");
  EXPECT_EQ(first.log.session_id, "s");
}

TEST_F(SessionDirTest, RefusesASymlinkPlantedInPlaceOfTheSessionDirectory) {
  const std::string target = tmp_ / "elsewhere";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  const std::string link = tmp_ / "planted";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  const SessionLogResult result = open_session_log(link, "", 1);
  EXPECT_NE(result.error.find("symbolic link"), std::string::npos) << result.error;
  EXPECT_FALSE(result.log.log_fd.valid());
  EXPECT_TRUE(profilemate::testing::files_with_suffix(target, ".pmlog").empty());
}

TEST_F(SessionDirTest, RefusesADirectoryOwnedBySomeoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  const std::string foreign = tmp_ / "foreign";
  ASSERT_EQ(::mkdir(foreign.c_str(), 0777), 0);
  ASSERT_EQ(::chown(foreign.c_str(), 54321, 54321), 0);
  const SessionLogResult result = open_session_log("", foreign, 1);
  EXPECT_NE(result.error.find("owned by uid 54321"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("VLLM_PROFILING_DIR"), std::string::npos) << result.error;
}

TEST_F(SessionDirTest, SaysWhyWhenTheParentCannotBeCreated) {
  const std::string file = tmp_ / "a_file";
  profilemate::testing::write_file(file, "x");
  const SessionLogResult result = open_session_log("", file + "/sub", 1);
  EXPECT_NE(result.error.find(file), std::string::npos) << result.error;
}

TEST_F(SessionDirTest, ATrailingSlashOrDotDoesNotTurnAPlantedLinkIntoADirectory) {
  const std::string target = tmp_ / "elsewhere";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  const std::string link = tmp_ / "planted";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  for (const std::string& given : {link + "/", link + "/.", link + "//./"}) {
    const SessionLogResult result = open_session_log(given, "", 1);
    EXPECT_NE(result.error.find("symbolic link"), std::string::npos) << given << ": " << result.error;
    EXPECT_FALSE(result.log.log_fd.valid()) << given;
  }
  EXPECT_TRUE(profilemate::testing::files_with_suffix(target, ".pmlog").empty())
      << "logs went through the link";
}

TEST_F(SessionDirTest, RefusesALinkOnTheWayThatOthersCouldHavePlanted) {
  // A directory anyone may write (and not sticky): whoever can write it can swap the link.
  const std::string shared = tmp_ / "shared";
  ASSERT_EQ(::mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 0777), 0);
  const std::string target = tmp_ / "elsewhere";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(target.c_str(), (shared + "/hop").c_str()), 0);
  const SessionLogResult result = open_session_log(shared + "/hop/sess", "", 1);
  EXPECT_NE(result.error.find("another user could have planted"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find(shared + "/hop"), std::string::npos) << result.error;
  EXPECT_EQ(::access((target + "/sess").c_str(), F_OK), -1) << "the session was created through the link";
}

TEST_F(SessionDirTest, RefusesALinkOnTheWayOwnedByAnotherUserInAStickyDirectory) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a link to another user";
  const std::string sticky = tmp_ / "sticky";
  ASSERT_EQ(::mkdir(sticky.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(sticky.c_str(), 01777), 0);
  const std::string target = tmp_ / "elsewhere";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  const std::string link = sticky + "/hop";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  ASSERT_EQ(::lchown(link.c_str(), 54321, 54321), 0);
  const SessionLogResult result = open_session_log(link + "/sess", "", 1);
  EXPECT_NE(result.error.find("another user could have planted"), std::string::npos) << result.error;
  EXPECT_EQ(::access((target + "/sess").c_str(), F_OK), -1) << "the session was created through the link";
}

TEST_F(SessionDirTest, FollowsALinkOnTheWayThatOnlyTheCallerCouldHaveMade) {
  const std::string target = tmp_ / "scratch";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  ASSERT_EQ(::symlink("scratch", (tmp_ / "work").c_str()), 0);
  const SessionLogResult result = open_session_log(tmp_ / "work/sess", "", 9);
  ASSERT_EQ(result.error, "");
  EXPECT_EQ(::access((target + "/sess/process_9.pmlog").c_str(), F_OK), 0);
}

TEST_F(SessionDirTest, RefusalOfAnotherUsersSessionDirectoryNamesTheVariableUsed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  const std::string foreign = tmp_ / "foreign";
  ASSERT_EQ(::mkdir(foreign.c_str(), 0700), 0);
  ASSERT_EQ(::chown(foreign.c_str(), 54321, 54321), 0);
  const SessionLogResult result = open_session_log(foreign, "/unused", 1);
  EXPECT_NE(result.error.find("owned by uid 54321"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("PROFILEMATE_SESSION_DIR"), std::string::npos) << result.error;
  EXPECT_EQ(result.error.find("VLLM_PROFILING_DIR"), std::string::npos) << result.error;
  const SessionLogResult joined =
      open_session_log(foreign, "/unused", 1, "VLLM_PROFILING_DIR/VLLM_PROFILING_SESSION_ID");
  EXPECT_NE(joined.error.find("point VLLM_PROFILING_DIR/VLLM_PROFILING_SESSION_ID at"), std::string::npos)
      << joined.error;
  EXPECT_EQ(joined.error.find("PROFILEMATE_SESSION_DIR"), std::string::npos) << joined.error;
}

TEST_F(SessionDirTest, RefusesASessionDirectoryTooLongForItsFilesPaths) {
  std::string deep = tmp_.path();
  while (deep.size() < PATH_MAX - 100) deep += "/" + std::string(200, 'd');
  const SessionLogResult result = open_session_log(deep, "", 1);
  EXPECT_NE(result.error.find("too long"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("PROFILEMATE_SESSION_DIR"), std::string::npos) << result.error;
  EXPECT_EQ(::access((tmp_ / std::string(200, 'd')).c_str(), F_OK), -1) << "created before refusing";
}

}  // namespace
}  // namespace profilemate::recorder
