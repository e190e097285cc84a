"""Test suite; a package so that helpers import as tests.support.* (no sys.path edits)."""
