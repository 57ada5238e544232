"""How the store's S3 requests ride out transient faults: the S3 client retries every request
itself (botocore's "standard" retry mode), the store's own and those zarr makes for chunks, eager
or lazy, so a fault on the way to S3 reaches the store's code only if it outlasts the retries.

Standard mode retries 5xx answers (500, 502, 503, 504), throttling (SlowDown, ...) and requests
that got no answer (connection reset or refused, read or connect timeout); a 4xx is final. Retry
k waits rand(0, 1) · min(2^(k-1), 20) s ("full jitter", so that writers hit by one fault do not
retry in step), and the client stops retrying early when its retry quota runs dry (500 units,
5 taken per retry and 10 per timeout, given back when the request then succeeds), so a store that
is down is not hammered by every request at once.

Retrying is safe for every request the store makes: a PUT writes a whole object, which S3 shows
whole or not at all, and a PUT, GET, HEAD, LIST or DELETE sent twice does what it does once. A
version is read only once CURRENT names it, so a fault that outlasts the retries fails the write
before its commit and leaves nothing half-written visible.

Without this the client's defaults apply (the "legacy" mode: 5 attempts, no quota), under which a
request whose 5 attempts all fail, the last with a 500 (which s3fs does not retry either), is
lost: at a 20 % fault rate about one request in 12 000, where one init of `daily_emulation` makes
about 1200 (measured through tests/fault_proxy.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# 10 attempts: at a 20 % fault rate a request fails all of them with probability 0.2^10 ≈ 1e-7, so
# a backfill of 10^4 requests loses none with probability above 0.999; the waits between them
# (ceilings 1, 2, 4, 8, 16, then 20 s) add up to about 55 s on average, so an S3 brownout of a
# minute is ridden out, and a longer one fails the step for a later retry rather than hanging it.
ATTEMPTS = 10
RETRIES = {"mode": "standard", "total_max_attempts": ATTEMPTS}


def with_retries(options: Mapping[str, Any]) -> dict[str, Any]:
    """s3fs `options` with the store's `RETRIES` in their botocore config (`config_kwargs`),
    unless the options set `retries` themselves."""
    config = {"retries": RETRIES, **(options.get("config_kwargs") or {})}
    return {**options, "config_kwargs": config}
