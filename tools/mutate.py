"""`make mutate`: mutmut over the security-critical modules, each with the tests that cover it.

One mutmut run per module, in its own scratch tree (`mutants/<module>/`), whose
pyproject.toml is this project's with `only_mutate` set to that module and the test
selection set to the tests below. mutmut records which of those tests execute each
function and runs only them against its mutants, so a mutant of the token codec runs the
token tests rather than every test that happens to log in (about 470 of them, 30 s per
mutant on 2 cores; with the subsets below a module takes minutes).

A subset is every test file that checks what the module decides, not every file that
passes through it: a mutant that only a far-away test would catch is a gap in the module's
own tests. Runs on SQLite only (`TEST_DATABASE_URL` unset): the PostgreSQL variants assert
the same behaviour, and the races that only PostgreSQL can have are in docs/testing.md.

    python tools/mutate.py                      # every module
    python tools/mutate.py notes_api.auth.tokens --max-children 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "mutants"
COPIED = ("src", "tests", "migrations", "alembic.ini", "web")

SESSION_TESTS = (
    "tests/sessions/test_token_endpoint.py",
    "tests/sessions/test_sessions.py",
    "tests/sessions/test_revocation.py",
    "tests/sessions/test_demoted_admin.py",
    "tests/sessions/test_refresh_throttle.py",
)

TESTS_BY_MODULE: dict[str, tuple[str, ...]] = {
    "notes_api.auth.tokens": (
        "tests/auth/test_tokens.py",
        "tests/auth/test_protected_routes.py",
        "tests/auth/test_signing_keys.py",
        "tests/sessions/test_token_endpoint.py",
        "tests/sessions/test_sessions.py",
        "tests/mfa/test_mfa_login.py",
        "tests/personal_tokens/test_personal_tokens.py",
    ),
    "notes_api.auth.hmac_secret": (
        "tests/auth/test_hmac_secret.py",
        "tests/auth/test_tokens.py",
        "tests/auth/test_protected_routes.py",
        "tests/auth/test_signing_keys.py",
    ),
    "notes_api.auth.authorize": (
        "tests/auth/test_authorize.py",
        "tests/auth/test_protected_routes.py",
        "tests/mfa/test_step_up.py",
        "tests/notes/test_access.py",
        "tests/test_access_matrix.py",
    ),
    "notes_api.auth.dependencies": (
        "tests/auth",
        "tests/personal_tokens",
        "tests/sessions/test_revocation.py",
        "tests/accounts/test_account_api.py",
        "tests/notes/test_access.py",
        "tests/test_access_matrix.py",
    ),
    "notes_api.auth.revocation_cache": (
        "tests/auth/test_revocation_cache.py",
        *SESSION_TESTS,
        "tests/accounts/test_account_api.py",
    ),
    "notes_api.sessions.service": (
        *SESSION_TESTS,
        "tests/sessions/test_throttling.py",
        "tests/sessions/test_login_bursts.py",
        "tests/audit",
        "tests/mfa/test_mfa_login.py",
        "tests/accounts/test_account_api.py",
        "tests/operations/test_metrics_endpoint.py",
    ),
    "notes_api.sessions.issuing": (
        "tests/auth/test_tokens.py",
        "tests/sessions/test_token_endpoint.py",
        "tests/sessions/test_sessions.py",
        "tests/mfa/test_mfa_login.py",
        "tests/mfa/test_step_up.py",
    ),
    "notes_api.sessions.session_store": (
        *SESSION_TESTS,
        "tests/accounts/test_account_api.py",
        "tests/accounts/test_account_cli.py",
        "tests/accounts/test_password_reset.py",
        "tests/mfa/test_step_up.py",
        "tests/users/test_admin_api.py",
        "tests/users/test_admin_guards.py",
        "tests/operations/test_metrics_endpoint.py",
    ),
    "notes_api.throttling.throttle": (
        "tests/sessions/test_throttling.py",
        "tests/sessions/test_login_bursts.py",
        "tests/sessions/test_token_endpoint.py",
        "tests/test_client_addresses.py",
        "tests/mfa/test_mfa_login.py",
        "tests/accounts/test_account_api.py",
        "tests/audit",
    ),
    "notes_api.notes.service": ("tests/notes", "tests/test_access_matrix.py"),
    "notes_api.admin.service": (
        "tests/users",
        "tests/audit",
        "tests/test_cli.py",
        "tests/test_access_matrix.py",
        "tests/sessions/test_demoted_admin.py",
        "tests/sessions/test_revocation.py",
        "tests/operations/test_metrics_endpoint.py",
    ),
    "notes_api.admin.router": (
        "tests/users",
        "tests/sessions/test_demoted_admin.py",
        "tests/test_access_matrix.py",
    ),
    "notes_api.users.admin_actor": (
        "tests/users",
        "tests/audit",
        "tests/sessions/test_demoted_admin.py",
        "tests/notes/test_ownership.py",
        "tests/mfa/test_enrollment.py",
        "tests/test_access_matrix.py",
    ),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python tools/mutate.py", description=__doc__)
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(TESTS_BY_MODULE)}")
    parser.add_argument("--max-children", type=int, default=2)
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(TESTS_BY_MODULE)
    if unknown:
        parser.error(f"not a mutated module: {', '.join(sorted(unknown))}")
    return args


def module_pyproject(module: str, tests: Sequence[str]) -> str:
    """This project's pyproject.toml, its mutmut table narrowed to one module and its tests."""
    text = (ROOT / "pyproject.toml").read_text()
    source = "src/" + module.replace(".", "/") + ".py"
    narrowed = (
        "[tool.mutmut]\n"
        f"only_mutate = {json.dumps([source])}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(list(tests))}\n"
    )
    replaced, count = re.subn(r"^\[tool\.mutmut\]\n", narrowed, text, flags=re.MULTILINE)
    if count != 1:
        raise SystemExit("pyproject.toml has no [tool.mutmut] table")
    return replaced


def prepare(module: str) -> Path:
    tree = SCRATCH / module
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tree / name)
    (tree / "pyproject.toml").write_text(module_pyproject(module, TESTS_BY_MODULE[module]))
    return tree


def mutmut(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    command = [str(Path(sys.executable).parent / "mutmut"), *args]
    return subprocess.run(command, cwd=tree, env=environment, text=True, capture_output=True)


def results(tree: Path) -> dict[str, str]:
    """Each mutant's status, as `mutmut results --all true` prints them."""
    listing = mutmut(tree, "results", "--all", "true").stdout
    pairs = (line.strip().rpartition(": ") for line in listing.splitlines() if ": " in line)
    return {name: status for name, _, status in pairs}


def run_module(module: str, max_children: int) -> bool:
    tree = prepare(module)
    started = time.monotonic()
    run = mutmut(tree, "run", "--max-children", str(max_children))
    if "failed to collect stats" in run.stdout + run.stderr:
        # One flaky test in the recording run stops mutmut before any mutant (seen once
        # in 12 modules, on a loaded machine) and has recorded nothing: run it once more.
        print(f"{module}: mutmut's recording run failed; running it once more", flush=True)
        run = mutmut(tree, "run", "--max-children", str(max_children))
    (tree / "mutmut-run.log").write_text(run.stdout + run.stderr)
    statuses = results(tree)
    counts = Counter(statuses.values())
    minutes = (time.monotonic() - started) / 60
    summary = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    print(f"{module}: {len(statuses)} mutants in {minutes:.1f} min: {summary}", flush=True)
    if run.returncode != 0 or not statuses:
        print(f"    mutmut failed ({run.returncode}): see {tree / 'mutmut-run.log'}")
        return False
    for name, status in sorted(statuses.items()):
        if status not in ("killed", "timeout"):
            print(f"    {name}: {status}", flush=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Survivors are reported, not failed on: docs/testing.md explains the equivalent ones."""
    args = parse_args(argv)
    failed = False
    for module in args.modules or TESTS_BY_MODULE:
        failed |= not run_module(module, args.max_children)
    print("A survivor against any test, with the mutant active: cd mutants/<module>/mutants &&")
    print("  MUTANT_UNDER_TEST=<name> PYTHONPATH=$PWD/src ../../../.venv/bin/pytest -x <tests>")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
