"""The real command line with one fault injected at a chosen moment.

    python -m tests.inject TARGET NTH ACTION [--match TEXT] -- [runner arguments]

TARGET is a function or method (``module:name`` or ``module:Class.method``); on its NTH call
(counting only calls whose arguments contain TEXT, with ``--match``) ACTION happens, then
the call goes on as usual (or raises, for an error):

    SIGINT, SIGTERM   the process sends itself the signal, as Ctrl-C or ``kill`` would
    SIGSTOP           the process stops itself until the test sends SIGCONT (to change the
                      world around it, such as filling its disk, at a moment of its choosing)
    ENOSPC, EACCES    the call raises that OSError, as a full disk or a lost permission would
    kill-wandb        W&B's service process is killed (SIGKILL), as a crash of it would be

Then ``python -m runner`` runs with the runner arguments, unchanged in every other way.
"""

import argparse
import errno
import functools
import importlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def kill_wandb_service() -> None:
    for child in children(os.getpid()):
        command = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"wandb-core" in command:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)


def act(action: str, arguments: tuple) -> None:
    if action in ("SIGINT", "SIGTERM", "SIGSTOP"):
        os.kill(os.getpid(), signal.Signals[action])
    elif action in ("ENOSPC", "EACCES"):
        code = getattr(errno, action)
        filename = next((str(a) for a in arguments if isinstance(a, str | Path)), None)
        raise OSError(code, os.strerror(code), filename)
    elif action == "kill-wandb":
        kill_wandb_service()
    else:
        raise SystemExit(f"unknown action {action}")


def inject(target: str, nth: int, action: str, match: str | None) -> None:
    """Replace ``target`` by a function that acts on its ``nth`` (matching) call, everywhere
    it is already bound, and in the modules that will import it."""
    module_name, _, qualified_name = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = qualified_name.split(".")
    for part in path:
        owner = getattr(owner, part)
    original: Callable = getattr(owner, name)
    calls = 0

    @functools.wraps(original)
    def with_fault(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if match is None or match in repr(args) + repr(kwargs):
            calls += 1
            if calls == nth:
                act(action, args)
        return original(*args, **kwargs)

    setattr(owner, name, with_fault)
    for module in list(sys.modules.values()):
        for key, value in list(getattr(module, "__dict__", {}).items()):
            if value is original and module is not owner:
                setattr(module, key, with_fault)


def main() -> None:
    separator = sys.argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("nth", type=int)
    parser.add_argument("action")
    parser.add_argument("--match")
    options = parser.parse_args(sys.argv[1:separator])
    from runner.platform.signals import stop_on_sigterm

    stop_on_sigterm()
    inject(options.target, options.nth, options.action, options.match)
    sys.argv = [sys.argv[0], *sys.argv[separator + 1 :]]
    from runner.train import main as runner_main

    runner_main()


if __name__ == "__main__":
    main()
