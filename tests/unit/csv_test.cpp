#include "csv.hpp"

#include <gtest/gtest.h>

namespace toucan {
namespace {

using Cells = std::vector<std::string>;

// Feeds `lines` as one record; the cells, or "error: ..." when it is malformed.
Cells Record(const std::vector<std::string>& lines, std::size_t max_bytes = 1024) {
  CsvRecord record(max_bytes);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool complete = record.Feed(lines[i]);
    EXPECT_EQ(complete, i + 1 == lines.size()) << lines[i];
  }
  if (!record.error().empty()) return {"error: " + record.error()};
  return record.cells();
}

TEST(CsvRecord, PlainAndQuotedCells) {
  EXPECT_EQ(Record({"a,b,c"}), (Cells{"a", "b", "c"}));
  EXPECT_EQ(Record({""}), (Cells{""}));
  EXPECT_EQ(Record({",,"}), (Cells{"", "", ""}));
  EXPECT_EQ(Record({R"("a,b","say ""hi""",)"}), (Cells{"a,b", "say \"hi\"", ""}));
  EXPECT_EQ(Record({R"("")"}), (Cells{""}));
  EXPECT_EQ(Record({" a , b "}), (Cells{" a ", " b "}));  // spaces belong to the cell
}

TEST(CsvRecord, CrlfAndLineBreaksInQuotes) {
  EXPECT_EQ(Record({"a,b\r"}), (Cells{"a", "b"}));
  EXPECT_EQ(Record({"\"a\"\r"}), (Cells{"a"}));
  EXPECT_EQ(Record({"u1,\"two", "", "lines\",x"}), (Cells{"u1", "two\n\nlines", "x"}));
  EXPECT_EQ(Record({"u1,\"crlf\r", "kept\"\r"}), (Cells{"u1", "crlf\r\nkept"}));
  EXPECT_EQ(Record({"\"a\"\"", "b\""}), (Cells{"a\"\nb"}));
}

TEST(CsvRecord, MisplacedQuotesAreErrors) {
  EXPECT_EQ(Record({R"(a"b,c)"}),
            (Cells{"error: a quote inside an unquoted cell (write \"a\"\"b\" for a\"b)"}));
  EXPECT_EQ(Record({R"("a"b,c)"}), (Cells{"error: text after the closing quote of a cell"}));
  CsvRecord open(1024);
  EXPECT_FALSE(open.Feed("u1,\"never closed"));
  open.EndOfInput();
  EXPECT_EQ(open.error(), "a quoted cell is not closed before the end of the input");
}

TEST(CsvRecord, OversizedRecordsKeepNoCellsButFollowTheQuotes) {
  CsvRecord record(16);
  EXPECT_FALSE(record.Feed("u1,\"0123456789"));
  EXPECT_FALSE(record.Feed("0123456789,\"\""));  // past the limit, still inside the quotes
  EXPECT_TRUE(record.Feed("end\""));
  EXPECT_TRUE(record.oversized());
  EXPECT_TRUE(record.cells().empty());
  record = CsvRecord(16);
  EXPECT_FALSE(record.oversized());
  EXPECT_TRUE(record.cells().empty());
  EXPECT_TRUE(record.Feed("a,b"));
  EXPECT_EQ(record.cells(), (Cells{"a", "b"}));
  record = CsvRecord(16);
  EXPECT_FALSE(record.Feed("\"open"));
  record.DropCells();  // the lost text may have closed the quote: the record ends there
  EXPECT_TRUE(record.oversized());
  record = CsvRecord(16);
  EXPECT_TRUE(record.Feed("next"));
  EXPECT_EQ(record.cells(), (Cells{"next"}));
}

}  // namespace
}  // namespace toucan
