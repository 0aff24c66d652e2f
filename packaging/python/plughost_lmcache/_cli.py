"""The `plughost` console script: replaces itself with the plughost executable."""

import os
import sys

from ._launcher import binary_path


def main():
    try:
        binary = binary_path()
    except FileNotFoundError as e:
        sys.stderr.write(f"plughost: error: {e}\n")
        return 127
    os.execv(binary, [binary] + sys.argv[1:])
