"""Swagger UI and ReDoc served from notes-api itself: no CDN, no inline script.

FastAPI's default `/docs` and `/redoc` pages load their JavaScript and CSS
from a CDN and start Swagger UI with an inline script, so they are blank
offline and under a strict Content-Security-Policy. Here the pages are small
HTML shells whose scripts are all files under `/docs/assets`:

- `swagger-ui-bundle.js`, `swagger-ui.css`, `redoc.standalone.js`: the
  upstream bundles, shipped by the `fastapi-offline` package (which keeps them
  current with Swagger UI 5 and ReDoc 2); only its files are used, not its app.
- `swagger-init.js`, `oauth2-redirect.js`, `docs.css`: ours, in `docs_assets/`.

ReDoc's bundle is served without the Redocly logo it would fetch from a CDN
(docs_redoc.py), so neither page ever asks another site for anything.

The OAuth2 password flow of the Authorize button keeps working: the OpenAPI
schema names `token` as the token URL, and `/docs/oauth2-redirect` answers as
FastAPI's does.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from notes_api.docs_redoc import DocsAssets

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"

_CSP_BASE = [
    "default-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]
SWAGGER_CSP = "; ".join(_CSP_BASE)
"""Swagger UI runs under it as it is: no inline script, no inline style, nothing foreign."""
REDOC_CSP = "; ".join(
    [
        *_CSP_BASE,
        # ReDoc styles itself with styled-components, which inserts <style> elements.
        "style-src 'self' 'unsafe-inline'",
        # It builds its search index in a worker made from a blob: URL.
        "worker-src 'self' blob:",
    ]
)
"""Still no inline or foreign script; ReDoc's run-time styles are the one concession."""

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="stylesheet" href="{assets}/docs.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}" data-oauth2-redirect-url="{redirect}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/docs.css">
</head>
<body>
<noscript>ReDoc needs JavaScript to show the documentation.</noscript>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""

_REDIRECT_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Swagger UI: OAuth2 Redirect</title>
</head>
<body>
<script src="{assets}/oauth2-redirect.js"></script>
</body>
</html>
"""


def _page(template: str, request: Request, csp: str, **values: str) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    urls = {name: escape(f"{root}{url}") for name, url in values.items()}
    html = template.format(title=escape(request.app.title), assets=urls.pop("assets"), **urls)
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


def install_docs(app: FastAPI) -> None:
    """Add `/docs`, `/docs/oauth2-redirect`, `/redoc` and their assets to `app`."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the API docs need the OpenAPI schema (openapi_url)")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return _page(
            _SWAGGER_PAGE,
            request,
            SWAGGER_CSP,
            assets=ASSETS_URL,
            openapi=openapi_url,
            redirect=OAUTH2_REDIRECT_URL,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_oauth2_redirect(request: Request) -> HTMLResponse:
        return _page(_REDIRECT_PAGE, request, SWAGGER_CSP, assets=ASSETS_URL)

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return _page(_REDOC_PAGE, request, REDOC_CSP, assets=ASSETS_URL, openapi=openapi_url)

    app.mount(
        ASSETS_URL,
        DocsAssets(packages=[("notes_api", "docs_assets"), ("fastapi_offline", "static")]),
        name="docs-assets",
    )
