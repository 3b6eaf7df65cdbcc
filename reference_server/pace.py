"""``POST /_reference/pace``: the offline model's pace, changed while the server runs.

Only with ``--pace-control``; without it the route does not exist. A harness that owns this
server streams most of its turns fast and slows the model down only for the stream it times:
the buffering verdict needs text deltas spread over 300 ms, and no other check needs any
pace at all, while every turn of a run paid it, one turn after another in the long chains.
"""

from __future__ import annotations

import json
import math

from agents.models.interface import Model
from starlette.requests import Request
from starlette.responses import JSONResponse

from .offline_model import OfflineModel

PACE_PATH = "/_reference/pace"
MAX_TOKEN_DELAY = 1.0


async def set_pace(request: Request, model: Model) -> JSONResponse:
    """``{"token_delay": S}`` sets the delay before each text delta; answers the old one."""
    if not isinstance(model, OfflineModel):
        return JSONResponse({"error": "only the offline model has a pace"}, status_code=409)
    try:
        delay = float(json.loads(await request.body())["token_delay"])
    except (ValueError, KeyError, TypeError):
        delay = math.nan
    if not 0.0 <= delay <= MAX_TOKEN_DELAY:  # also refuses NaN
        return JSONResponse(
            {"error": f'expected {{"token_delay": S}} with 0 <= S <= {MAX_TOKEN_DELAY:g}'},
            status_code=400,
        )
    before, model.token_delay = model.token_delay, delay
    return JSONResponse({"token_delay": delay, "before": before})
