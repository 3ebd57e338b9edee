"""List buckets stay in Redis's compact hash encoding (that is where the
memory per entry comes from)."""

from __future__ import annotations

import pytest

from icapfilter.redisstore.single import RedisStore
from icapfilter.urls.loader import load_lists
from tests.redisserver import redis_available, redis_server

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def test_loader_raises_the_listpack_limit_when_buckets_would_outgrow_it(tmp_path):
    if not redis_available():
        pytest.skip("redis-server not installed")
    folder = tmp_path / "bl" / "adult"
    folder.mkdir(parents=True)
    (folder / "domains").write_text("".join(f"host{i}.test\n" for i in range(100_000)))
    with redis_server(tmp_path / "redis") as server:
        client = server.client()
        client.config_set("hash-max-listpack-entries", 2)
        store = RedisStore(server.url)
        load_lists(store, [tmp_path / "bl"])
        limit = int(client.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
        assert limit >= 4
        bucket_keys = [k for k in client.scan_iter(count=1000) if b":g:" in k][:50]
        assert bucket_keys
        assert {client.object("encoding", k) for k in bucket_keys} == {b"listpack"}
