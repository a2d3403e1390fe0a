"""Leaving the process once its work is written, without the interpreter's slow teardown.

After a run's last file is written and closed, a normal exit frees every module's objects
one by one: torch's and matplotlib's take most of a second here, a third of a short run's
wind-down, and every SLURM job pays it again. :func:`leave` exits as ``sys.exit`` would,
having done what matters of that teardown (the ``atexit`` handlers, W&B's and logging's
among them, and flushing the output), and skips the rest.
"""

import atexit
import contextlib
import logging
import os
import sys
import threading
from typing import NoReturn


def exit_status(code: object) -> int:
    """The process's exit status for ``SystemExit(code)``, as the interpreter sets it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # a message: said, and status 1
    return 1


def leave(code: object = 0) -> NoReturn:
    """Exit with the status of ``SystemExit(code)``, skipping the freeing of modules. With
    other threads still running, exit the usual way instead, so that they finish first."""
    status = exit_status(code)
    if threading.active_count() > 1:
        sys.exit(status)
    atexit._run_exitfuncs()  # what the interpreter would run: W&B's teardown, Hydra's, ...
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(status)
