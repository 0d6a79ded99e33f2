"""Progress as a user sees it: shown on a terminal (a pseudo-terminal here), silent in a pipe and under --json."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from nlpops.data import bundled_dataset
from nlpops.testing import tiny_tfidf_bundle


def _run(args: list[str], cwd: Path, *, terminal: bool) -> tuple[int, str, str]:
    """Run ``nlpops ARGS`` with stderr on a pseudo-terminal (``terminal``) or a pipe; (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")}
    env.update(TERM="xterm", COLUMNS="160", NLPOPS_HOME=str(cwd / "registry"))
    env.pop("NO_COLOR", None)
    command = [sys.executable, "-m", "nlpops", *args]
    if not terminal:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    chunks: dict[int, list[bytes]] = {}
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=follower) as process:
        os.close(follower)
        assert process.stdout is not None
        open_fds = {leader, process.stdout.fileno()}
        while open_fds:
            ready, _, _ = select.select(list(open_fds), [], [], 0.5)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # the terminal closes with the process
                    data = b""
                if data:
                    chunks.setdefault(fd, []).append(data)
                else:
                    open_fds.discard(fd)
        code = process.wait(timeout=60)
        out_fd = process.stdout.fileno()
    os.close(leader)
    out = b"".join(chunks.get(out_fd, [])).decode("utf-8", "replace")
    return code, out, b"".join(chunks.get(leader, [])).decode("utf-8", "replace")


def test_progress_train_shows_phases_on_a_terminal_only(tmp_path: Path) -> None:
    data = str(bundled_dataset("sms_spam", "test"))
    code, _, err = _run(["train", "--data", data, "--name", "a"], tmp_path, terminal=True)
    assert code == 0, err
    assert "Training: training tfidf (classification) on" in err and "writing bundle" in err and "✓" in err
    code, _, err = _run(["train", "--data", data, "--name", "b"], tmp_path, terminal=False)
    assert code == 0 and err == ""
    code, out, err = _run(["train", "--data", data, "--name", "c", "--json"], tmp_path, terminal=True)
    assert code == 0 and '"name": "c"' in out and "Training" not in err


def test_progress_profile_counts_measurements_with_an_eta(tmp_path: Path) -> None:
    tiny_tfidf_bundle(tmp_path / "model")
    fast = ["--budget-s", "0.1", "--threads", "1", "--repeats", "1", "--runtimes", "native-cpu,onnx-cpu"]
    code, _, err = _run(["profile", "./model", *fast], tmp_path, terminal=True)
    assert code == 0, err
    assert "Profiling: measuring tiny" in err and "2/2" in err and "ETA" in err
    code, out, err = _run(["profile", "./model", *fast, "--json"], tmp_path, terminal=True)
    assert code == 0 and '"runtimes"' in out and "Profiling" not in err
