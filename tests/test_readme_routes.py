"""README's table "Every route and who may call it" lists every route the app serves, and
nothing else: each operation of docs/openapi.json (the contract), and the few routes the app
keeps out of the schema (the page, the docs pages). A route added without a row, or a row
left behind by a removed route, fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.routing import iter_route_contexts

from notes_api.main import create_app
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CONTRACT = json.loads((ROOT / "docs" / "openapi.json").read_text())
SECTION = "## Every route and who may call it\n"
METHOD = "(?:GET|POST|PUT|PATCH|DELETE)"
ROUTE = re.compile(rf"`({METHOD}(?:/{METHOD})*) (/[^`\s]*)`")

Route = tuple[str, str]


def path_shape(path: str) -> str:
    """`/notes/{note_id}` and `/notes/{id}` are one route."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def table_routes(markdown: str) -> set[Route]:
    """The routes named in the first column of the section's table (`GET/POST /roles`
    stands for two)."""
    section = markdown.split(SECTION, 1)[1].split("\n## ", 1)[0]
    routes = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            for methods, path in ROUTE.findall(row.split("|")[1]):
                routes |= {(method, path_shape(path)) for method in methods.split("/")}
    return routes


def contract_routes() -> set[Route]:
    return {
        (method.upper(), path_shape(path))
        for path, operations in CONTRACT["paths"].items()
        for method in operations
    }


def served_routes(tmp_path: Path) -> set[Route]:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'unused.db'}"))
    return {
        (method, path_shape(context.path or ""))
        for context in iter_route_contexts(app.routes)
        for method in (context.methods or set()) - {"HEAD"}
    }


def test_the_table_is_read_as_written() -> None:
    markdown = (
        f"{SECTION}\n| `GET/POST /roles`, `DELETE /roles/{{name}}` | admin | 200 |\n\n## Next"
    )
    assert table_routes(markdown) == {
        ("GET", "/roles"),
        ("POST", "/roles"),
        ("DELETE", "/roles/{}"),
    }


def test_every_operation_of_the_contract_has_a_row() -> None:
    assert contract_routes() - table_routes(README) == set()


def test_the_rows_beyond_the_contract_are_the_routes_kept_out_of_the_schema(
    tmp_path: Path,
) -> None:
    served = served_routes(tmp_path)
    assert contract_routes() <= served
    assert table_routes(README) - contract_routes() == served - contract_routes()
