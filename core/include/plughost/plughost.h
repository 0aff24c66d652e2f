/* plughost's C API: embed the launcher in a program written in C, or in any language that can
 * call C (Rust, Go, Python's ctypes). Link with libplughost (pkg-config --cflags --libs plughost).
 * docs/embedding.md has complete examples.
 *
 * Errors: every function that can fail returns a plughost_result; PLUGHOST_OK is 0. After a
 * failure, plughost_last_error() gives a one-line message on the calling thread. No C++
 * exception ever leaves this API.
 *
 * Threading:
 * - An options object belongs to one thread at a time.
 * - A launcher is created, run, started and freed on one thread; plughost_launcher_stop(),
 *   _reload(), _status_json(), _plan_json() and _wait() may be called from any thread at any
 *   time.
 * - The record and diagnostics callbacks are called from plughost's own threads (a writer thread
 *   for records, any of the launcher's threads for diagnostics, the thread of _run() among
 *   them), one call at a time each. They may call plughost_launcher_stop(), _reload(),
 *   _status_json() and _plan_json(), never _free(), _run(), _start() or _wait() on their own
 *   launcher (those wait for the thread the callback runs on): _run(), _start() and _wait() fail
 *   with PLUGHOST_ERROR_USAGE, _free() leaves the launcher running and unfreed, with the reason in
 *   plughost_last_error().
 * - A launcher handle is checked against the live ones: a call with one freed already fails with
 *   PLUGHOST_ERROR_USAGE instead of using freed memory (as long as the address has not been
 *   given to a newer launcher).
 * - The launcher never returns from _run(), _wait() or _free() while the record callback is
 *   running: a slow callback is waited for, so `user_data` may be freed once they returned.
 * - Strings passed in are copied; strings handed to callbacks live only for the call.
 *
 * What a launcher does to the process: it has a few threads of its own, and forks a guardian
 * process that stops the plugins if this process is killed. Unless asked for (PLUGHOST_FLAG_*),
 * it installs no signal handler and changes no process-wide setting.
 */
#ifndef PLUGHOST_PLUGHOST_H
#define PLUGHOST_PLUGHOST_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PLUGHOST_C_API __attribute__((visibility("default")))
#else
#define PLUGHOST_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library ("0.1.0"). */
PLUGHOST_C_API const char* plughost_version(void);

typedef enum plughost_result {
  PLUGHOST_OK = 0,
  PLUGHOST_ERROR_USAGE = 1,  /* a bad argument, option value or identity; a call out of order */
  PLUGHOST_ERROR_CONFIG = 2, /* a configuration that cannot be used; a sink that cannot open */
  PLUGHOST_ERROR_SYSTEM = 3  /* out of memory, or another failure of the system */
} plughost_result;

/* The message of the last error on this thread ("" when none); valid until the next call into
 * plughost on this thread. */
PLUGHOST_C_API const char* plughost_last_error(void);

/* Frees a string plughost returned (plan and status JSON). NULL is fine. */
PLUGHOST_C_API void plughost_string_free(char* text);

/* ---- records and diagnostics ---------------------------------------------------------------- */

typedef enum plughost_stream {
  PLUGHOST_STREAM_STDOUT = 0,
  PLUGHOST_STREAM_STDERR = 1,
  PLUGHOST_STREAM_EVENT = 2
} plughost_stream;

/* One record: a line a plugin wrote, or a lifecycle event. Later versions may append members:
 * read `size` before any member after it. */
typedef struct plughost_record {
  size_t size;          /* sizeof(plughost_record) of the library that filled it */
  int64_t time_ns;      /* when it was read, in nanoseconds since 1970-01-01T00:00:00Z */
  const char* plugin;   /* the plugin's name (its path within its location); "" for plughost */
  size_t plugin_length; /* in bytes, not counting the NUL that follows */
  int pid;              /* 0 when no process exists (skipped, could not start) */
  plughost_stream stream;
  /* stdout/stderr: the line, without its newline, any bytes (a NUL may be part of it).
   * event: a JSON object, {"event":"exited","exit_code":0} (docs/running.md lists them). */
  const char* data;
  size_t data_length; /* in bytes, not counting the NUL that follows */
  int partial;        /* stdout/stderr: 1 for a piece of a line longer than 64 KiB */
} plughost_record;

typedef void (*plughost_record_callback)(const plughost_record* record, void* user_data);

typedef enum plughost_level {
  PLUGHOST_LEVEL_DEBUG = 0,
  PLUGHOST_LEVEL_INFO = 1,
  PLUGHOST_LEVEL_WARNING = 2,
  PLUGHOST_LEVEL_ERROR = 3
} plughost_level;

/* One of plughost's own messages, one line without a prefix. */
typedef void (*plughost_diagnostics_callback)(plughost_level level, const char* message,
                                              void* user_data);

/* ---- options --------------------------------------------------------------------------------- */

typedef struct plughost_options plughost_options;

/* What `plughost run`'s flags say, for a launcher. Values are checked when the launcher is
 * created, with the same messages as the command line's. */
PLUGHOST_C_API plughost_result plughost_options_new(plughost_options** out);
PLUGHOST_C_API void plughost_options_free(plughost_options* options);

/* --config FILE (YAML, TOML or JSON), or --config-json TEXT. */
PLUGHOST_C_API plughost_result plughost_options_set_config_file(plughost_options* options,
                                                                const char* path);
PLUGHOST_C_API plughost_result plughost_options_set_config_json(plughost_options* options,
                                                                const char* json);
/* --role, --worker-id, --worker-count; NULL leaves one to the environment and configuration. */
PLUGHOST_C_API plughost_result plughost_options_set_identity(plughost_options* options,
                                                             const char* role,
                                                             const char* worker_id,
                                                             const char* worker_count);
/* --location (each call adds one; they replace the configuration's). */
PLUGHOST_C_API plughost_result plughost_options_add_location(plughost_options* options,
                                                             const char* path);
/* --sink SPEC (each call adds one; they replace the configuration's), e.g. "jsonl:/tmp/r.jsonl". */
PLUGHOST_C_API plughost_result plughost_options_add_sink(plughost_options* options,
                                                         const char* spec);
/* --module-path FOLDER (each call adds one). */
PLUGHOST_C_API plughost_result plughost_options_add_module_path(plughost_options* options,
                                                                const char* folder);
/* --stop-timeout ("5", "500ms"). */
PLUGHOST_C_API plughost_result plughost_options_set_stop_timeout(plughost_options* options,
                                                                 const char* duration);
/* The environment identity and configuration are read from, "NAME=value" each; by default this
 * process's. Plugins inherit it. */
PLUGHOST_C_API plughost_result plughost_options_set_environment(plughost_options* options,
                                                                const char* const* entries,
                                                                size_t count);

/* Every record of every plugin, to `callback`, from a writer thread of plughost's, beside the
 * configured sinks (see PLUGHOST_FLAG_CONFIGURED_SINKS). Records wait in a queue of 8 MiB; when
 * it is full, plughost stops reading the plugins' output until the callback catches up. NULL
 * removes it. */
PLUGHOST_C_API plughost_result plughost_options_set_record_callback(
    plughost_options* options, plughost_record_callback callback, void* user_data);
/* plughost's own messages, to `callback` instead of standard error. NULL: standard error. */
PLUGHOST_C_API plughost_result plughost_options_set_diagnostics_callback(
    plughost_options* options, plughost_diagnostics_callback callback, void* user_data);

typedef enum plughost_flag {
  /* On by default. Off: records go to the record callback only, not to the configured sinks. */
  PLUGHOST_FLAG_CONFIGURED_SINKS = 0,
  /* SIGTERM and SIGINT stop the plugins, SIGHUP reloads: process-wide signal handlers. */
  PLUGHOST_FLAG_HANDLE_SIGNALS = 1,
  /* While running: be a child subreaper and handle SIGCHLD (process-wide), so that what plugins
   * leave behind is stopped and reaped by plughost; off, each plugin is watched through a pidfd
   * and its orphans are init's. */
  PLUGHOST_FLAG_CHILD_SUBREAPER_AND_SIGCHLD_HANDLER = 2,
  /* While running: raise this process's soft open-file limit to the hard limit. */
  PLUGHOST_FLAG_RAISE_OPEN_FILE_LIMIT = 3,
  /* With the subreaper: reap every child of this process that exits, not only plugins'. */
  PLUGHOST_FLAG_REAP_ALL_CHILDREN = 4
} plughost_flag;

PLUGHOST_C_API plughost_result plughost_options_set_flag(plughost_options* options,
                                                         plughost_flag flag, int on);

/* ---- the launcher ---------------------------------------------------------------------------- */

typedef struct plughost_launcher plughost_launcher;

/* Loads the configuration and modules, and decides what runs (nothing starts yet). */
PLUGHOST_C_API plughost_result plughost_launcher_new(const plughost_options* options,
                                                     plughost_launcher** out);
/* Stops a started launcher and waits for it, then frees it. NULL is fine. It returns nothing:
 * plughost_last_error() is "" when the launcher was freed, else it says why it was not, and the
 * launcher is left as it was: called from one of its callbacks, while _run() runs on another
 * thread (stop it, and free it once _run() returned), or with a launcher freed already. Calls
 * that other threads have in progress on it (a _wait()) are waited for (they return), later ones
 * fail with PLUGHOST_ERROR_USAGE. */
PLUGHOST_C_API void plughost_launcher_free(plughost_launcher* launcher);

/* What `plughost list --json` prints, for this launcher. Free with plughost_string_free(). */
PLUGHOST_C_API plughost_result plughost_launcher_plan_json(plughost_launcher* launcher,
                                                           char** json);

/* Runs the plugins on the calling thread until they have all ended or stop() was called;
 * `exit_code` (may be NULL) is then `plughost run`'s: 0, 1 (a plugin failed for good) or 3
 * (records were lost). Once per launcher, like start(): a second call (after, or meanwhile on
 * another thread) fails with PLUGHOST_ERROR_USAGE. */
PLUGHOST_C_API plughost_result plughost_launcher_run(plughost_launcher* launcher, int* exit_code);
/* Runs them on a thread of the launcher's; returns once they are being started. */
PLUGHOST_C_API plughost_result plughost_launcher_start(plughost_launcher* launcher);
/* After start(): waits for the run to end. Any thread. */
PLUGHOST_C_API plughost_result plughost_launcher_wait(plughost_launcher* launcher, int* exit_code);
/* Stops every plugin (stop signal, stop timeout, SIGKILL); run() or wait() then return. Any
 * thread; before run() or start(), they start nothing. */
PLUGHOST_C_API plughost_result plughost_launcher_stop(plughost_launcher* launcher);
/* Reads the configuration again and rescans the locations, as SIGHUP does for the binary. */
PLUGHOST_C_API plughost_result plughost_launcher_reload(plughost_launcher* launcher);
/* Every plugin's state, pid, restarts, start and last exit, as a JSON object
 * (docs/embedding.md). Any thread. Free with plughost_string_free(). */
PLUGHOST_C_API plughost_result plughost_launcher_status_json(plughost_launcher* launcher,
                                                             char** json);

#ifdef __cplusplus
}
#endif

#endif /* PLUGHOST_PLUGHOST_H */
