"""Files the command line writes: whole or not at all, readable as the user's own."""

import contextlib
import getpass
import os
import tempfile
from pathlib import Path


def umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "?"


def write_whole(out: Path, data: bytes) -> None:
    """Written beside the target and moved over it: never half a file under its name."""
    handle, partial = tempfile.mkstemp(prefix=".thidua-", suffix=out.suffix, dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(partial, 0o666 & ~umask())  # as a file the user makes (mkstemp: 0600)
        os.replace(partial, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
