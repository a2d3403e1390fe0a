"""``python -m runner``: Ctrl-C and SIGTERM stop it cleanly from its first instruction on,
even while the libraries are still being imported."""

import sys

from runner.platform.signals import (
    INTERRUPTED_EXIT_CODE,
    interrupts_deferred,
    stop_on_sigterm,
    tell_interrupted,
)

stop_on_sigterm()
try:
    with interrupts_deferred():
        from runner.train import command
except KeyboardInterrupt:  # before anything ran: nothing to record or resume
    tell_interrupted("interrupted while starting; nothing was run")
    sys.exit(INTERRUPTED_EXIT_CODE)
command()
