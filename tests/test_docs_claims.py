"""Every `fulcrum ...` command and option that README.md and docs/*.md name exists.

The documents are read when the tests run, so a command or option that any change adds to the
docs is covered with no edit here. Two kinds of mention count:

- lines of ```bash / ```sh / ```shell / ```console blocks that run `fulcrum` (continuation lines
  joined; `fulcrum` may follow `&&`, `;`, `|` or a path such as `.venv/bin/fulcrum`);
- inline code that starts with `fulcrum ` (in tables, `a\\|b` in a command position is read as
  the alternatives a and b).

For each mention the sub-command path is walked through the real CLI, `fulcrum <path> --help`
must exit 0, and every `--option` (or `-o`) must be an option of a command on that path.
Placeholders (`<cmd>`, `...`) end a mention; values and arguments are not checked.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SHELL_FENCES = {"bash", "sh", "shell", "console"}
SEPARATORS = {"&&", "||", ";", "|", ">", ">>", "<", "2>", "2>&1", "&"}
OPTION = re.compile(r"^--?[A-Za-z][\w-]*")
INLINE = re.compile(r"(?<!`)`(fulcrum [^`\n]+)`(?!`)")


def mentions(text: str) -> list[tuple[int, list[str]]]:
    """(line number, the words after `fulcrum`) for every mention in a Markdown document."""
    found: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    fence: str | None = None
    pending, pending_line = "", 0
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip().split() or [""])[0].lower()
            continue
        if fence is not None:
            if fence not in SHELL_FENCES:
                continue
            code = stripped.removeprefix("$ ")
            if not pending:
                pending_line = number
            if code.endswith("\\"):
                pending += code[:-1] + " "
                continue
            found += [(pending_line, words) for words in _shell_mentions(pending + code)]
            pending = ""
            continue
        for match in INLINE.finditer(line):
            found.append((number, match.group(1).replace("\\|", "|").split()[1:]))
    return found


WRAPPERS = {"nice", "time", "exec", "sudo", "env", "nohup", "timeout"}


def _shell_mentions(command_line: str) -> list[list[str]]:
    """The words after each `fulcrum` in command position (not, e.g., `kubectl -n fulcrum`)."""
    try:
        tokens = shlex.split(command_line, comments=True)
    except ValueError:  # an unbalanced quote in prose-like code: not a command line
        return []
    out, at_command = [], True
    for i, token in enumerate(tokens):
        if token in SEPARATORS:
            at_command = True
        elif at_command and (token in WRAPPERS or re.match(r"^[A-Z_][A-Z0-9_]*=", token)):
            continue
        elif at_command and (token == "fulcrum" or token.endswith("/fulcrum")):
            words = []
            for word in tokens[i + 1:]:
                if word in SEPARATORS:
                    break
                words.append(word)
            out.append(words)
            at_command = False
        else:
            at_command = False
    return out


def _options(command) -> set[str]:
    return {o for p in command.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}


def check(words: list[str]) -> str | None:
    """None when the mention is right, else what is wrong. `a|b` in a command position (a
    Markdown table's alternatives) checks each of a and b."""
    from fulcrum.cli import app

    command = typer.main.get_command(app)
    path: list[str] = []
    known = _options(command) | {"--help"}
    for i, raw in enumerate(words):
        word = raw.strip("[]")
        if not word or word.startswith("<") or word in ("...", "…"):
            break
        if OPTION.match(word):
            option = word.split("=", 1)[0]
            if option not in known:
                return f"`fulcrum {' '.join(path)}` has no option {option}"
            continue
        commands = getattr(command, "commands", None)
        if commands is None:  # a leaf command: the rest are values and arguments
            continue
        if "|" in word:
            problems = [check([*words[:i], choice, *words[i + 1:]]) for choice in word.split("|")]
            return next((p for p in problems if p), None)
        if word not in commands:
            where = f"fulcrum {' '.join(path)}".strip()
            return f"`{where}` has no sub-command {word!r} (it has {', '.join(sorted(commands))})"
        command = commands[word]
        path.append(word)
        known |= _options(command)
    result = CliRunner().invoke(app, [*path, "--help"])
    if result.exit_code != 0:
        return f"`fulcrum {' '.join(path)} --help` exits {result.exit_code}: {result.output[-300:]}"
    return None


def test_mentions_are_found_in_blocks_and_inline_code():
    # the parser itself, hand-worked: continuation, separators, a path, table alternatives,
    # brackets, placeholders, a non-shell block that is skipped
    doc = "\n".join([
        "Run `fulcrum serve --bundle DIR` or `fulcrum bench serve\\|ingest`; `fulcrum <cmd> --help`.",
        "```bash",
        "make demo && .venv/bin/fulcrum evaluate --bundle B \\",
        "    --out R | tee log  # fulcrum nothing",
        "```",
        "```yaml",
        "command: fulcrum train --nope",
        "```",
        "| `fulcrum tune [--target ranker\\|retrieval]` |",
    ])
    assert mentions(doc) == [
        (1, ["serve", "--bundle", "DIR"]),
        (1, ["bench", "serve|ingest"]),
        (1, ["<cmd>", "--help"]),
        (3, ["evaluate", "--bundle", "B", "--out", "R"]),
        (9, ["tune", "[--target", "ranker|retrieval]"]),
    ]
    # `fulcrum` as an argument of another command is not a mention
    assert mentions("```bash\nkubectl -n fulcrum get pods && FULCRUM_X=1 nice fulcrum serve\n```") == [
        (2, ["serve"])]


def test_check_catches_a_missing_command_and_a_missing_option():
    # the test can fail: a made-up sub-command and a made-up option are reported
    assert "no sub-command 'no-such-command'" in check(["no-such-command"])
    assert "has no option --no-such-option" in check(["serve", "--no-such-option"])
    assert "has no sub-command 'nope'" in check(["bench", "nope"])
    assert "has no sub-command 'nope'" in check(["bench", "serve|nope"])  # each alternative
    assert check(["bench", "serve|ingest|features"]) is None
    assert check(["serve", "--bundle", "DIR", "--config", "F"]) is None
    assert check(["-v", "bench", "serve", "--help"]) is None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fulcrum_command_and_option_in_the_docs_exists(doc: Path):
    wrong = []
    for line, words in mentions(doc.read_text()):
        problem = check(words)
        if problem:
            wrong.append(f"{doc.relative_to(ROOT)}:{line}: fulcrum {' '.join(words)}  ->  {problem}")
    assert not wrong, "\n".join(wrong)


def test_deployment_lists_every_server_environment_variable():
    # docs/deployment.md's server table names every FULCRUM_<FIELD> the server config reads
    from online.config import env_var_names

    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text[text.index("## Environment variables"):]
    section = section[: section.find("\n## ", 1) if "\n## " in section[1:] else len(section)]
    missing = [name for name in env_var_names() if f"`{name}`" not in section]
    assert not missing, f"docs/deployment.md, Environment variables: add {missing}"
