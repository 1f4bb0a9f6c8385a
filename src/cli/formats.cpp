// The formats of a minted token on stdout, and -o github's files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <tuple>

#include "cli.hpp"

namespace toucan::cli {
namespace {

// Whether the regular file at `path` ends in a line without its newline (a step that wrote
// `printf 'A=1'`): appended as is, our first line would extend that line instead of being read.
bool EndsInOpenLine(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat info {};
  char last = '\n';
  const bool open_line = fd >= 0 && fstat(fd, &info) == 0 && S_ISREG(info.st_mode) &&
                         pread(fd, &last, 1, info.st_size - 1) == 1 && last != '\n';
  if (fd >= 0) close(fd);
  return open_line;
}

}  // namespace

ResultPrinter::ResultPrinter(std::string format, const Environment& env)
    : format_(std::move(format)) {
  if (format_ != "github") return;
  for (const auto& [variable, token, expires] :
       {std::tuple{"GITHUB_ENV", "TOUCAN_TOKEN", "TOUCAN_TOKEN_EXPIRES_AT"},
        std::tuple{"GITHUB_OUTPUT", "token", "expires-at"}}) {
    const auto path = EnvValue(env, variable);
    if (!path) continue;
    const std::string what = std::string("$") + variable + " ('" + *path + "')";
    // O_APPEND: others may append to the runner's files too, and each line is one write.
    // O_NONBLOCK: a FIFO nobody reads is an error now, not a hang; writes then block again.
    const int fd =
        open(path->c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0)
      throw Error(ErrorKind::kOutput, "cannot open " + what + ": " + std::strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    github_.push_back({LineWriter(fd, what), token, expires, EndsInOpenLine(*path)});
  }
}

// `-o env`, `shell` and `github` output is read by a shell (eval, or a workflow's
// `${{ env.TOUCAN_TOKEN }}` pasted into a script): only characters no shell interprets.
void ResultPrinter::Check(const TokenResponse& response) const {
  constexpr std::string_view kSafe =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+/=:";
  if (format_ != "json" && format_ != "token" && format_ != "header" &&
      response.token.find_first_not_of(kSafe) != std::string::npos) {
    throw Error(ErrorKind::kBadResponse,
                "the token holds characters a shell would interpret, so it is not printed for -o " +
                    format_ + "; use -o json or -o token");
  }
}

void ResultPrinter::Print(const TokenResponse& response) {
  Check(response);
  const std::string expires = response.expires_at ? FormatRfc3339(*response.expires_at) : "";
  const std::string prefix = format_ == "shell" ? "export " : "";
  LineWriter(STDOUT_FILENO)
      .Write(format_ == "json"     ? g_keys.ApplyToJson(ResponseJsonLine(response))
             : format_ == "token"  ? response.token
             : format_ == "header" ? "Authorization: Bearer " + response.token
             : format_ == "github" ? "::add-mask::" + response.token  // before it shows anywhere
                                   : prefix + "TOUCAN_TOKEN=" + response.token + "\n" + prefix +
                                         "TOUCAN_TOKEN_EXPIRES_AT=" + expires);
  for (auto& file : github_) {
    file.writer.Write((file.open_line ? "\n" : "") + std::string(file.token_name) + "=" +
                      response.token);
    file.writer.Write(std::string(file.expires_name) + "=" + expires);
  }
}

}  // namespace toucan::cli
