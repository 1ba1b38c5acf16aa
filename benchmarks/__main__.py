"""`python -m benchmarks` is `python -m benchmarks.load`: generate if needed, then time the loads."""
from benchmarks.load import main

raise SystemExit(main())
