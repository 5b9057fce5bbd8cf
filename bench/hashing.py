"""Raw argon2 verifications per second, with the service's parameters, outside any server.

`python -m bench.hashing --threads 2 -d 5` prints JSON. argon2-cffi releases the
GIL while it hashes, so threads run in parallel, as they do in the service's
thread pool.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence

from argon2 import PasswordHasher, Type

from notes_api.auth.passwords import (
    ARGON2_ITERATIONS,
    ARGON2_LANES,
    ARGON2_MEMORY_KIB,
    hash_password,
)

PASSWORD = "raw argon2 benchmark password"  # noqa: S105


def parameters() -> dict[str, int]:
    return {
        "memory_kib": ARGON2_MEMORY_KIB,
        "iterations": ARGON2_ITERATIONS,
        "lanes": ARGON2_LANES,
    }


def verifications_per_second(threads: int, duration: float) -> dict[str, float]:
    """Verify one service-made hash in `threads` threads for `duration` seconds."""
    hashed = hash_password(PASSWORD)
    hasher = PasswordHasher(
        time_cost=ARGON2_ITERATIONS,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_LANES,
        type=Type.ID,
    )
    hasher.verify(hashed, PASSWORD)  # warm up, and prove the parameters match
    counts = [0] * threads
    deadline = time.perf_counter() + duration

    def work(index: int) -> None:
        while time.perf_counter() < deadline:
            hasher.verify(hashed, PASSWORD)
            counts[index] += 1

    began = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    total = sum(counts)
    return {
        "threads": threads,
        "verifications": total,
        "per_second": total / elapsed,
        "ms_each": 1000 * elapsed * threads / max(total, 1),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="raw argon2 verifications per second")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    result = verifications_per_second(args.threads, args.duration) | parameters()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
