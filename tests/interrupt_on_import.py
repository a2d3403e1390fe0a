"""``python -m runner`` interrupted (SIGINT, as Ctrl-C) the moment a chosen module starts to
be imported: an event, not a delay, so the moment is the same on every machine.

    python -m tests.interrupt_on_import MODULE -- [runner arguments]
"""

import importlib.abc
import os
import runpy
import signal
import sys


class InterruptOnImport(importlib.abc.MetaPathFinder):
    """Sends this process SIGINT when ``module`` is first looked for, then steps aside."""

    def __init__(self, module: str) -> None:
        self.module = module

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == self.module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None  # the usual finders import it


def main() -> None:
    separator = sys.argv.index("--")
    module = sys.argv[1]
    sys.argv = [sys.argv[0], *sys.argv[separator + 1 :]]
    sys.meta_path.insert(0, InterruptOnImport(module))
    runpy.run_module("runner", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
