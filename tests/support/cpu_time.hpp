#pragma once
// CPU time of this thread spent in `action`: a bound on it is about the work done, not about how
// busy the machine is. For the linear-time tests.
#include <ctime>
#include <functional>

inline double SecondsFor(const std::function<void()>& action) {
  const auto now = [] {
    timespec time{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time);
    return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_nsec) / 1e9;
  };
  const double start = now();
  action();
  return now() - start;
}
