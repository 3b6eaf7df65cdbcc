"""Tools for the harness's own tests only (hostile server, fault matrix table)."""
