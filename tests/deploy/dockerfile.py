"""A small Dockerfile reader: enough to check instructions without a Docker engine."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path

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
