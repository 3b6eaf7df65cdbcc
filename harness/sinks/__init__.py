"""Renderers of one :class:`harness.results.RunResult`: terminal, JSON, JUnit, annotations."""
