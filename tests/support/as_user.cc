#include "support/as_user.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace freshfs::testing {

std::string RunAs(const Identity& who, const std::function<std::string()>& work) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    return std::string("<child: pipe: ") + strerror(errno) + ">";
  const pid_t pid = ::fork();
  if (pid < 0) return std::string("<child: fork: ") + strerror(errno) + ">";
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string result;
    if (::setgroups(who.groups.size(), who.groups.data()) != 0 || ::setgid(who.gid) != 0 ||
        ::setuid(who.uid) != 0) {
      result = std::string("<child: cannot become the user: ") + strerror(errno) + ">";
    } else {
      ::umask(who.umask);
      result = work();
    }
    const char* p = result.data();
    size_t left = result.size();
    while (left > 0) {
      ssize_t n = ::write(pipe_fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= size_t(n);
    }
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return out + "<child: died, status " + std::to_string(status) + ">";
  return out;
}

std::string Outcome(long rc) {
  if (rc != -1) return "ok";
  const char* name = strerrorname_np(errno);
  return name ? name : "errno " + std::to_string(errno);
}

std::string Describe(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Outcome(-1);
  char text[96];
  std::snprintf(text, sizeof text, "mode 0%o %u:%u", unsigned(st.st_mode), unsigned(st.st_uid),
                unsigned(st.st_gid));
  std::string out = text;
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
    out += " dev " + std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
  return out;
}

}  // namespace freshfs::testing
