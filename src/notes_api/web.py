"""The demo web page: `GET /` answers `index.html`, `/static/...` its CSS and JavaScript.

The files live in `web/` at the repository root (plain HTML, CSS and JavaScript
modules, no build step); a wheel carries a copy inside the package (see
pyproject.toml), found first, as the migrations are. `web/` mirrors the URL
layout (`index.html`, `static/`), so any static file server can host it too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from notes_api.static_files import RevalidatedStaticFiles

_PACKAGE_DIR = Path(__file__).resolve().parent

PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        # The page never turns a string into HTML or script; Chromium enforces it.
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
"""Only the page's own files and API calls to its own origin; no inline script or style."""


def web_directory() -> Path:
    for candidate in (_PACKAGE_DIR / "_web", _PACKAGE_DIR.parents[1] / "web"):
        if (candidate / "index.html").is_file():
            return candidate
    raise FileNotFoundError("cannot find the web page directory (web/index.html)")


def install_web(app: FastAPI) -> None:
    """Add `GET /` and the `/static` mount to `app`."""
    directory = web_directory()
    index = directory / "index.html"

    @app.get("/", include_in_schema=False)
    async def web_page() -> FileResponse:
        return FileResponse(
            index,
            media_type="text/html",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    app.mount("/static", RevalidatedStaticFiles(directory=directory / "static"), name="static")
