"""SIGTERM treated as Ctrl-C, importable before anything heavy.

``kill``, a cluster's preemption and a launcher stopping its ranks all send SIGTERM; answered
as Ctrl-C is, it ends a run recorded as interrupted and resumable, not killed mid-write.
"""

import signal

INTERRUPTED_EXIT_CODE = 130  # as a shell reports a command stopped by Ctrl-C


def stop_as_if_interrupted(signal_number: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises KeyboardInterrupt, as Ctrl-C does."""
    signal.signal(signal.SIGTERM, stop_as_if_interrupted)
