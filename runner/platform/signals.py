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
    during one, whether the interruption has been told on the terminal, and the line that
    tells it when it comes outside a run (set while a sweep is under way)."""

    deferring: int = 0
    pending: int | None = None
    told: bool = False
    outside_a_run: str | None = None


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


def when_interrupted_outside_a_run_say(line: str | None) -> None:
    """The line :func:`tell_interrupted_outside_a_run` says from now on (None: its own)."""
    INTERRUPTIONS.outside_a_run = line


def tell_interrupted_outside_a_run() -> None:
    """Say how an interruption that came outside any run ended things: before the run began,
    or, in a sweep, between its jobs."""
    tell_interrupted(INTERRUPTIONS.outside_a_run or "interrupted before the run began")


def tell_interrupted(line: str) -> None:
    """Say once, on stderr, how the interruption ended things (the first line wins: the one
    nearest to what was interrupted)."""
    if not INTERRUPTIONS.told:
        INTERRUPTIONS.told = True
        print(line, file=sys.stderr, flush=True)
