/* A C program that embeds plughost: runs the plugins of a folder, prints each line they write
 * as it arrives (through the record callback), shows the status once the first line came, then
 * stops them and exits with plughost's exit code.
 *
 *   cc host.c $(pkg-config --cflags --libs plughost) -o host-c
 *   ./host-c plugins
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, with -std=c11 */

#include <plughost/plughost.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int lines_seen = 0;

/* Called from plughost's writer thread, one record at a time. */
static void on_record(const plughost_record* r, void* user_data) {
  (void)user_data;
  static const char* const streams[] = {"stdout", "stderr", "event"};
  printf("record %.*s %s %.*s\n", (int)r->plugin_length, r->plugin, streams[r->stream],
         (int)r->data_length, r->data);
  fflush(stdout);
  if (r->stream != PLUGHOST_STREAM_STDOUT) return;
  pthread_mutex_lock(&lock);
  ++lines_seen;
  pthread_cond_signal(&changed);
  pthread_mutex_unlock(&lock);
}

static void on_diagnostic(plughost_level level, const char* message, void* user_data) {
  (void)user_data;
  fprintf(stderr, "host-c: plughost says (%d): %s\n", (int)level, message);
}

static int check(plughost_result r, const char* what) {
  if (r == PLUGHOST_OK) return 0;
  fprintf(stderr, "host-c: %s: %s\n", what, plughost_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PLUGIN_FOLDER\n", argv[0]);
    return 2;
  }
  printf("plughost %s\n", plughost_version());
  plughost_options* options = NULL;
  plughost_launcher* launcher = NULL;
  if (check(plughost_options_new(&options), "options") ||
      check(plughost_options_add_location(options, argv[1]), "location") ||
      check(plughost_options_set_identity(options, "WORKER", "0", "1"), "identity") ||
      check(plughost_options_set_stop_timeout(options, "2s"), "stop timeout") ||
      check(plughost_options_set_record_callback(options, on_record, NULL), "callback") ||
      check(plughost_options_set_diagnostics_callback(options, on_diagnostic, NULL),
            "diagnostics") ||
      check(plughost_launcher_new(options, &launcher), "launcher")) {
    plughost_options_free(options);
    return 2;
  }
  plughost_options_free(options); /* the launcher keeps what it needs */

  if (check(plughost_launcher_start(launcher), "start")) {
    plughost_launcher_free(launcher);
    return 2;
  }
  /* Wait (at most 30 s) for the first line. */
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&lock);
  while (lines_seen == 0) {
    if (pthread_cond_timedwait(&changed, &lock, &deadline) != 0) break;
  }
  const int seen = lines_seen;
  pthread_mutex_unlock(&lock);

  char* status = NULL;
  if (check(plughost_launcher_status_json(launcher, &status), "status") == 0) {
    printf("status %s\n", status);
    plughost_string_free(status);
  }
  int code = -1;
  if (check(plughost_launcher_stop(launcher), "stop") ||
      check(plughost_launcher_wait(launcher, &code), "wait")) {
    code = 2;
  }
  plughost_launcher_free(launcher);
  printf("exit code %d\n", code);
  return seen > 0 ? code : 1;
}
