"""seglab vs MMSegmentation benchmarks (bench_models.py) and seglab's own suite (python -m benchmarks)."""
