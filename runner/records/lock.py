"""One live run per directory: a lock that the operating system lets go of when its holder dies.

A run (or a sweep) takes ``.lock`` in its directory for as long as it lives. The lock is a
``flock``, not the file's existence: the kernel releases it when the process ends however it
ends, ``kill -9`` and a node's crash included, so a crashed run never leaves its directory
stuck; the file left behind is simply locked again by the next run. The holder's process id
and host are written into it, to name it when another run is refused.
"""

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from runner.platform.errors import ConfigError

LOCK_NAME = ".lock"


class DirectoryLock:
    """The lock of ``directory``, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, directory: Path, setting: str = "hydra.run.dir") -> None:
        """``setting``: the setting that chose the directory, named when it is refused."""
        self.path = directory / LOCK_NAME
        self.setting = setting
        self._descriptor: int | None = None
        self._created_directory = False

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ConfigError` naming the live process that holds it.

        The file is opened and locked, then checked to be still the file at ``path``: a
        holder that was ending may have removed it in between, and a lock on a removed file
        guards nothing.
        """
        self._created_directory = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(descriptor)
                os.close(descriptor)
                raise ConfigError(
                    f"{self.setting}={self.path.parent} is in use by a live run ({holder}); "
                    "wait for it to end, or choose another directory"
                ) from None
            if self._still_at_path(descriptor):
                break
            os.close(descriptor)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self._descriptor = descriptor

    def release(self) -> None:
        """Remove the lock file and let go of the lock (a no-op when not held); remove the
        directory too if the lock created it and nothing else was written there."""
        if self._descriptor is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._descriptor)
        self._descriptor = None
        if self._created_directory:
            with contextlib.suppress(OSError):  # not empty: the run wrote there
                self.path.parent.rmdir()

    def __enter__(self) -> "DirectoryLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _still_at_path(self, descriptor: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            return False

    @staticmethod
    def _holder(descriptor: int) -> str:
        text = os.pread(descriptor, 200, 0).decode(errors="replace").split()
        if len(text) == 2:
            return f"process {text[0]} on {text[1]}"
        return "a process that is still starting"
