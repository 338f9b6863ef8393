"""Admitting a job: the depth check, the upload and the enqueue in one atomic step.

Checking ``ZCARD`` and then enqueueing are two round trips; thirty requests arriving
together all see the same depth and all get in. A Lua script runs inside Redis without
interleaving, so the limit holds under any concurrency. It writes what arq's own
``enqueue_job`` writes (the job key with its expiry and the queue entry), so arq workers
run the job as usual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job

from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.connection import serialize_job as serialize_job_json

_ADMIT = """
local depth = redis.call('ZCARD', KEYS[1])
if depth >= tonumber(ARGV[1]) then
  -- Entries whose job expired (nobody waits for them) must not hold places: drop them.
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if redis.call('EXISTS', ARGV[9] .. id) == 0 then
      redis.call('ZREM', KEYS[1], id)
    end
  end
  depth = redis.call('ZCARD', KEYS[1])
end
if depth >= tonumber(ARGV[1]) then
  return -depth - 1
end
if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then
  return depth
end
if ARGV[6] == '1' then
  redis.call('SET', KEYS[4], ARGV[7], 'EX', ARGV[8])
end
redis.call('PSETEX', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
return depth
"""


@dataclass(frozen=True)
class Admission:
    """The outcome: ``admitted`` or not, and the queue depth seen when deciding."""

    admitted: bool
    depth: int


async def admit(
    redis: ArqRedis,
    *,
    queue_name: str,
    function: str,
    payload: dict[str, object],
    job_id: str,
    max_depth: int,
    expires_s: float,
    upload: bytes | None,
    upload_ttl_s: int,
) -> Admission:
    """Enqueue ``function(payload)`` as arq job ``job_id`` (storing ``upload`` with it)
    unless ``max_depth`` jobs are already in the queue."""
    now_ms = int(time.time() * 1000)
    job = serialize_job(function, (payload,), {}, None, now_ms, serializer=serialize_job_json)
    script_keys = [queue_name, job_key_prefix + job_id, result_key_prefix + job_id,
                   keys.upload(job_id)]  # fmt: skip
    args: list[Any] = [max_depth, job_id, now_ms, int(expires_s * 1000), job,
            "1" if upload is not None else "0", upload or b"", upload_ttl_s,
            job_key_prefix]  # fmt: skip
    result = int(await redis.eval(_ADMIT, len(script_keys), *script_keys, *args))  # type: ignore[misc]
    if result < 0:
        return Admission(admitted=False, depth=-result - 1)
    return Admission(admitted=True, depth=result)
