// write_file_atomically() and check_output_files(): an output never replaces what is not a
// regular file, whatever changed since the check, and a long but valid name is written.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "core/usage_error.hpp"
#include "harness/system/atomic_file.hpp"
#include "tests/temp_dir.hpp"

namespace mux {
namespace {

using ScratchDir = test::TempDir;

std::string contents(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The writer's own check, just before its rename: the target may have become a device, a FIFO
// or a directory after check_output_files() passed (a run lasts minutes).
TEST(AtomicFile, NeverReplacesWhatIsNotARegularFile) {
  ScratchDir dir;
  ASSERT_EQ(::mknod(dir.file("null").c_str(), S_IFCHR | 0600, ::makedev(1, 3)), 0);  // like /dev/null
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  std::filesystem::create_directory(dir.file("dir"));
  std::filesystem::create_symlink("null", dir.file("to-null"));
  std::filesystem::create_symlink("nothing", dir.file("dangling"));
  const std::size_t before = dir.entries();
  for (const char* name : {"null", "fifo", "dir", "to-null", "dangling"}) {
    SCOPED_TRACE(name);
    EXPECT_THROW(write_file_atomically(dir.file(name), "x"), std::runtime_error);
  }
  struct stat st {};
  ASSERT_EQ(::lstat(dir.file("null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  ASSERT_EQ(::lstat(dir.file("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_TRUE(std::filesystem::is_directory(dir.file("dir")));
  EXPECT_EQ(dir.entries(), before) << "a temporary file was left behind";
}

// A symbolic link to a regular file is written through: the file it names gets the content and
// the link stays (rename() over the link would replace the link and leave the file stale).
TEST(AtomicFile, WritesThroughALinkAndKeepsIt) {
  ScratchDir dir;
  std::ofstream(dir.file("real.json")) << "old";
  std::filesystem::create_symlink("real.json", dir.file("link.json"));
  write_file_atomically(dir.file("link.json"), "new");
  EXPECT_TRUE(std::filesystem::is_symlink(dir.file("link.json")));
  EXPECT_EQ(contents(dir.file("real.json")), "new");
}

// The temporary file's name was PATH.tmp.PID: for a valid name near NAME_MAX (255) bytes it
// overflowed, and the write failed after the run.
TEST(AtomicFile, WritesANameOfNameMaxBytes) {
  ScratchDir dir;
  const std::string path = dir.file(std::string(255, 'r'));
  write_file_atomically(path, "content");
  EXPECT_EQ(contents(path), "content");
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(OutputFiles, RefusesTooLongNamesAndPaths) {
  ScratchDir dir;
  EXPECT_THROW(check_output_files({{"--json", dir.file(std::string(256, 'r'))}}), UsageError);
  std::string deep = dir.file("");
  while (deep.size() < 5000) deep += "d/";
  EXPECT_THROW(check_output_files({{"--json", deep + "r.json"}}), UsageError);
  EXPECT_NO_THROW(check_output_files({{"--json", dir.file(std::string(255, 'r'))}}));
}

// Two outputs that are one file, however named: one would overwrite the other.
TEST(OutputFiles, RefusesOneFileNamedTwice) {
  ScratchDir dir;
  std::filesystem::create_directory(dir.file("sub"));
  std::filesystem::create_symlink("sub", dir.file("alias"));
  std::ofstream(dir.file("r.json")) << "{}";
  std::filesystem::create_symlink("r.json", dir.file("link.json"));
  const auto refused = [](const std::string& a, const std::string& b) {
    try {
      check_output_files({{"--json", a}, {"--hgrm", b}});
      return std::string();
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(refused(dir.file("r.json"), dir.file("r.json")).find("same file"), std::string::npos);
  EXPECT_NE(refused(dir.file("r.json"), dir.file("link.json")).find("same file"), std::string::npos);
  EXPECT_NE(refused(dir.file("sub/new.json"), dir.file("alias/new.json")).find("same file"), std::string::npos);
  EXPECT_NE(refused(dir.file("sub/new.json"), dir.file("sub/../sub/new.json")).find("same file"), std::string::npos);
  EXPECT_EQ(refused(dir.file("r.json"), dir.file("r.hgrm")), "");
}

}  // namespace
}  // namespace mux
