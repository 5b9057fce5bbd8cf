"""Static files for the web page and the docs pages."""

from __future__ import annotations

import os

from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope


class RevalidatedStaticFiles(StaticFiles):
    """Static files that browsers revalidate on every use (a 304 when unchanged), so that
    after an upgrade a page never mixes cached modules of the old release with new ones."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response
