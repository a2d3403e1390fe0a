"""``python -m runner``: Ctrl-C and SIGTERM stop it cleanly from its first instruction on,
even while the libraries are still being imported."""

import sys

from runner.interrupts import INTERRUPTED_EXIT_CODE, stop_on_sigterm

stop_on_sigterm()
try:
    from runner.train import main
except KeyboardInterrupt:  # before any run began: nothing to record or resume
    sys.exit(INTERRUPTED_EXIT_CODE)
main()
