#include "text.h"

#include <gtest/gtest.h>

#include <cstring>

namespace profilemate::recorder {
namespace {

std::string copied(std::string_view src, size_t capacity) {
  std::string dst(capacity, 'X');
  copy_utf8(dst.data(), capacity, src);
  dst.resize(std::strlen(dst.c_str()));
  return dst;
}

TEST(CopyUtf8, CopiesShortTextWhole) {
  EXPECT_EQ(copied("EngineCore", 16), "EngineCore");
}

TEST(CopyUtf8, TruncatesToCapacityMinusTheTerminator) {
  EXPECT_EQ(copied("abcdefgh", 5), "abcd");
}

TEST(CopyUtf8, NeverSplitsAMultiByteCharacter) {
  // "é" is two bytes: with room for 4 bytes of text, "aé" fits and the next "é" does not.
  EXPECT_EQ(copied("a\xc3\xa9\xc3\xa9", 5), "a\xc3\xa9");
  EXPECT_EQ(copied("ab\xc3\xa9", 4), "ab");
}

TEST(CopyUtf8, ReplacesInvalidBytesSoProto3ReadersAcceptTheString) {
  EXPECT_EQ(copied("a\xff"
                   "b\xc3",
                   16),
            "a?b?");
  EXPECT_EQ(copied("\xed\xa0\x80", 16), "???");  // a UTF-16 surrogate is not UTF-8
}

TEST(CopyUtf8, HandlesZeroCapacityAndEmptyInput) {
  char untouched = 'X';
  copy_utf8(&untouched, 0, "abc");
  EXPECT_EQ(untouched, 'X');
  EXPECT_EQ(copied("", 4), "");
}

}  // namespace
}  // namespace profilemate::recorder
