#include "atomic_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string>

#include "test_support.h"

namespace profilemate::exporter {
namespace {

struct AlignedDelete {
  void operator()(char* buffer) const {
    ::operator delete[](buffer, std::align_val_t{AtomicOutput::kDirectBlock});
  }
};

// The flags of `fd` as the kernel reports them (octal, as in /proc/self/fdinfo).
int fd_flags(int fd) {
  std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd));
  std::string key;
  int flags = 0;
  while (info >> key) {
    if (key == "flags:") {
      info >> std::oct >> flags;
      break;
    }
  }
  return flags;
}

// Whether the file system of `dir` takes O_DIRECT at all (tmpfs before Linux 6.6 does not).
bool takes_direct_io(const std::string& dir) {
  const std::string probe = dir + "/probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0600);
  if (fd >= 0) ::close(fd);
  ::unlink(probe.c_str());
  return fd >= 0;
}

std::string file_flags_after_write(const AtomicOutput& out) {
  return (fd_flags(::fileno(out.file())) & O_DIRECT) != 0 ? "O_DIRECT" : "buffered";
}

TEST(AtomicOutput, WholeBlocksBypassThePageCacheAndTheRestGoesThroughIt) {
  testing::TempDir dir;
  constexpr size_t kBlock = AtomicOutput::kDirectBlock;
  const std::unique_ptr<char[], AlignedDelete> data(
      static_cast<char*>(::operator new[](64 * kBlock, std::align_val_t{kBlock})));
  for (size_t i = 0; i < 64 * kBlock; ++i) data[i] = static_cast<char>('a' + i % 23);
  const auto bytes = [&](size_t from, size_t size) { return std::string(data.get() + from, size); };
  const std::string direct_if_allowed = takes_direct_io(dir.path()) ? "O_DIRECT" : "buffered";

  AtomicOutput out(dir / "out.csv");
  out.write(data.get(), 32 * kBlock);  // at offset 0: whole blocks
  EXPECT_EQ(file_flags_after_write(out), direct_if_allowed) << "whole blocks at offset 0";
  out.write(data.get() + 1, 100);  // unaligned
  EXPECT_EQ(file_flags_after_write(out), "buffered") << "an unaligned write";
  out.write(data.get(), 16 * kBlock);  // whole blocks, but at an unaligned offset
  EXPECT_EQ(file_flags_after_write(out), "buffered") << "whole blocks at an unaligned offset";
  std::fputs("stdio", out.file());
  out.write(data.get(), 3 * kBlock + 17);
  out.commit();
  EXPECT_EQ(
      testing::read_file(dir / "out.csv"),
      bytes(0, 32 * kBlock) + bytes(1, 100) + bytes(0, 16 * kBlock) + "stdio" + bytes(0, 3 * kBlock + 17));
}

// The descriptors of this process open on `path` after it was unlinked or replaced.
int held_after_removal(const std::string& path) {
  int held = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    if (std::filesystem::read_symlink(entry.path(), error).string() == path + " (deleted)") ++held;
  }
  return held;
}

TEST(AtomicOutput, AReplacedFileIsLetGoOfByTheTimeTheExportWaitsForIt) {
  testing::TempDir dir;
  const std::string path = dir / "table.csv";
  testing::write_file(path, std::string(1 << 20, 'o'));
  AtomicOutput output(path);
  output.write("new\n", 4);
  output.commit();
  AtomicOutput::wait_for_replaced_files();
  EXPECT_EQ(testing::read_file(path), "new\n");
  EXPECT_EQ(held_after_removal(path), 0)
      << "the replaced file is still held open: its blocks are never freed";
}

}  // namespace
}  // namespace profilemate::exporter
