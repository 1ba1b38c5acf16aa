"""Helpers for tests that run the real service: a subprocess on a free port, and a TCP proxy."""
