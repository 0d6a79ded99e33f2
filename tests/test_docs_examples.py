"""Every shell example in README.md and docs/ runs exactly as written (the rules: tests/docs_examples_support.py).

One test per doc file runs its shell blocks in order as one scenario; a failure names the file, the line, the
command, its exit code and the tail of its stderr. Skipped blocks are separate, skipped test items, so the
``-ra`` summary of every run lists them with their reasons.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from docs_examples_support import (
    ROOT,
    Block,
    DocsFormatError,
    Scenario,
    doc_files,
    free_port,
    parse_blocks,
    prepare_workdir,
    shell_blocks,
)

_FILES = {path.relative_to(ROOT).as_posix(): path for path in doc_files()}
_RUN = [rel for rel, path in _FILES.items() if any(b.skip is None for b in shell_blocks(path))]
_SKIPPED = [block for path in _FILES.values() for block in shell_blocks(path) if block.skip is not None]


@dataclass(frozen=True)
class _State:
    """Where a finished scenario left its working folder and registry home (or why it failed)."""

    workdir: Path
    home: Path
    failure: str | None


class _Scenarios:
    """Runs each doc file's scenario once per session; a file marked ``after`` starts from a copy of another's."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.states: dict[str, _State] = {}

    def run(self, rel: str) -> _State:
        if rel in self.states:
            return self.states[rel]
        blocks = shell_blocks(_FILES[rel])
        folder = self.base / rel.replace("/", "_")
        workdir, home = folder / "work", folder / "home"
        after = blocks[0].after if blocks else None
        if after is not None:
            if after not in _FILES:
                raise DocsFormatError(f"{blocks[0].where}: after names {after!r}, not a doc file")
            before = self.run(after)
            if before.failure is not None:
                state = _State(workdir, home, f"{rel} continues {after}, whose examples failed:\n{before.failure}")
                self.states[rel] = state
                return state
            shutil.copytree(before.workdir, workdir, symlinks=True)
            shutil.copytree(before.home, home, symlinks=True)
        else:
            workdir.mkdir(parents=True)
            prepare_workdir(workdir)
        scenario = Scenario(workdir, home, free_port())
        failure = None
        try:
            for block in parse_blocks(_FILES[rel]):
                if block.skip is None and (block.is_shell or block.lang == "python"):
                    scenario.run_block(block)
        except AssertionError as exc:
            failure = str(exc)
        finally:
            problems = scenario.stop()
        if failure is None and problems:
            failure = "\n".join(problems)
        for what, took in scenario.timings:  # shown with pytest -s: where the minutes go
            print(f"{took:6.1f} s  {what}")
        state = _State(scenario.workdir, home, failure)
        self.states[rel] = state
        return state


@pytest.fixture(scope="session")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> _Scenarios:
    return _Scenarios(tmp_path_factory.mktemp("docs-examples"))


@pytest.mark.slow
@pytest.mark.parametrize("rel", _RUN)
def test_docs_examples_run_as_written(rel: str, scenarios: _Scenarios) -> None:
    state = scenarios.run(rel)
    if state.failure is not None:
        pytest.fail(state.failure, pytrace=False)


@pytest.mark.parametrize("block", _SKIPPED, ids=[block.where for block in _SKIPPED])
def test_docs_examples_skipped(block: Block) -> None:
    pytest.skip(f"{block.where} not run: {block.skip}")


def test_docs_examples_every_fence_declares_its_language() -> None:
    """An untagged block could hide a shell example from the run: diagrams and output say ``text``."""
    untagged = [block.where for path in _FILES.values() for block in parse_blocks(path) if not block.lang]
    assert not untagged, f"tag these fenced blocks (bash/console for commands, text for the rest): {untagged}"


def test_docs_examples_skips_are_few() -> None:
    shell = [block for path in _FILES.values() for block in shell_blocks(path)]
    assert shell, "no shell examples found"
    assert len(_SKIPPED) <= 5, [f"{b.where}: {b.skip}" for b in _SKIPPED]


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "docs").mkdir()
    path = tmp_path / "docs" / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_docs_examples_parse_commands_markers_and_console(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Intro\n\n"
        '<!-- docs-test: env NLPOPS_A=1 B="two words" -->\n'
        "<!-- docs-test: exit 3 -->\n"
        "```bash\n"
        "# a comment\n"
        "nlpops train --data a.csv \\\n"
        "             --name x   # trailing comment\n"
        "\n"
        "nlpops monitor x\n"
        "curl -d '{\n"
        '  "a": 1}\'\n'
        "```\n\n"
        "```console\n"
        "$ nlpops predict x hello\n"
        "hello  card  0.9\n"
        "```\n\n"
        '<!-- docs-test: skip reason="needs a GPU" -->\n'
        "```sh\nnlpops train --family transformer\n```\n\n"
        "```text\nnot run\n```\n",
    )
    blocks = parse_blocks(path, tmp_path)
    assert [(b.line, b.lang) for b in blocks] == [(5, "bash"), (15, "console"), (21, "sh"), (25, "text")]
    first, console, gpu, text = blocks
    assert [(c.line, c.text) for c in first.commands()] == [
        (7, "nlpops train --data a.csv --name x   # trailing comment"),
        (10, "nlpops monitor x"),
        (11, "curl -d '{\n  \"a\": 1}'"),
    ]
    assert first.env == {"NLPOPS_A": "1", "B": "two words"} and first.allowed_exits == {0, 3}
    assert [c.text for c in console.commands()] == ["nlpops predict x hello"]
    assert gpu.skip == "needs a GPU" and not text.is_shell


@pytest.mark.parametrize(
    "markdown",
    [
        "<!-- docs-test: skip -->\n```bash\nls\n```\n",
        "<!-- docs-test: frobnicate -->\n```bash\nls\n```\n",
        '<!-- docs-test: replace "absent" "x" -->\n```bash\nls\n```\n',
        "<!-- docs-test: exit three -->\n```bash\nls\n```\n",
        "<!-- docs-test: env NOVALUE -->\n```bash\nls\n```\n",
        "<!-- docs-test: exit 3 -->\n\nprose in between\n```bash\nls\n```\n",
        "```bash\nls\n",
        "```bash\nls \\\n```\n",
        "```bash\necho '{\n```\n",
    ],
)
def test_docs_examples_bad_markers_are_refused(tmp_path: Path, markdown: str) -> None:
    path = _write(tmp_path, markdown)
    with pytest.raises(DocsFormatError, match=r"docs/page\.md:\d+"):
        for block in parse_blocks(path, tmp_path):
            block.commands()


def test_docs_examples_failure_names_file_line_command_and_stderr(tmp_path: Path) -> None:
    path = _write(tmp_path, "```bash\nexport GREETING=hello\necho $GREETING\nnlpops registry promote nosuch 2\n```\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    scenario = Scenario(workdir, tmp_path / "home", free_port())
    (block,) = parse_blocks(path, tmp_path)
    with pytest.raises(AssertionError) as failure:
        scenario.run_block(block)
    message = str(failure.value)
    assert message.startswith("docs/page.md:4: `nlpops registry promote nosuch 2` exited 1")
    assert "nosuch" in message.split("stderr (tail):")[1]
    assert scenario.ran == ["docs/page.md:2", "docs/page.md:3"] and scenario.env["GREETING"] == "hello"
