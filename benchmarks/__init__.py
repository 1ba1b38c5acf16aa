"""Load benchmarks: release-sized synthetic files in the real formats, and a timed load against a floor.

- `generate`: deterministic SNOMED CT RF2 Snapshot and RxNorm RRF files of a real release's size
- `load`: times the termmap loaders against `sqlite3 .import` of the same rows (the floor), same run

Not part of the termmap package: a developer tool, run from a checkout (`python -m benchmarks`).
"""
