"""Helper processes that never outlive the process that started them."""

import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def die_with_parent(parent: int) -> None:
    """Make this process go when ``parent`` goes, even by SIGKILL: on Linux the kernel sends
    it SIGKILL then. An orphaned helper would wait for work forever, holding its parent's
    output open."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # gone before the request took effect
        os._exit(1)
