"""`GET /metrics`: Prometheus's text format, for the `metrics` role (or an administrator).

Prometheus scrapes it with a personal access token of a user holding
`metrics`. With several workers one scrape answers for all of them
(`metrics_files`). The answer is never cached: it is authenticated, and a
cached scrape would show stale totals.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from notes_api import metrics_files
from notes_api.auth.authorize import authorize
from notes_api.auth.roles import BuiltinRole
from notes_api.dependencies import MetricsSampler
from notes_api.routing import PrefixCheckedRoute

router = APIRouter(route_class=PrefixCheckedRoute, tags=["operations"])

SCRAPE_ROLES = (BuiltinRole.METRICS, BuiltinRole.ADMIN)
NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {metrics_files.CONTENT_TYPE: {}}, "description": "The metrics"}},
    summary="Prometheus metrics of every worker",
)
@authorize(roles=SCRAPE_ROLES)
async def read_metrics(sampler: MetricsSampler) -> Response:
    sampler.sample()  # this worker's gauges as of now; the others' are at most a second old
    body = await asyncio.to_thread(metrics_files.render)  # reads files: off the event loop
    return Response(body, media_type=metrics_files.CONTENT_TYPE, headers=NO_STORE)
