"""Browser-side checks: a real Chromium driven by Playwright against the user's page.

``launch`` finds and starts a Chromium, ``standin`` answers the ChatKit CDN URL with the
packaged stand-in element when asked to, ``login`` builds the session the page starts with
(cookies, localStorage, a storage-state file, a login hook), ``recorder`` loads the page once
and records what the integration did (requests with their arrival times, events, renders),
``probes`` asks the endpoints the page talks to what they need and streams through its proxy
route; ``session`` holds all of it once per run for the ``browser.*`` and ``proxy.*`` checks.
"""
