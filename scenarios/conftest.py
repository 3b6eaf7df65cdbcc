"""The suite's checks judge evidence from the probes in harness/probes; nothing is shared here.

(The pytest plugin provides the fixtures: ``evidence`` for the declared probes of a check.)
"""
