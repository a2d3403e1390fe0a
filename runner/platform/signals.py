"""Ctrl-C and SIGTERM, honoured at every moment, importable before anything heavy.

``kill``, a cluster's preemption and a launcher stopping its ranks all send SIGTERM; answered
as Ctrl-C is, it ends a run recorded as interrupted and resumable, not killed mid-write.

While libraries load, an interruption is noted and honoured as soon as the loading is done
(:func:`interrupts_deferred`): a KeyboardInterrupt raised in the middle of an import leaves a
module half-imported, and a library that catches it goes on with the half (a run that then
ignores Ctrl-C, or dies later of an error of its own). Loading takes a second or two, so
the interruption waits at most that long.
"""

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

INTERRUPTED_EXIT_CODE = 130  # as a shell reports a command stopped by Ctrl-C


@dataclass
class Interruptions:
    """This process's interruptions: how deep in deferred blocks it is, the signal that came
    during one, and whether the interruption has been told on the terminal."""

    deferring: int = 0
    pending: int | None = None
    told: bool = False


INTERRUPTIONS = Interruptions()


def stop_as_if_interrupted(signal_number: int, frame: object) -> None:
    if INTERRUPTIONS.deferring:
        INTERRUPTIONS.pending = signal_number
        return
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises KeyboardInterrupt, as Ctrl-C does, and both wait for the
    end of a deferred block."""
    signal.signal(signal.SIGTERM, stop_as_if_interrupted)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, stop_as_if_interrupted)


@contextmanager
def interrupts_deferred(honour: bool = True) -> Iterator[None]:
    """Note Ctrl-C and SIGTERM in the block; raise KeyboardInterrupt once it ends (the
    outermost block, when they nest). ``honour=False``: forget them instead, for a block that
    is already how the process stops (a run recording how it ended)."""
    INTERRUPTIONS.deferring += 1
    try:
        yield
    finally:
        INTERRUPTIONS.deferring -= 1
        if not INTERRUPTIONS.deferring and INTERRUPTIONS.pending is not None:
            INTERRUPTIONS.pending = None
            if honour:
                raise KeyboardInterrupt


def tell_interrupted(line: str) -> None:
    """Say once, on stderr, how the interruption ended things (the first line wins: the one
    nearest to what was interrupted)."""
    if not INTERRUPTIONS.told:
        INTERRUPTIONS.told = True
        print(line, file=sys.stderr, flush=True)
