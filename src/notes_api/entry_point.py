"""The `notes-api` console script's entry point: the command line is imported when it runs.

`notes-api serve` with several workers runs uvicorn, which starts each worker with
multiprocessing's spawn: a new interpreter that first runs the console script as
`__mp_main__`, that is, its import of this module, before it starts the thread that
answers uvicorn's health pings (`notes_api.server.WORKER_HEALTHCHECK_SECONDS`). When the
script imported `notes_api.cli` itself, every worker paid for all of the command line
(SQLAlchemy, Alembic, pydantic, every command's services: ~2.5 s of CPU) before it could
answer; now it imports this module, then the application it serves, after answering.
"""

from __future__ import annotations


def main() -> None:
    from notes_api.cli import main as run_command_line

    run_command_line()
