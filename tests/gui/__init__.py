"""GUI tests: the real window under Xvfb."""
