"""Loaders: one module per source format, each turning files into a release of the concept store.

- `rf2`: SNOMED CT RF2 release (zip or folder; Snapshot, or Full reduced to the latest row per id)
- `rxnorm_rrf`: RxNorm RRF release (zip or `rrf/` folder; full or Current Prescribable Content)
- `local_table`: CSV / TSV / XLSX code tables exported from an EHR or pharmacy system
"""
