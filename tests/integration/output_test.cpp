// Output for shells and CI: -o shell, -o github, TOUCAN_OUTPUT and a profile's `output`, dry
// runs refused with a token format, `completion SHELL`, --quiet.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixture.hpp"

namespace toucan::test {
namespace {

using nlohmann::json;

class Output : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "toucan-output-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << text;
    return dir_ + "/" + name;
  }
  static std::string Read(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }
  // A config.toml with one default profile, 0600 in a 0700 folder, as the tool demands.
  Env ConfigEnv(const std::string& profile) const {
    const std::string config = Write("config.toml", "[profile.default]\n" + profile);
    ::chmod(config.c_str(), 0600);
    ::chmod(dir_.c_str(), 0700);
    return {{"TOUCAN_CONFIG", config}};
  }
  // What -o env / shell / github print for the token, RFC 3339 expiry and all.
  static void ExpectExpiry(const std::string& line, const std::string& name) {
    ASSERT_EQ(line.rfind(name + "=", 0), 0u) << line;
    const std::string at = line.substr(name.size() + 1);
    EXPECT_EQ(at.size(), std::string("2026-11-24T19:38:28Z").size()) << line;
    EXPECT_EQ(at[10], 'T');
    EXPECT_EQ(at.back(), 'Z');
  }
  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::string dir_;
};

TEST_F(Output, ShellFormatExportsForChildProcesses) {
  TestServer server(TokenReply());
  const RunResult printed = Mint(server.url(), {"-o", "shell"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  const auto lines = Lines(printed.out);
  ASSERT_EQ(lines.size(), 2u) << printed.out;
  EXPECT_EQ(lines[0], std::string("export TOUCAN_TOKEN=") + kToken);
  ExpectExpiry(lines[1], "export TOUCAN_TOKEN_EXPIRES_AT");
  // The README's recipe: the child shell sees both variables.
  const std::string recipe =
      std::string("out=$(") + TOUCAN_TOKEN_BINARY +
      " -u u1 -o shell) || exit\neval \"$out\"\n"
      "sh -c 'printf \"%s|%s\" \"$TOUCAN_TOKEN\" \"$TOUCAN_TOKEN_EXPIRES_AT\"'";
  const RunResult child = RunTool({"-c", recipe}, KeyAndUrl(server.url()), std::nullopt, "/bin/sh");
  ASSERT_EQ(child.exit_code, 0) << child.err;
  EXPECT_EQ(child.out.substr(0, child.out.find('|')), kToken);
  EXPECT_EQ(child.out.size(), std::string(kToken).size() + 1 + 20) << child.out;
  // A failure stops the recipe with the tool's status: nothing is evaluated or run.
  TestServer rejecting(Reply(401, R"({"message":"Invalid API key"})"));
  const RunResult failed =
      RunTool({"-c", recipe + "\necho ran"}, KeyAndUrl(rejecting.url()), std::nullopt, "/bin/sh");
  EXPECT_EQ(failed.exit_code, 3);
  EXPECT_EQ(failed.out, "");
}

TEST_F(Output, EnvFormatIsUnchanged) {
  TestServer server(TokenReply());
  const auto lines = Lines(Mint(server.url(), {"-o", "env"}).out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], std::string("TOUCAN_TOKEN=") + kToken);
  ExpectExpiry(lines[1], "TOUCAN_TOKEN_EXPIRES_AT");
}

TEST_F(Output, GithubMasksThenAppendsToBothFiles) {
  TestServer server(TokenReply());
  const std::string env_file = Write("env", "EARLIER=1\n");
  const std::string output_file = Write("output", "");
  const RunResult result = Mint(server.url(), {"-o", "github"},
                                {{"GITHUB_ENV", env_file}, {"GITHUB_OUTPUT", output_file}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, std::string("::add-mask::") + kToken + "\n");
  EXPECT_EQ(result.err, "");
  const auto env_lines = Lines(Read(env_file));
  ASSERT_EQ(env_lines.size(), 3u) << Read(env_file);
  EXPECT_EQ(env_lines[0], "EARLIER=1");  // appended, never truncated
  EXPECT_EQ(env_lines[1], std::string("TOUCAN_TOKEN=") + kToken);
  ExpectExpiry(env_lines[2], "TOUCAN_TOKEN_EXPIRES_AT");
  const auto output_lines = Lines(Read(output_file));
  ASSERT_EQ(output_lines.size(), 2u) << Read(output_file);
  EXPECT_EQ(output_lines[0], std::string("token=") + kToken);
  ExpectExpiry(output_lines[1], "expires-at");
  EXPECT_EQ(env_lines[2].substr(env_lines[2].find('=')),
            output_lines[1].substr(output_lines[1].find('=')));
  // One variable is enough; a file that does not exist yet is created.
  const std::string fresh = dir_ + "/fresh";
  ASSERT_EQ(Mint(server.url(), {"-o", "github"}, {{"GITHUB_OUTPUT", fresh}}).exit_code, 0);
  EXPECT_EQ(Lines(Read(fresh)).size(), 2u);
}

// A file left without its final newline by an earlier step keeps its last line, and ours is read.
TEST_F(Output, GithubFileWithoutFinalNewline) {
  TestServer server(TokenReply());
  const std::string env_file = Write("env", "EARLIER=1");
  ASSERT_EQ(Mint(server.url(), {"-o", "github"}, {{"GITHUB_ENV", env_file}}).exit_code, 0);
  const auto lines = Lines(Read(env_file));
  ASSERT_EQ(lines.size(), 3u) << Read(env_file);
  EXPECT_EQ(lines[0], "EARLIER=1");
  EXPECT_EQ(lines[1], std::string("TOUCAN_TOKEN=") + kToken);
}

// The mask comes first: when stdout cannot take it, no file gets the token.
TEST_F(Output, GithubWritesNoFileWithoutTheMask) {
  TestServer server(TokenReply());
  const std::string env_file = Write("env", "");
  Env env = KeyAndUrl(server.url());
  env["GITHUB_ENV"] = env_file;
  const RunResult result = Shell(">/dev/full", {"-u", "u1", "-o", "github"}, env);
  EXPECT_EQ(result.exit_code, 8) << result.err;
  EXPECT_EQ(Read(env_file), "");
}

// A parent (Node.js, say) may leave stdout non-blocking: a full pipe is waited out, not exit 8
// with the minted token lost.
TEST_F(Output, AFullNonBlockingStdoutIsWaitedOut) {
  TestServer server(TokenReply());
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  const std::string filler(65536, 'x');
  std::size_t filled = 0;
  for (ssize_t n; (n = ::write(fds[1], filler.data(), filler.size())) > 0;)
    filled += std::size_t(n);
  std::vector<std::string> env{"TOUCAN_API_KEY=" + std::string(kApiKey),
                               "TOUCAN_BASE_URL=" + server.url()};
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name)) env.push_back(std::string(name) + "=" + value);
  }
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::execle(TOUCAN_TOKEN_BINARY, TOUCAN_TOKEN_BINARY, "-u", "u1", "-o", "token", nullptr,
             envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  // Drained once the tool waits in poll (or has given up): a readiness wait, not a sleep.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  for (std::string call; std::chrono::steady_clock::now() < deadline && call.rfind("7 ", 0) != 0 &&
                         ::waitpid(pid, &status, WNOHANG) == 0;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/syscall"), call);
  }
  std::string out;
  char buffer[65536];
  ::fcntl(fds[0], F_SETFL, 0);
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;)
    out.append(buffer, std::size_t(n));
  ::close(fds[0]);
  if (!WIFEXITED(status)) ::waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(out.substr(filled), std::string(kToken) + "\n");
}

TEST_F(Output, GithubFailuresAndTokensNotWasted) {
  TestServer server(TokenReply());
  // Neither variable: a usage error before any request.
  const RunResult neither = Mint(server.url(), {"-o", "github"}, {{"GITHUB_ENV", ""}});
  EXPECT_EQ(neither.exit_code, 2);
  ExpectOneErrorLine(neither, "GITHUB_ENV");
  // A file that cannot be opened: exit 8, before any request.
  const RunResult unopenable =
      Mint(server.url(), {"-o", "github", "-q"}, {{"GITHUB_ENV", dir_ + "/no/such/folder/env"}});
  EXPECT_EQ(unopenable.exit_code, 8);
  ExpectOneErrorLine(unopenable, "$GITHUB_ENV");
  EXPECT_EQ(server.request_count(), 0u);
  // A FIFO nobody reads: exit 8 at once, not a hang.
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const RunResult unread = Mint(server.url(), {"-o", "github"}, {{"GITHUB_ENV", fifo}});
  EXPECT_EQ(unread.exit_code, 8);
  EXPECT_NE(unread.err.find("cannot open $GITHUB_ENV"), std::string::npos) << unread.err;
  EXPECT_EQ(server.request_count(), 0u);
  // A file that cannot be written: exit 8, naming it.
  const std::string output_file = Write("output", "");
  const RunResult full = Mint(server.url(), {"-o", "github"},
                              {{"GITHUB_ENV", "/dev/full"}, {"GITHUB_OUTPUT", output_file}});
  EXPECT_EQ(full.exit_code, 8);
  EXPECT_NE(full.err.find("$GITHUB_ENV ('/dev/full')"), std::string::npos) << full.err;
  EXPECT_EQ(std::count(full.err.begin(), full.err.end(), '\n'), 1) << full.err;
  // A token a shell would interpret is refused before the mask, so nothing is written.
  TestServer hostile(Reply(200, R"J({"token":"$(touch${IFS}x)","expiresIn":1})J"));
  const RunResult refused = Mint(hostile.url(), {"-o", "github"}, {{"GITHUB_OUTPUT", output_file}});
  EXPECT_EQ(refused.exit_code, 7);
  // Only one of the two files: the other half is missing, and the run says so.
  EXPECT_NE(refused.err.find("warning: GITHUB_ENV is not set, so the job's environment will not "
                             "have the token"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(Read(output_file), "");
  EXPECT_EQ(Mint(hostile.url(), {"-o", "shell"}).exit_code, 7);
}

TEST_F(Output, DefaultFormatFromEnvironmentThenProfileBelowTheFlag) {
  TestServer server(TokenReply());
  const std::string token_line = std::string(kToken) + "\n";
  EXPECT_EQ(Mint(server.url(), {}, {{"TOUCAN_OUTPUT", "token"}}).out, token_line);
  EXPECT_EQ(
      json::parse(Mint(server.url(), {"-o", "json"}, {{"TOUCAN_OUTPUT", "token"}}).out).at("token"),
      kToken);
  Env profile = ConfigEnv("output = \"token\"\n");
  EXPECT_EQ(Mint(server.url(), {}, profile).out, token_line);
  profile["TOUCAN_OUTPUT"] = "header";
  EXPECT_EQ(Mint(server.url(), {}, profile).out,
            std::string("Authorization: Bearer ") + token_line);
  const RunResult bad = Mint(server.url(), {}, {{"TOUCAN_OUTPUT", "yaml"}});
  EXPECT_EQ(bad.exit_code, 2);
  ExpectOneErrorLine(bad, "TOUCAN_OUTPUT is 'yaml', not an output format");
  const RunResult typo = Mint(server.url(), {}, {{"TOUCAN_OUTPUT", "tokn"}});
  ExpectOneErrorLine(typo, "(did you mean token?)");
  EXPECT_EQ(server.request_count(), 4u);  // nothing sent for the bad variables
}

TEST_F(Output, ProfileOutputIsCheckedWithItsLocation) {
  const RunResult bad = RunChecked({"-u", "u1", "--dry-run"}, ConfigEnv("output = \"yaml\"\n"));
  EXPECT_EQ(bad.exit_code, 2);
  ExpectOneErrorLine(bad, "config.toml:2:10: 'output': 'yaml' is not a format");
}

TEST_F(Output, BatchIgnoresTheDefaultFormat) {
  TestServer server(TokenReply());
  Env env = ConfigEnv("output = \"env\"\n");
  env["TOUCAN_OUTPUT"] = "token";
  for (const auto& [name, value] : KeyAndUrl(server.url())) env[name] = value;
  const RunResult result = RunChecked({"batch"}, env, "u1\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out).at("token"), kToken);
  const RunResult dry = RunChecked({"batch", "--dry-run"}, env, "u1\n");
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(json::parse(dry.out).at("method"), "POST");
  EXPECT_EQ(RunChecked({"batch", "-o", "json"}, env, "u1\n").exit_code, 2);
}

// A dry run must never land in $GITHUB_ENV or in a $(...) that expects a token.
TEST_F(Output, DryRunRefusesTokenFormatsNamingTheirSource) {
  const RunResult flag = RunChecked({"-u", "u1", "-o", "token", "--dry-run"}, {});
  EXPECT_EQ(flag.exit_code, 2);
  ExpectOneErrorLine(flag, "'token' (from -o/--output); add -o json");
  const RunResult variable = RunChecked({"-u", "u1", "--dry-run"}, {{"TOUCAN_OUTPUT", "env"}});
  EXPECT_EQ(variable.exit_code, 2);
  ExpectOneErrorLine(variable, "'env' (from TOUCAN_OUTPUT); add -o json");
  const RunResult profile =
      RunChecked({"-u", "u1", "--dry-run"}, ConfigEnv("output = \"github\"\n"));
  EXPECT_EQ(profile.exit_code, 2);
  ExpectOneErrorLine(profile, "'github' (from the profile 'default'); add -o json");
  const RunResult json_flag =
      RunChecked({"-u", "u1", "-o", "json", "--dry-run"}, {{"TOUCAN_OUTPUT", "env"}});
  EXPECT_EQ(json_flag.exit_code, 0) << json_flag.err;
  EXPECT_EQ(json::parse(json_flag.out).at("method"), "POST");
}

TEST_F(Output, CompletionPrintsTheInstalledScripts) {
  for (const auto& [shell, file] :
       {std::pair{"bash", "toucan-token.bash"}, std::pair{"zsh", "_toucan-token"},
        std::pair{"fish", "toucan-token.fish"}}) {
    const RunResult result = RunChecked({"completion", shell}, {});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, Read(std::string(TOUCAN_COMPLETIONS) + "/" + file)) << shell;
    // Its shell's syntax check, where that shell is installed.
    const std::string check = std::string("command -v ") + shell + " >/dev/null || exit 0; " +
                              TOUCAN_TOKEN_BINARY + " completion " + shell + " | " + shell + " -n";
    const RunResult syntax = RunTool({"-c", check}, {}, std::nullopt, "/bin/sh");
    EXPECT_EQ(syntax.exit_code, 0) << shell << ": " << syntax.err;
  }
  const RunResult unknown = RunChecked({"completion", "tcsh"}, {});
  EXPECT_EQ(unknown.exit_code, 2);
  ExpectOneErrorLine(unknown, "(see toucan-token completion --help)");
}

TEST_F(Output, QuietKeepsErrorsOnly) {
  TestServer no_expiry(TokenReply(R"("scope":1)"));
  const RunResult warned = Mint(no_expiry.url());
  ASSERT_EQ(warned.exit_code, 0);
  EXPECT_NE(warned.err.find("warning:"), std::string::npos);
  const RunResult quiet = Mint(no_expiry.url(), {"-q"});
  ASSERT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(json::parse(quiet.out).at("token"), kToken);
  TestServer rejecting(Reply(401, R"({"message":"Invalid API key"})"));
  const RunResult error = Mint(rejecting.url(), {"--quiet"});
  EXPECT_EQ(error.exit_code, 3);
  ExpectOneErrorLine(error, "credentials rejected");
  const RunResult both = Mint(rejecting.url(), {"-q", "-v"});
  EXPECT_EQ(both.exit_code, 2);
  ExpectOneErrorLine(both, "-q/--quiet and -v/--verbose cannot be used together");
  EXPECT_EQ(rejecting.request_count(), 1u);
}

// A terminal (script(1) provides one) would get the batch's progress line; -q leaves the summary.
TEST_F(Output, QuietBatchOnATerminalShowsNoProgress) {
  TestServer server(TokenReply());
  const std::string input = Write("users.txt", "u1\nu2\n");
  const std::string command =
      std::string(TOUCAN_TOKEN_BINARY) + " batch -q " + input + " > " + dir_ + "/rows";
  Env env = KeyAndUrl(server.url());
  env["TERM"] = "dumb";
  const RunResult result =
      RunTool({"-qec", command, "/dev/null"}, env, std::nullopt, "/usr/bin/script");
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out.find("done, "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("toucan-token: 2 minted, 0 failed in "), std::string::npos)
      << result.out;
  EXPECT_EQ(Lines(Read(dir_ + "/rows")).size(), 2u);
}

}  // namespace
}  // namespace toucan::test
