"""Translation rules, curated mappings and the review queue. Reads `terminology`; never imports `api`."""
