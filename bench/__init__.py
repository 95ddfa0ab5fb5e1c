"""The benchmarks of the source checkout (not packaged; the product imports nothing of it).

Run from the checkout's root: ``python -m bench [--quick] [--only NAME]`` (what `visclust bench`
starts) or one script, ``python -m bench.bench_NAME``.
"""
