"""Browser-side checks: a real Chromium driven by Playwright against the user's page.

``launch`` finds and starts a Chromium, ``standin`` answers the ChatKit CDN URL with the
packaged stand-in element when asked to, ``recorder`` loads the page once and records what the
integration did (requests, events, renders) for the ``browser.*`` and ``proxy.*`` checks.
"""
