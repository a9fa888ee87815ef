"""python -m benchmarks: run the suite (benchmarks/suite.py)."""
from .suite import main

main()
