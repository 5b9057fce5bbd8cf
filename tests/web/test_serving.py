"""Serving the page and the docs over HTTP: files, security headers, no inline or foreign code."""

from __future__ import annotations

import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from notes_api import web
from notes_api.main import create_app
from notes_api.route_policy import UnprotectedRouteError, guard_and_document_routes
from notes_api.security_headers import API_CSP
from notes_api.web import web_directory
from tests.conftest import make_settings

REPOSITORY = Path(__file__).resolve().parents[2]


class _Page(HTMLParser):
    """What an HTML page loads and runs: script and stylesheet URLs, inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str] = []
        self.inline_code: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes.get("src"))
            self._in_script = True
        if tag == "style":
            self.inline_code.append("<style>")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes["href"] or "")
        for name in attributes:
            if name == "style" or name.startswith("on"):
                self.inline_code.append(f"{tag} {name}=")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_code.append(data.strip()[:40])


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def test_root_serves_the_page_under_a_strict_policy(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in str(policy)
    assert "'unsafe-eval'" not in str(policy)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["require-trusted-types-for"] == ["'script'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_everything_the_page_loads_is_served_from_static(client: TestClient) -> None:
    page = parse(client.get("/").text)
    assert page.scripts == ["static/js/app.js"]
    urls = [*page.scripts, *page.stylesheets]
    static = web_directory() / "static"
    urls += [f"static/{path.relative_to(static).as_posix()}" for path in static.rglob("*.js")]
    for url in urls:
        assert url is not None
        response = client.get(f"/{url}")
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"
        if url.endswith(".js"):
            assert response.headers["content-type"].startswith("text/javascript")


def test_module_imports_resolve_to_files() -> None:
    scripts = web_directory() / "static" / "js"
    modules = list(scripts.rglob("*.js"))
    assert len(modules) > 3
    for script in modules:
        for imported in re.findall(r'(?:from|import) "(\.{1,2}/[^"]+)"', script.read_text()):
            assert (script.parent / imported).resolve().is_file(), (script.name, imported)


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    page = parse((web_directory() / "index.html").read_text())
    assert page.inline_code == []
    assert None not in page.scripts


SCRIPTS = sorted((web_directory() / "static" / "js").rglob("*.js"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_the_scripts_never_turn_strings_into_html_or_code(script: Path) -> None:
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|Function\("
    )
    assert forbidden.findall(script.read_text()) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_the_scripts_spell_no_role_name(script: Path) -> None:
    """What a person may do is asked of the API (GET /roles, a 403 from GET /notes), so
    renaming or adding roles on the server never needs a change in the page."""
    assert re.findall(r"""["'`](admin|user|metrics)["'`]""", script.read_text()) == []


@pytest.mark.parametrize("path", ["/healthz", "/notes", "/no-such-path"])
def test_every_api_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert API_CSP == "default-src 'none'; frame-ancestors 'none'"
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_static_files_outside_the_directory_are_not_served(client: TestClient) -> None:
    assert client.get("/static/../index.html").status_code == 404
    assert client.get("/static/%2e%2e/index.html").status_code == 404
    assert client.get("/static/").status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_docs_pages_run_only_self_hosted_files(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "http://" not in response.text
    assert "https://" not in response.text
    page = parse(response.text)
    assert page.inline_code == []
    for url in [*page.scripts, *page.stylesheets]:
        assert url is not None
        assert url.startswith("/docs/assets/"), url
        assert client.get(url).status_code == 200, url


def test_redoc_is_served_without_its_cdn_logo_and_revalidates(client: TestClient) -> None:
    response = client.get("/docs/assets/redoc.standalone.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert "cdn.redoc.ly" not in response.text
    assert "Redoc" in response.text  # the bundle itself, not an empty answer
    again = client.get(
        "/docs/assets/redoc.standalone.js", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert client.post("/docs/assets/redoc.standalone.js").status_code == 405


def test_docs_policies_forbid_inline_and_foreign_script(client: TestClient) -> None:
    swagger = directives(client.get("/docs").headers["content-security-policy"])
    redoc = directives(client.get("/redoc").headers["content-security-policy"])
    for policy in (swagger, redoc):
        assert policy["default-src"] == ["'self'"]
        assert "script-src" not in policy  # so default-src 'self' applies
        assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in str(swagger)
    assert redoc["style-src"] == ["'self'", "'unsafe-inline'"]  # ReDoc's styled-components


def test_the_authorize_button_uses_the_password_flow_at_token(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "token"
    redirect = client.get("/docs").text
    assert 'data-oauth2-redirect-url="/docs/oauth2-redirect"' in redirect


def test_docs_disabled_serves_no_docs_but_still_the_page(database_url: str) -> None:
    app = create_app(make_settings(database_url, docs_enabled=False))
    with TestClient(app) as client:
        for path in [
            "/docs",
            "/redoc",
            "/docs/oauth2-redirect",
            "/openapi.json",
            "/docs/assets/swagger-ui-bundle.js",
            "/docs/assets/swagger-init.js",
        ]:
            assert client.get(path).status_code == 404, path
        assert client.get("/").status_code == 200


def test_an_installed_wheel_finds_its_own_copy_of_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "notes_api"
    (package / "_web").mkdir(parents=True)
    (package / "_web" / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(web, "_PACKAGE_DIR", package)
    assert web_directory() == package / "_web"


def test_the_wheel_carries_the_page() -> None:
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    included = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert included["web"] == "notes_api/_web"
    assert web_directory() == REPOSITORY / "web"


def test_a_mount_outside_the_public_list_is_refused(tmp_path: Path) -> None:
    app = FastAPI()
    app.mount("/files", StaticFiles(directory=tmp_path))
    with pytest.raises(UnprotectedRouteError, match="/files"):
        guard_and_document_routes(app.routes)
