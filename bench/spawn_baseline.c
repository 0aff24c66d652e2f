/* The start-up baseline of `make bench`: spawns the given scripts with posix_spawn in a loop,
 * as fast as the machine allows, and reports how long that took and the CPU it used; then
 * kills and reaps them. Prints one JSON object. Usage: spawn_baseline SCRIPT... */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static double seconds_since(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
         (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

int main(int argc, char** argv) {
  const int count = argc - 1;
  pid_t* pids = calloc((size_t)(count > 0 ? count : 1), sizeof(pid_t));
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  const double cpu_start = cpu_seconds();
  int failed = 0;
  for (int i = 0; i < count; ++i) {
    /* Like plughost: the interpreter from the shebang, then the script. */
    char* child_argv[] = {"/bin/sh", argv[i + 1], NULL};
    if (posix_spawn(&pids[i], "/bin/sh", NULL, NULL, child_argv, environ) != 0) {
      pids[i] = 0;
      ++failed;
    }
  }
  const double elapsed = seconds_since(&start);
  const double cpu = cpu_seconds() - cpu_start;
  for (int i = 0; i < count; ++i) {
    if (pids[i] > 0) kill(pids[i], SIGKILL);
  }
  for (int i = 0; i < count; ++i) {
    if (pids[i] > 0) waitpid(pids[i], NULL, 0);
  }
  printf("{\"processes\": %d, \"failed\": %d, \"seconds\": %.6f, \"cpu_seconds\": %.6f}\n", count,
         failed, elapsed, cpu);
  free(pids);
  return failed ? 1 : 0;
}
