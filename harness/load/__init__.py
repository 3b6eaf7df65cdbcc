"""``chatkit-harness load``: ChatKit conversations under load, on Locust, with invariants.

Nothing here imports Locust (or gevent) at module level except :mod:`harness.load.user` and
:mod:`harness.load.runner`: Locust monkey-patches the standard library when it is imported,
which must never happen in the ``run`` path, the pytest plugin or an asyncio test process.
The CLI imports those two modules only once a load run is really about to start.
"""
