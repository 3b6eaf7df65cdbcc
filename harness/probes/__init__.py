"""Probes: named async units that do a check area's network I/O and return its evidence."""
