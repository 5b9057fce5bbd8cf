"""ReDoc's bundle without its one request to another site.

ReDoc 2 renders "API docs by Redocly" in its sidebar with an `<img>` whose
source is Redocly's CDN, and offers no option to leave it out. The page's
policy blocked it, but the browser still tried (a console error, and a page
that is not offline by construction). The bundle is served here with that
URL replaced by an empty `data:` URL: the image fails to decode without any
request, and ReDoc's own error handler then removes it. Every other asset is
served as shipped.
"""

from __future__ import annotations

import hashlib

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from notes_api.static_files import RevalidatedStaticFiles

REDOC_BUNDLE = "redoc.standalone.js"
REDOCLY_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
NO_IMAGE = b"data:,"


class DocsAssets(RevalidatedStaticFiles):
    """The docs' static files, with ReDoc's bundle patched once per process."""

    _redoc: tuple[bytes, str] | None = None

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path != REDOC_BUNDLE:
            return await super().get_response(path, scope)
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        if self._redoc is None:
            self._redoc = await anyio.to_thread.run_sync(self._patched_redoc)
        body, etag = self._redoc
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in Headers(scope=scope).get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    def _patched_redoc(self) -> tuple[bytes, str]:
        full_path, stat_result = self.lookup_path(REDOC_BUNDLE)
        if stat_result is None:
            raise HTTPException(status_code=404)
        with open(full_path, "rb") as bundle:
            body = bundle.read().replace(REDOCLY_LOGO, NO_IMAGE)
        return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'
