"""Keeping the memory a job frees for its next allocations, instead of handing it back to the
system and faulting it in again a moment later.

glibc's malloc gives a large block (over 128 KiB at first, up to 32 MiB as it adapts) its own
``mmap`` and returns it at ``free``, and it returns the top of its heap to the system once more
than twice that lies free. A VAE's test likelihood with K = 100 decodes 10,000 (image, sample)
pairs at once into 31 MiB of logits and makes more tensors of that size from them: once they
are dropped, that much lies free, goes back, and the next batch faults every 4 KiB page of it
in again, each zeroed by the kernel; on a 2-core machine that was a third of its time.
PyTorch's own advice for CPUs is an allocator
that keeps memory (jemalloc or tcmalloc, preloaded); :func:`keep_freed_memory` asks glibc for
the same from inside the process: blocks up to :data:`MMAP_THRESHOLD` come from the heap, and
up to :data:`TRIM_THRESHOLD` of freed heap is kept.

The cost: a job's resident memory stays near its peak instead of falling back after it, by at
most the trim threshold. Settings the user gave glibc (``GLIBC_TUNABLES`` with malloc tunables,
``MALLOC_*_`` variables) are left as they are, as is any allocator other than glibc's.
"""

import ctypes
import os

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit systems: a block above it is mapped
TRIM_THRESHOLD = 512 << 20
USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory (see the module's docstring); whether it did.
    Nothing is changed where malloc is not glibc's, or where the user has tuned it."""
    if user_tuned_malloc():
        return False
    mallopt = glibc_mallopt()
    if mallopt is None:
        return False
    return bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def user_tuned_malloc() -> bool:
    return "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "") or any(
        name in os.environ for name in USER_SETTINGS
    )


def glibc_mallopt() -> "ctypes._CFuncPtr | None":
    """glibc's ``mallopt``, or None on a system without glibc (macOS, musl, Windows)."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):
        return None
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc's alone
        return None
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt
