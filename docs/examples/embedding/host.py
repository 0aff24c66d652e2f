#!/usr/bin/env python3
"""A Python program that embeds plughost through its C API, with ctypes only: runs the plugins
of a folder, prints each line they write as it arrives (through the record callback), shows the
status once the first line came, then stops them and exits with plughost's exit code.

    python3 host.py PLUGIN_FOLDER [PATH_TO_LIBPLUGHOST]

Without a path, libplughost.so.1 is looked up as the dynamic linker does (LD_LIBRARY_PATH, ...).
"""
import ctypes
import sys
import threading


class Record(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("time_ns", ctypes.c_int64),
        ("plugin", ctypes.c_char_p),
        ("plugin_length", ctypes.c_size_t),
        ("pid", ctypes.c_int),
        ("stream", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_char)),  # may hold NUL bytes: read data_length of them
        ("data_length", ctypes.c_size_t),
        ("partial", ctypes.c_int),
    ]


RECORD_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.POINTER(Record), ctypes.c_void_p)
DIAGNOSTICS_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
STREAMS = ("stdout", "stderr", "event")


def load(path):
    lib = ctypes.CDLL(path)
    handle = ctypes.c_void_p
    for name, args in {
        "plughost_options_new": [ctypes.POINTER(handle)],
        "plughost_options_add_location": [handle, ctypes.c_char_p],
        "plughost_options_set_identity": [handle, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p],
        "plughost_options_set_stop_timeout": [handle, ctypes.c_char_p],
        "plughost_options_set_record_callback": [handle, RECORD_CALLBACK, ctypes.c_void_p],
        "plughost_options_set_diagnostics_callback": [handle, DIAGNOSTICS_CALLBACK, ctypes.c_void_p],
        "plughost_launcher_new": [handle, ctypes.POINTER(handle)],
        "plughost_launcher_start": [handle],
        "plughost_launcher_stop": [handle],
        "plughost_launcher_wait": [handle, ctypes.POINTER(ctypes.c_int)],
        "plughost_launcher_status_json": [handle, ctypes.POINTER(ctypes.c_void_p)],
    }.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = ctypes.c_int
    lib.plughost_options_free.argtypes = [handle]
    lib.plughost_options_free.restype = None
    lib.plughost_launcher_free.argtypes = [handle]
    lib.plughost_launcher_free.restype = None
    lib.plughost_string_free.argtypes = [ctypes.c_void_p]
    lib.plughost_string_free.restype = None
    lib.plughost_last_error.restype = ctypes.c_char_p
    lib.plughost_version.restype = ctypes.c_char_p
    return lib


def main():
    if len(sys.argv) not in (2, 3):
        print(f"usage: {sys.argv[0]} PLUGIN_FOLDER [PATH_TO_LIBPLUGHOST]", file=sys.stderr)
        return 2
    lib = load(sys.argv[2] if len(sys.argv) == 3 else "libplughost.so.1")

    def check(result, what):
        if result != 0:
            raise RuntimeError(f"{what}: {lib.plughost_last_error().decode(errors='replace')}")

    print(f"plughost {lib.plughost_version().decode()}", flush=True)
    first_line = threading.Event()

    # Called from plughost's writer thread (ctypes takes the GIL for it).
    @RECORD_CALLBACK
    def on_record(record, _user):
        r = record.contents
        plugin = r.plugin[: r.plugin_length].decode(errors="replace")
        data = ctypes.string_at(r.data, r.data_length).decode(errors="replace")
        print(f"record {plugin} {STREAMS[r.stream]} {data}", flush=True)
        if r.stream == 0:
            first_line.set()

    @DIAGNOSTICS_CALLBACK
    def on_diagnostic(level, message, _user):
        print(f"host-py: plughost says ({level}): {message.decode(errors='replace')}",
              file=sys.stderr, flush=True)

    options = ctypes.c_void_p()
    launcher = ctypes.c_void_p()
    check(lib.plughost_options_new(ctypes.byref(options)), "options")
    try:
        check(lib.plughost_options_add_location(options, sys.argv[1].encode()), "location")
        check(lib.plughost_options_set_identity(options, b"WORKER", b"0", b"1"), "identity")
        check(lib.plughost_options_set_stop_timeout(options, b"2s"), "stop timeout")
        check(lib.plughost_options_set_record_callback(options, on_record, None), "callback")
        check(lib.plughost_options_set_diagnostics_callback(options, on_diagnostic, None),
              "diagnostics")
        check(lib.plughost_launcher_new(options, ctypes.byref(launcher)), "launcher")
    finally:
        lib.plughost_options_free(options)
    try:
        check(lib.plughost_launcher_start(launcher), "start")
        seen = first_line.wait(timeout=30)
        status = ctypes.c_void_p()
        check(lib.plughost_launcher_status_json(launcher, ctypes.byref(status)), "status")
        print(f"status {ctypes.string_at(status).decode()}", flush=True)
        lib.plughost_string_free(status)
        check(lib.plughost_launcher_stop(launcher), "stop")
        code = ctypes.c_int(-1)
        check(lib.plughost_launcher_wait(launcher, ctypes.byref(code)), "wait")
    finally:
        lib.plughost_launcher_free(launcher)  # the callbacks above outlive every call
    print(f"exit code {code.value}", flush=True)
    return code.value if seen else 1


if __name__ == "__main__":
    sys.exit(main())
