"""The peer for bench/jobs_engine.py: bare Dramatiq actors doing the same trivial work.

Each message squares its number and counts itself done in Redis (the cheapest honest
"record the result"), so the time to 1,000 done is the floor the engine is compared to.
"""

import os

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

URL = os.environ["BENCH_BROKER_URL"]
broker = RedisBroker(url=URL)
dramatiq.set_broker(broker)
_redis = redis.Redis.from_url(URL)


@dramatiq.actor(queue_name="bench_bare", max_retries=0)
def square(n: int, run: str) -> None:
    _redis.hset(f"bench:bare:{run}", str(n), n * n)
    _redis.incr(f"bench:bare:{run}:done")
