"""Helpers shared by the tests and benchmarks: reference implementations, clip builders, GUI drivers."""
