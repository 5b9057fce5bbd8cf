"""README's shell examples run as written, in order, in one shell, against a fresh server.

What a reader does after `make run`: a real `notes-api serve` on a new SQLite database with
the demo users, and every ```sh block of README.md run in order by one `bash` with
`set -euo pipefail` (a `field` of an answer that lacks the field stops the run).

A block is left out only when the line right above its fence is an HTML comment
`<!-- not run by tests/test_readme_runs.py: REASON -->`: invisible on the rendered page,
explicit in the source, and it must give a reason. Blocks in other languages (the usage of
the command line, SQL) are not run. The one change made to a block is the address: the
server listens on a free port instead of 8000. The two passwords `make run` prints come from
`notes-api ensure-demo-users`, as they do there, and `.venv` is the environment running
the tests (the blocks call `.venv/bin/notes-api` and `.venv/bin/python`).

`curl -s` answers a refusal with status 0, so the server's access log is checked too: no
answer of 400 or more but the refusals README shows on purpose.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notes_api.cli import cli
from notes_api.config import Settings, get_settings
from tests.conftest import TEST_SECRET
from tests.databases import fresh_sqlite
from tests.servers import NOTES_API, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
README_ADDRESS = "http://127.0.0.1:8000"
SKIP_MARK = "not run by tests/test_readme_runs.py:"
FENCE = re.compile(
    r"^(?:<!--(?P<comment>[^\n]*?)-->\n)?```(?P<info>[^\n]*)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
DEMO_USER_LINE = re.compile(r"demo user created: (\S+) / (\S+)")

EXPECTED_REFUSALS = [
    # The token flow shows that a logout also ends the access token.
    ("GET", "/identify/me", 401),
    # The second factor: the password grant asks for the code.
    ("POST", "/token", 403),
]


@dataclass(frozen=True)
class Block:
    language: str
    body: str
    skip_reason: str | None


def shell_blocks(markdown: str) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(markdown):
        comment = (match["comment"] or "").strip()
        reason = comment.removeprefix(SKIP_MARK).strip() if comment.startswith(SKIP_MARK) else None
        language = match["info"].strip().split(" ")[0]
        blocks.append(Block(language, match["body"], reason))
    return [block for block in blocks if block.language == "sh"]


def test_every_skipped_block_says_why() -> None:
    blocks = shell_blocks(README)
    assert len(blocks) >= 8, "README's blocks are found"
    assert all(block.skip_reason != "" for block in blocks)
    run = [block for block in blocks if block.skip_reason is None]
    assert len(run) >= 6, "most of README's examples run"


def test_a_block_is_skipped_only_by_the_comment_right_above_it() -> None:
    markdown = (
        f"<!-- {SKIP_MARK} needs Docker -->\n```sh\ndocker compose up\n```\n\n"
        "<!-- another comment -->\n```sh\necho run\n```\n```text\nusage\n```\n"
    )
    assert shell_blocks(markdown) == [
        Block("sh", "docker compose up\n", "needs Docker"),
        Block("sh", "echo run\n", None),
    ]


def demo_users(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`notes-api ensure-demo-users`, as `make run` calls it (in-process: a second Python
    start-up would cost seconds): each demo user's password."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("APP_ENV", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["ensure-demo-users"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return dict(DEMO_USER_LINE.findall(result.output))


def access_lines(log: str) -> list[dict[str, object]]:
    lines = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "notes_api.access":
                lines.append(record)
    return lines


def test_readme_shell_blocks_run_in_order_against_a_fresh_server(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    database_url = fresh_sqlite(sqlite_template, tmp_path)  # `make run` migrates first
    env = {
        **{  # a reader's fresh `make run`: none of the settings of this machine's shell
            name: value
            for name, value in os.environ.items()
            if name.lower() not in Settings.model_fields and not name.startswith("OTEL_")
        },
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": TEST_SECRET,
        "APP_ENV": "development",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    created = demo_users(database_url, monkeypatch)
    assert set(created) == {"admin", "demo"}

    port = free_port()
    address = f"http://127.0.0.1:{port}"
    script = "set -euo pipefail\n" + "\n".join(
        block.body.replace(README_ADDRESS, address)
        for block in shell_blocks(README)
        if block.skip_reason is None
    )
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [NOTES_API, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(address, server)
            result = subprocess.run(
                ["bash", "-c", script],  # noqa: S607 - bash from PATH, as a reader's
                cwd=tmp_path,
                env={
                    **env,
                    "DEMO_PASSWORD": created["demo"],
                    "ADMIN_PASSWORD": created["admin"],
                },
                capture_output=True,
                text=True,
                timeout=180,  # seconds: 25 s of CPU, 60-75 s on 2 CPUs loaded by other suites
            )
        finally:
            server.terminate()
            server.wait(timeout=30)

    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    answered = access_lines(log_path.read_text())
    refusals = [
        (line["method"], line["path"], line["status"])
        for line in answered
        if int(str(line["status"])) >= 400
    ]
    assert refusals == EXPECTED_REFUSALS, output
    assert len(answered) >= 20, "every block's requests reached the server"


def test_blocks_that_run_use_the_address_make_run_serves() -> None:
    """The test moves README's address to its own port; an example written for another
    address would not be moved, and would call whatever listens there."""
    for block in shell_blocks(README):
        if block.skip_reason is None:
            for address in re.findall(r"https?://[\w.-]+(?::\d+)?", block.body):
                assert address == README_ADDRESS, block.body
