"""Sending a fan-out's messages: ingest.dispatch.send_many (one Redis pipeline) vs actor.send
one by one, as a fan-out stage does from inside a busy worker.

Only the sending is timed (no worker consumes; the queue is deleted after each round).
``--busy`` threads spin in Python beside the sender, as a worker's other threads do: each
one-by-one send waits for Redis's reply and then for the GIL. Prints the best of
``--rounds`` wall-clock ms per ``--messages`` sends for each way, and the ratio.

    .venv/bin/python bench/dispatch_bulk.py [--broker redis://127.0.0.1:6379/9] [--messages 1000] [--busy 3]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dramatiq
from dramatiq.brokers.redis import RedisBroker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.dispatch import send_many  # noqa: E402

QUEUE = "bench_dispatch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--busy", type=int, default=3, help="threads spinning beside the sender")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    broker = RedisBroker(url=args.broker)
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name=QUEUE, max_retries=0)
    def noop(n: int) -> None:  # never run: only sent
        pass

    batch = [(n,) for n in range(args.messages)]
    ways: dict[str, Callable[[], object]] = {
        "one by one (actor.send)": lambda: [noop.send(*a) for a in batch] and None,
        "send_many (pipeline)": lambda: send_many(noop, batch),
    }
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    threads = [threading.Thread(target=spin, daemon=True) for _ in range(args.busy)]
    for t in threads:
        t.start()
    best: dict[str, float] = {}
    try:
        for _ in range(args.rounds):
            for name, send in ways.items():
                start = time.perf_counter()
                send()
                elapsed = (time.perf_counter() - start) * 1000
                best[name] = min(best.get(name, elapsed), elapsed)
                broker.flush(QUEUE)
    finally:
        stop.set()
    print(f"| {args.messages} sends, {args.busy} busy threads | best of {args.rounds}, ms |")
    print("|---|---|")
    for name, ms in best.items():
        print(f"| {name} | {ms:.0f} |")
    one, bulk = best.values()
    print(f"send_many is {one / bulk:.1f}x faster")


if __name__ == "__main__":
    main()
