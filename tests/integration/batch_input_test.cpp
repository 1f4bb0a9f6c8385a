// `toucan-token batch`: CSV input, input that looks like CSV, JSON values never converted, and
// the stop on a failure every line would meet.
#include <fstream>
#include <sstream>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;

std::vector<json> Rows(const std::string& out) {
  std::vector<json> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  return rows;
}

// Mints "tok-<distinctId>" and records each body by distinct id.
Handler Minted() {
  return [](const httplib::Request& request, httplib::Response& response, int) {
    const std::string id = json::parse(request.body)["user"]["distinctId"];
    response.set_content(
        json{{"token", "tok-" + std::to_string(id.size())}, {"expiresIn", 60}}.dump(),
        "application/json");
  };
}

std::map<std::string, json> BodiesById(const TestServer& server) {
  std::map<std::string, json> bodies;
  for (const auto& request : server.requests()) {
    const json body = json::parse(request.body);
    bodies[body["user"]["distinctId"]] = body;
  }
  return bodies;
}

class BatchInput : public WithTempFiles {};

TEST_F(BatchInput, CsvWithQuotesCrlfAndLineBreaks) {
  TestServer server(Minted());
  const std::string csv =
      "\xEF\xBB\xBF"
      "distinct_id,role,region,note,permissions\r\n"
      "u1,,EU,\"Paris, France\",\r\n"
      "\r\n"
      "\"u,2\",viewer,,\"two\r\nlines, \"\"quoted\"\"\",\"{\"\"d\"\":1}\"\r\n"
      "u3,,US,plain,\r\n";
  const std::string path = TempFile("users.csv", csv);
  const RunResult result =
      RunChecked({"batch", path, "-a", "region=XX", "-r", "analyst"}, KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["line"], 2);
  EXPECT_EQ(rows[0]["distinctId"], "u1");
  EXPECT_EQ(rows[1]["line"], 4);  // the record's first line; a blank line before it
  EXPECT_EQ(rows[1]["distinctId"], "u,2");
  EXPECT_EQ(rows[2]["line"], 6);
  auto bodies = BodiesById(server);
  EXPECT_EQ(bodies["u1"], json::parse(R"({"user":{"distinctId":"u1","role":"analyst",
      "attributes":{"region":"EU","note":"Paris, France"}}})"));
  // An empty cell leaves the attribute out: the default applies.
  EXPECT_EQ(bodies["u,2"], json::parse(R"({"user":{"distinctId":"u,2","role":"viewer",
      "attributes":{"region":"XX","note":"two\r\nlines, \"quoted\""}},"permissions":{"d":1}})"));
  EXPECT_EQ(bodies["u3"]["user"]["attributes"]["region"], "US");
  // --csv reads standard input the same way.
  const RunResult piped = RunChecked({"batch", "--csv"}, KeyAndUrl(server.url()), csv);
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  const auto piped_rows = Rows(piped.out);
  ASSERT_EQ(piped_rows.size(), 3u);
  EXPECT_EQ(piped_rows[1]["line"], 4);
}

// Hand-written CSV puts a space after each comma: cells are trimmed as the header names are.
TEST_F(BatchInput, CsvCellsAreTrimmedAsHeaderNamesAre) {
  TestServer server(Minted());
  const RunResult result = RunChecked({"batch", "--csv"}, KeyAndUrl(server.url()),
                                      "distinctId, region, role\nana, EU, viewer\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(BodiesById(server)["ana"], json::parse(R"({"user":{"distinctId":"ana",
      "role":"viewer","attributes":{"region":"EU"}}})"));
}

// What spreadsheets write: capitalised column names, rows of empty cells at the end, `.CSV`.
TEST_F(BatchInput, CsvFromASpreadsheetExport) {
  TestServer server(Minted());
  const std::string path =
      TempFile("EXPORT.CSV", "ID,Role,Region\r\nana,viewer,EU\r\n,,\r\n,,\r\n");
  const RunResult result = RunChecked({"batch", path}, KeyAndUrl(server.url()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Rows(result.out).size(), 1u) << result.out;
  EXPECT_EQ(BodiesById(server)["ana"], json::parse(R"({"user":{"distinctId":"ana",
      "role":"viewer","attributes":{"Region":"EU"}}})"));
}

TEST_F(BatchInput, CsvCellsTakeTheSchemaTypeJsonValuesNever) {
  TestServer server(Minted());
  const std::string schema =
      TempFile("schema.json", R"({"region":"string","year":"integer","active":"boolean"})");
  const std::string csv =
      "id,region,year,active\n"
      "u1,EU,2020,true\n"
      "u2,EU,twenty,false\n"
      "u3,2020,,\n";
  const RunResult result =
      RunChecked({"batch", "--csv", "--schema", schema}, KeyAndUrl(server.url()), csv);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].contains("token")) << rows[0];
  EXPECT_EQ(rows[1]["error"]["exit"], 2);
  EXPECT_NE(rows[1]["error"]["message"].get<std::string>().find("'year'"), std::string::npos);
  EXPECT_TRUE(rows[2].contains("token")) << rows[2];
  auto bodies = BodiesById(server);
  EXPECT_EQ(bodies["u1"]["user"]["attributes"],
            json::parse(R"({"region":"EU","year":2020,"active":true})"));
  EXPECT_EQ(bodies["u3"]["user"]["attributes"], json::parse(R"({"region":"2020"})"));
  // Without a schema, cells are strings.
  const RunResult plain =
      RunChecked({"batch", "--csv"}, KeyAndUrl(server.url()), "id,year\nu4,1\n");
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(BodiesById(server)["u4"]["user"]["attributes"], json::parse(R"({"year":"1"})"));
  // A JSON string stays a string: a schema refuses it, in a line and in --attributes alike.
  const RunResult line = RunChecked({"batch", "--schema", schema}, KeyAndUrl(server.url()),
                                    R"({"distinctId":"u5","attributes":{"year":"2020"}})"
                                    "\n");
  EXPECT_EQ(line.exit_code, 2);
  EXPECT_NE(line.out.find("wrong type"), std::string::npos) << line.out;
  const RunResult flag =
      RunChecked({"-u", "u6", "--schema", schema, "--attributes", R"({"year":"2020"})"},
                 KeyAndUrl(server.url()));
  EXPECT_EQ(flag.exit_code, 2);
  ExpectOneErrorLine(flag, "wrong type");
  EXPECT_EQ(BodiesById(server).count("u5") + BodiesById(server).count("u6"), 0u);
}

TEST_F(BatchInput, CsvHeaderErrorsSendNothing) {
  TestServer server(Minted());
  for (const auto& [csv, says] : std::vector<std::pair<std::string, std::string>>{
           {"distinctId,,year\nu1,a,b\n", "column 2 has no name"},
           {"distinctId,year,year\nu1,1,2\n", "names 'year' twice (columns 2 and 3)"},
           {"user,region\nu1,EU\n", "has no distinctId column"},
           {"distinctId;region\nu1;EU\n", "';' or tabs"},
           {"id,distinctId\nu1,u2\n", "both name the distinct id"},
           {"\"distinctId,region\nu1,EU\n", "not closed"},
           {"id,region\ru1,EU\ru2,US\r", "carriage return: lines must end in LF or CRLF"},
           {"", "the CSV input is empty"}}) {
    const RunResult result = RunChecked({"batch", "--csv"}, KeyAndUrl(server.url()), csv);
    EXPECT_EQ(result.exit_code, 2) << csv;
    ExpectOneErrorLine(result, says);
  }
  EXPECT_EQ(server.request_count(), 0u);
}

TEST_F(BatchInput, CsvRowErrorsAreRows) {
  TestServer server(Minted());
  const std::string csv =
      "distinctId,region\n"
      "u1,EU\n"
      "u2,EU,extra\n"
      ",EU\n"
      "u4,E\"U\n"
      "u5\n"
      "caf\xc3,EU\n"
      "u7,\"EU\"\n"
      "\"u8\nu8\",EU\n";
  const RunResult result = RunChecked({"batch", "--csv"}, KeyAndUrl(server.url()), csv);
  EXPECT_EQ(result.exit_code, 2);
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 8u);
  const std::vector<std::string> says = {
      "",
      "the row has 3 cells, the header 2 columns",
      "the distinctId cell is empty",
      "a quote inside an unquoted cell",
      "the row has 1 cell, the header 2 columns",
      "not valid UTF-8",
      "",
      "the distinctId cell holds a control character (\\n): no distinct id holds one"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["line"], i + 2);
    if (says[i].empty()) {
      EXPECT_TRUE(rows[i].contains("token")) << rows[i];
    } else {
      EXPECT_EQ(rows[i]["error"]["exit"], 2) << rows[i];
      EXPECT_NE(rows[i]["error"]["message"].get<std::string>().find(says[i]), std::string::npos)
          << rows[i];
    }
  }
  EXPECT_EQ(rows[1]["distinctId"], "u2");  // named, so that its user can be found
  EXPECT_EQ(rows[4]["distinctId"], "u5");
  EXPECT_EQ(rows[3]["distinctId"], json());  // the row could not be read
  EXPECT_EQ(server.request_count(), 2u);
  // A dry run checks the same rows offline.
  const RunResult dry =
      RunChecked({"batch", "--csv", "--dry-run"}, {{"TOUCAN_BASE_URL", server.url()}}, csv);
  EXPECT_EQ(dry.exit_code, 2);
  EXPECT_EQ(Rows(dry.out).size(), 8u);
  EXPECT_EQ(server.request_count(), 2u);
}

// `head -3 users.csv | toucan-token batch`: no user named after the header or a whole row.
TEST_F(BatchInput, LinesThatLookLikeCsvAreRefused) {
  TestServer server(Minted());
  const RunResult result = RunChecked({"batch"}, KeyAndUrl(server.url()),
                                      "distinct_id,region,year\nuser-0,EU,2020\nu1;EU\nu2\tEU\n"
                                      "\"a,b\"\n");
  EXPECT_EQ(result.exit_code, 2);
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 5u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(rows[i]["error"]["exit"], 2);
    EXPECT_NE(rows[i]["error"]["message"].get<std::string>().find("use --csv"), std::string::npos)
        << rows[i];
  }
  EXPECT_EQ(rows[4]["distinctId"], "a,b");  // a JSON string may hold a comma
  EXPECT_TRUE(rows[4].contains("token"));
  EXPECT_EQ(server.request_count(), 1u);
}

std::string Users(int count) {
  std::string input;
  for (int i = 1; i <= count; ++i) input += "u" + std::to_string(i) + "\n";
  return input;
}

// One bad key costs at most one round of requests, not one per line.
TEST_F(BatchInput, RejectedKeyStopsTheBatch) {
  TestServer server(Reply(401, R"({"message":"invalid key"})"));
  const RunResult result =
      RunChecked({"batch", "--concurrency", "8"}, KeyAndUrl(server.url()), Users(300));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_LE(server.request_count(), 8u);
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 300u);
  EXPECT_EQ(rows[0]["error"]["status"], 401);
  const json& last = rows.back();
  EXPECT_EQ(last["line"], 300);
  EXPECT_EQ(last["distinctId"], "u300");
  EXPECT_EQ(last["error"]["exit"], 3);
  EXPECT_TRUE(last["error"]["status"].is_null());
  const std::string message = last["error"]["message"];
  EXPECT_EQ(message.rfind("not sent: credentials rejected (HTTP 401: \"invalid key\")", 0), 0u)
      << message;
  EXPECT_NE(message.find(" (line "), std::string::npos) << message;
  EXPECT_NE(result.err.find("failed in "), std::string::npos);
  EXPECT_NE(result.err.find("; stopped at line "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("--keep-going"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST_F(BatchInput, WrongUrlStopsTheBatch) {
  TestServer server(Reply(404, "<html>Not Found</html>", "text/html"));
  const RunResult result =
      RunChecked({"batch", "--concurrency", "4"}, KeyAndUrl(server.url()), Users(300));
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_LE(server.request_count(), 4u);
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 300u);
  EXPECT_EQ(rows.back()["error"]["exit"], 4);
  EXPECT_TRUE(rows.back()["error"]["status"].is_null());
  EXPECT_EQ(rows.back()["error"]["message"].get<std::string>().rfind("not sent: ", 0), 0u);
}

TEST_F(BatchInput, KeepGoingSendsEveryLine) {
  TestServer server(Reply(401, R"({"message":"invalid key"})"));
  const RunResult result = RunChecked({"batch", "--keep-going", "--concurrency", "8"},
                                      KeyAndUrl(server.url()), Users(300));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(server.request_count(), 300u);
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 300u);
  for (const auto& row : rows) EXPECT_EQ(row["error"]["status"], 401);
  EXPECT_EQ(result.err.find("stopped"), std::string::npos) << result.err;
}

// A certificate that fails verification fails for every line: one attempt, then the rest wait.
TEST_F(BatchInput, CertificateFailureStopsTheBatch) {
  TestServer server(Minted(),
                    TestServer::Tls{Certs("wrong-host.pem"), Certs("wrong-host.key"), ""});
  const RunResult result = RunChecked({"batch", "--concurrency", "1", "--cacert", Certs("ca.pem")},
                                      KeyAndUrl(server.url()), Users(50));
  EXPECT_EQ(result.exit_code, 6);
  const auto rows = Rows(result.out);
  ASSERT_EQ(rows.size(), 50u);
  EXPECT_NE(rows[0]["error"]["message"].get<std::string>().find("does not name 127.0.0.1"),
            std::string::npos);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const std::string message = rows[i]["error"]["message"];
    EXPECT_EQ(message.rfind("not sent: TLS with 127.0.0.1:", 0), 0u) << message;
    EXPECT_EQ(message.substr(message.size() - 9), " (line 1)") << message;
    EXPECT_EQ(rows[i]["error"]["exit"], 6);
  }
}

// A 500 may be one request's bad luck: the batch goes on.
TEST_F(BatchInput, OtherFailuresDoNotStopTheBatch) {
  TestServer server(Reply(500, "oops", "text/plain"));
  const RunResult result = RunChecked({"batch"}, KeyAndUrl(server.url()), Users(20));
  EXPECT_EQ(result.exit_code, 5);
  EXPECT_EQ(server.request_count(), 20u);
}

}  // namespace
}  // namespace toucan::test
