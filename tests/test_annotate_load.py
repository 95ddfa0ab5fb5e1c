"""The served Annotate page driven over its websocket by several annotators at once (smoke size).

The full load test, 20 annotators x 50 submissions on SQLite and PostgreSQL with timings, is
`visclust bench --only annotate`; here three annotators submit three plots each and every
submission must be stored exactly once, with the lassoed labels.
"""
from bench.bench_annotate import measure


def test_concurrent_annotators_over_websockets_lose_nothing(tmp_path):
    result = measure(f"sqlite:///{tmp_path / 'annotations.sqlite3'}", annotators=3, submissions=3)
    assert result["sent"] == 9
    assert (result["stored"], result["lost"], result["duplicates"], result["wrong"]) == (9, 0, 0, 0)
