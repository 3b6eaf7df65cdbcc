"""Renderers of one RunResult (harness.report.results): terminal, JSON, JUnit, annotations."""
