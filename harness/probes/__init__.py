"""Probes: every network interaction of the suite, one module per family.

Each probe is registered with ``@probe(name)`` (harness/engine/probes.py), takes the
:class:`~harness.engine.context.ProbeContext` and returns evidence for the checks in
``scenarios/`` to judge. Probes never judge and never raise on a broken target: they record
what happened (a 500, a reset, an empty page) and let the checks decide.
"""
