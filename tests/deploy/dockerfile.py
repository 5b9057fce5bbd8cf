"""A small Dockerfile reader: enough to check instructions without a Docker engine."""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from shutil import which

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of `ENTRYPOINT ["a", "b"]`-style arguments, or None for shell form."""
        try:
            parsed = json.loads(self.arguments)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, list) else None


def parse(text: str) -> list[Instruction]:
    """Instructions in order, with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker also drops comment lines inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """One list per build stage, each starting with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def build_arguments(instructions: list[Instruction]) -> dict[str, str]:
    """Defaults of the ARGs declared before the first FROM (usable in FROM lines)."""
    defaults: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG" and "=" in instruction.arguments:
            name, _, value = instruction.arguments.partition("=")
            defaults[name] = value
    return defaults


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m[1] or m[2]], text)


def options(arguments: str) -> tuple[dict[str, str], list[str]]:
    """`--from=build --chmod=0755 a b` -> ({"from": "build", "chmod": "0755"}, ["a", "b"])."""
    flags: dict[str, str] = {}
    rest: list[str] = []
    for word in arguments.split():
        if word.startswith("--") and not rest:
            name, _, value = word[2:].partition("=")
            flags[name] = value
        else:
            rest.append(word)
    return flags, rest


def dockerignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Whether `.dockerignore` keeps `path` (or a folder above it) out of the build context.

    Enough for the patterns used here: plain names, `*` globs and a leading `**/`;
    negation (`!`) is not used, so it is not supported.
    """
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        assert not pattern.startswith("!"), "negated .dockerignore patterns are not handled"
        anywhere = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pattern.rstrip("/")):
                return True
            if anywhere != pattern and fnmatch.fnmatchcase(Path(prefix).name, anywhere):
                return True
    return False


def workdir(stage: list[Instruction]) -> str:
    """The stage's last WORKDIR (where relative COPY destinations land)."""
    directories = [i.arguments for i in stage if i.keyword == "WORKDIR"]
    return directories[-1] if directories else "/"


def copy_build_context(stage: list[Instruction], root: Path, destination: Path) -> list[str]:
    """Lay out in `destination` what the stage's `COPY` lines (from the build context, not
    `--from` another stage) put under its WORKDIR, leaving out what `.dockerignore` keeps out
    of the context; returns the sources copied. Destinations outside the WORKDIR fail: this
    stands in for the stage's file system only under its working directory."""
    patterns = dockerignore_patterns((root / ".dockerignore").read_text())
    base = workdir(stage)
    copied: list[str] = []
    for copy in (i for i in stage if i.keyword == "COPY"):
        flags, paths = options(copy.arguments)
        if "from" in flags:
            continue
        *sources, target = paths
        target_path = Path(os.path.normpath(Path(base) / target))
        assert target_path.is_relative_to(base), f"COPY outside {base}: {copy.arguments}"
        inside = destination / target_path.relative_to(base)
        for source in sources:
            assert not any(c in source for c in "*?["), f"globs are not handled: {source}"
            origin = root / source
            if origin.is_dir():  # a folder's contents go into the target folder
                placements = {f: inside / f.relative_to(origin) for f in origin.rglob("*")}
            elif target.endswith("/") or len(sources) > 1:
                placements = {origin: inside / origin.name}
            else:  # `COPY a b` copies a to the file b
                placements = {origin: inside}
            for file, placed in placements.items():
                if file.is_dir() or is_ignored(file.relative_to(root).as_posix(), patterns):
                    continue
                placed.parent.mkdir(parents=True, exist_ok=True)
                placed.write_bytes(file.read_bytes())
            copied.append(source)
    return copied


def uv_command() -> str:
    """The uv that `make` bootstraps into .tools/ (or $UV, or one on PATH)."""
    for candidate in (os.environ.get("UV"), str(ROOT / ".tools" / "bin" / "uv"), which("uv")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError("uv not found: run the tests through `make test`, which installs it")
