"""The `plughost` console script: replaces itself with the plughost executable."""

import os
import sys

from ._launcher import binary_path


# Set before the exec: seeing it again means PLUGHOST_BINARY leads back here (through a wrapper
# script, say), which would exec without end.
_EXEC_MARK = "PLUGHOST_CONSOLE_SCRIPT_EXEC"


def main():
    if os.environ.get(_EXEC_MARK) == str(os.getpid()):
        sys.stderr.write("plughost: error: PLUGHOST_BINARY leads back to the plughost console "
                         "script; point it at the executable itself\n")
        return 127
    try:
        binary = binary_path()
    except FileNotFoundError as e:
        sys.stderr.write(f"plughost: error: {e}\n")
        return 127
    os.environ[_EXEC_MARK] = str(os.getpid())  # exec keeps the pid
    os.execv(binary, [binary] + sys.argv[1:])
