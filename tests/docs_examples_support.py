"""Extract the shell examples of README.md and docs/*.md and run them as written (tests/test_docs_examples.py).

Every fenced block declares its language. Blocks tagged ``bash``, ``sh``, ``shell`` or ``console`` are shell
examples; each logical line (``\\`` continuations joined, comments and blank lines left out) is one command.
In ``console`` blocks only the lines starting with ``$ `` are commands; the other lines show output and are
not compared. The blocks of one file run in order, as one scenario, in one working folder: later blocks use
what earlier ones made (a trained model, a registry, files).

Markers are HTML comments on the lines right before a block's opening fence, so the exceptions stay visible
in the docs themselves::

    <!-- docs-test: skip reason="needs a GPU" -->           the block is not run (the reason is reported)
    <!-- docs-test: env NLPOPS_X=small -->                 set for this block's commands (small data knobs)
    <!-- docs-test: replace "--duration 30" "--duration 3" -->   only where nothing else can shorten a run
    <!-- docs-test: exit 3 -->                             exit codes (besides 0) the block's commands may end with
    <!-- docs-test: needs promtool -->                     skipped (and reported) where the tool is not installed
    <!-- docs-test: after README.md -->                    (first block only) the scenario starts from the state
                                                           another file's scenario left (its folder and registry)

A ``python`` block whose first line names a file (``# fine_tune.py``, or ``# corpus.py: what it is``) is
written to that file in the working folder, for the shell commands after it to run.

Long-running commands are recognised by what they are, not marked: ``nlpops serve`` starts in the background
and counts as started when its port accepts connections; ``nlpops retrain ... --schedule`` when it has
announced its schedule. Both are stopped (SIGINT, then SIGKILL) when the file's scenario ends. Servers bind
127.0.0.1; the docs' port 8000 becomes a free port: ``NLPOPS_SERVING__PORT`` is set to it and
``127.0.0.1:8000`` / ``--port 8000`` in commands are rewritten to it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGS = frozenset({"bash", "sh", "shell", "console"})
DOCS_PORT = 8000
COMMAND_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 120.0
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
_DIRECTIVES = frozenset({"skip", "env", "replace", "exit", "after", "needs"})


class DocsFormatError(ValueError):
    """A doc file's fences or markers cannot be read (names the file and line)."""


@dataclass(frozen=True)
class Command:
    """One logical shell command of a doc block, at the line where it starts."""

    line: int
    text: str


@dataclass(frozen=True)
class Block:
    """A fenced block and the markers right before it."""

    path: str
    line: int
    lang: str
    body: str
    skip: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    replace: tuple[tuple[str, str], ...] = ()
    allowed_exits: frozenset[int] = frozenset({0})
    after: str | None = None

    @property
    def is_shell(self) -> bool:
        return self.lang in SHELL_LANGS

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def commands(self) -> list[Command]:
        """The block's commands, each with the line it starts on.

        A line ending in ``\\`` continues on the next (joined with a space); so does a line inside an open
        quote (joined with a newline, as the shell reads it).
        """
        commands: list[Command] = []
        text: str | None = None
        start = 0
        for offset, raw in enumerate(self.body.splitlines(), start=self.line + 1):
            line = raw
            if text is None:
                if self.lang == "console":
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                start, text = offset, ""
            elif not text.endswith(" "):
                text += "\n"
            if line.rstrip().endswith("\\"):
                text += line.rstrip()[:-1].strip() + " "
                continue
            text += line.strip() if not text or text.endswith(" ") else line
            if _quotes_open(text):
                continue
            commands.append(Command(start, text))
            text = None
        if text is not None:
            raise DocsFormatError(f"{self.path}:{start}: the command never ends (a line continuation or open quote)")
        return commands


def _quotes_open(text: str) -> bool:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        list(lexer)
    except ValueError:
        return True
    return False


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every page under docs/, in a stable order."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def parse_blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """Every fenced block of a Markdown file with its markers, in order."""
    rel = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    markers: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        marker = _MARKER.match(lines[i])
        if marker:
            markers.append((i + 1, marker.group("body")))
            i += 1
            continue
        fence = _FENCE.match(lines[i])
        if not fence:
            if lines[i].strip() and markers:
                raise DocsFormatError(f"{rel}:{markers[0][0]}: a docs-test marker must sit right before a fence")
            i += 1
            continue
        close = fence.group("fence")
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(close):
            end += 1
        if end == len(lines):
            raise DocsFormatError(f"{rel}:{i + 1}: the fenced block is never closed")
        indent = len(fence.group("indent"))
        body = "\n".join(line[indent:] for line in lines[i + 1 : end])
        blocks.append(_with_markers(Block(rel, i + 1, fence.group("lang"), body), markers))
        markers = []
        i = end + 1
    if markers:
        raise DocsFormatError(f"{rel}:{markers[0][0]}: a docs-test marker must sit right before a fence")
    return blocks


def _with_markers(block: Block, markers: list[tuple[int, str]]) -> Block:
    skip, after = None, None
    env: dict[str, str] = {}
    replace: list[tuple[str, str]] = []
    exits = {0}
    for line, body in markers:
        where = f"{block.path}:{line}"
        try:
            words = shlex.split(body)
        except ValueError as exc:
            raise DocsFormatError(f"{where}: cannot read the docs-test marker {body!r}: {exc}") from exc
        directive, args = (words[0], words[1:]) if words else ("", [])
        if directive not in _DIRECTIVES:
            raise DocsFormatError(
                f"{where}: unknown docs-test directive {directive!r}; use one of {sorted(_DIRECTIVES)}"
            )
        if directive == "skip":
            if len(args) != 1 or not args[0].startswith("reason=") or not args[0][7:].strip():
                raise DocsFormatError(f'{where}: a skip needs a reason: <!-- docs-test: skip reason="..." -->')
            skip = args[0][7:]
        elif directive == "env":
            for arg in args:
                name, sep, value = arg.partition("=")
                if not sep or not name:
                    raise DocsFormatError(f"{where}: env takes NAME=VALUE pairs, got {arg!r}")
                env[name] = value
        elif directive == "replace":
            if len(args) != 2 or args[0] not in block.body:
                raise DocsFormatError(f"{where}: replace takes two quoted strings, the first found in the block")
            replace.append((args[0], args[1]))
        elif directive == "exit":
            if not args or not all(arg.isdigit() for arg in args):
                raise DocsFormatError(f"{where}: exit takes exit codes, got {args!r}")
            exits.update(int(arg) for arg in args)
        elif directive == "needs":
            if not args:
                raise DocsFormatError(f"{where}: needs takes the commands the block runs, e.g. promtool")
            missing = [tool for tool in args if shutil.which(tool) is None]
            if missing and skip is None:
                skip = f"{', '.join(missing)} not installed"
        elif directive == "after":
            if len(args) != 1:
                raise DocsFormatError(f"{where}: after takes one doc file, e.g. README.md")
            after = args[0]
    return Block(block.path, block.line, block.lang, block.body, skip, env, tuple(replace), frozenset(exits), after)


def shell_blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """The shell blocks of a file (run or skipped), in order."""
    return [block for block in parse_blocks(path, root) if block.is_shell]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(text: str, lines: int = 25) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) if kept else "    (empty)"


@dataclass
class _Background:
    command: Command
    block: Block
    process: subprocess.Popen[bytes]
    log: Path


class Scenario:
    """Runs the shell blocks of one doc file in order, in ``workdir``, with its own registry home."""

    def __init__(self, workdir: Path, home: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.env = _base_env(home, port)
        self.background: list[_Background] = []
        self.ran: list[str] = []
        self.timings: list[tuple[str, float]] = []

    def run_block(self, block: Block) -> None:
        named = re.match(r"# ([\w./-]+\.py)(?::[^\n]*)?\n", block.body + "\n") if block.lang == "python" else None
        if named:  # a Python block that names its file (``# fine_tune.py``) is that file, which later commands run
            (self.workdir / named.group(1)).write_text(block.body + "\n", encoding="utf-8")
        if not block.is_shell:
            return
        for command in block.commands():
            self.run_command(block, command)

    def run_command(self, block: Block, command: Command) -> None:
        text = self._rewrite(block, command.text)
        env = {**self.env, **block.env}
        where = f"{block.path}:{command.line}"
        if _is_background(text):
            self._start_background(block, command, text, env)
            self.ran.append(where)
            return
        state = self.workdir.parent / ".docs-test-state"
        script = f'{text}\n__status=$?\nenv -0 > "{state}.env"\npwd > "{state}.pwd"\nexit $__status\n'
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", script],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"{where}: `{command.text}` did not finish within {COMMAND_TIMEOUT_S:.0f} s\n"
                f"  stderr (tail):\n{_tail(_text(exc.stderr))}"
            ) from None
        took = time.monotonic() - started
        self.timings.append((f"{where} {command.text[:70]}", took))
        if done.returncode not in block.allowed_exits:
            raise AssertionError(
                f"{where}: `{command.text}` exited {done.returncode} after {took:.1f} s "
                f"(block at line {block.line}; ran in {self.workdir})\n"
                f"  stderr (tail):\n{_tail(done.stderr)}\n  stdout (tail):\n{_tail(done.stdout, 10)}"
            )
        self._carry_state(state, block)
        self.ran.append(where)

    def _rewrite(self, block: Block, text: str) -> str:
        for old, new in block.replace:
            text = text.replace(old, new)
        text = text.replace(f"127.0.0.1:{DOCS_PORT}", f"127.0.0.1:{self.port}")
        text = text.replace(f"localhost:{DOCS_PORT}", f"localhost:{self.port}")
        return re.sub(rf"(--port[ =]|-p ){DOCS_PORT}\b", rf"\g<1>{self.port}", text)

    def _carry_state(self, state: Path, block: Block) -> None:
        """What a command exported (and where it cd'd to) holds for the commands after it."""
        env_file, pwd_file = Path(f"{state}.env"), Path(f"{state}.pwd")
        if env_file.exists():
            entries = env_file.read_bytes().decode("utf-8", "replace").split("\0")
            new_env = dict(entry.split("=", 1) for entry in entries if "=" in entry)
            for name in ("_", "SHLVL", "OLDPWD", "PWD", "__status"):
                new_env.pop(name, None)
            for name, value in block.env.items():  # a marker's env holds for its block only
                if new_env.get(name) == value:
                    if name in self.env:
                        new_env[name] = self.env[name]
                    else:
                        new_env.pop(name)
            self.env = new_env
            env_file.unlink()
        if pwd_file.exists():
            self.workdir = Path(pwd_file.read_text(encoding="utf-8").strip())
            pwd_file.unlink()

    def _start_background(self, block: Block, command: Command, text: str, env: dict[str, str]) -> None:
        where = f"{block.path}:{command.line}"
        log = self.workdir.parent / f".docs-test-bg-{len(self.background)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {text}"],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        job = _Background(command, block, process, log)
        self.background.append(job)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(
                    f"{where}: `{command.text}` (a long-running command) exited {process.returncode} "
                    f"before it was ready\n  output (tail):\n{_tail(log.read_text(errors='replace'))}"
                )
            if _is_ready(text, log, self.port):
                return
            time.sleep(0.2)
        raise AssertionError(
            f"{where}: `{command.text}` was not ready within {READY_TIMEOUT_S:.0f} s\n"
            f"  output (tail):\n{_tail(log.read_text(errors='replace'))}"
        )

    def stop(self) -> list[str]:
        """Stop every background command; returns the problems (one that died while it should have run)."""
        problems = []
        for job in reversed(self.background):
            if job.process.poll() is not None:
                problems.append(
                    f"{job.block.path}:{job.command.line}: `{job.command.text}` exited {job.process.returncode} "
                    f"while the scenario ran\n  output (tail):\n{_tail(job.log.read_text(errors='replace'))}"
                )
                continue
            _stop(job.process)
        self.background = []
        return problems


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait_s in ((signal.SIGINT, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _is_background(text: str) -> bool:
    words = text.split()
    return words[:2] == ["nlpops", "serve"] or (words[:2] == ["nlpops", "retrain"] and "--schedule" in words)


def _is_ready(text: str, log: Path, port: int) -> bool:
    if text.split()[:2] == ["nlpops", "serve"]:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", port)) == 0
    return "on schedule" in log.read_text(errors="replace")


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _base_env(home: Path, port: int) -> dict[str, str]:
    """The environment of a reader who installed nlpops: its venv on PATH, no stray NLPOPS_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NLPOPS_", "PYTEST_", "VIRTUAL_ENV"))}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    env["NLPOPS_HOME"] = str(home)
    env["NLPOPS_SERVING__PORT"] = str(port)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "120"
    return env


def prepare_workdir(workdir: Path, root: Path = ROOT) -> None:
    """A fresh folder where the docs' paths to the bundled data (src/nlpops/datasets/...) resolve, read-only."""
    datasets = workdir / "src" / "nlpops" / "datasets"
    datasets.parent.mkdir(parents=True)
    datasets.symlink_to(root / "src" / "nlpops" / "datasets", target_is_directory=True)


def iter_files_blocks(root: Path = ROOT) -> Iterator[tuple[Path, list[Block]]]:
    for path in doc_files(root):
        yield path, parse_blocks(path, root)
