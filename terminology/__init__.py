"""The concept store: code systems, releases, concepts, designations, relationships, crosswalks.

This is the core layer: it imports none of `loaders`, `mappings` or `api`.
"""
