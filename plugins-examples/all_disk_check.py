#!/usr/bin/env python3
"""Example one-shot plugin for every role ("all_" prefix): it checks something once, prints
the result and exits. plughost records the exit code; a non-zero code makes `plughost run`
exit with 1 once everything has ended."""
import os
import shutil
import sys

path = os.environ.get("DISK_CHECK_PATH", "/")
total, used, free = shutil.disk_usage(path)
print(f"disk {path}: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB")
if free < 2**30:
    print(f"disk {path}: less than 1 GiB free", file=sys.stderr)
    sys.exit(1)
