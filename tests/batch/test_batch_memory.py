"""Memory stays bounded: peak RSS of the whole process tree does not grow with the input size."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil
import pytest
from batch_support import cli_command, write_input_csv

from nlpops.bundle import Bundle

MIB = 1 << 20


def _peak_tree_rss_bytes(args: list[str]) -> int:
    """Run the command, sampling the RSS summed over it and all its descendants; return the peak."""
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        total = 0
        try:
            for member in [root, *root.children(recursive=True)]:
                try:
                    total += member.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
        except psutil.NoSuchProcess:
            break
        peak = max(peak, total)
        time.sleep(0.02)
    _, stderr = process.communicate()
    assert process.returncode == 0, stderr.decode()
    return peak


@pytest.mark.slow
def test_batch_peak_memory_does_not_grow_with_rows(
    tiny_bundle: Bundle, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    peaks = {}
    for n_rows in (50_000, 200_000):
        source = write_input_csv(tmp_path / f"in-{n_rows}.csv", n_rows, empty_every=10_000)
        out = tmp_path / f"out-{n_rows}.csv"
        args = [
            "batch", str(tiny_bundle.path), "-i", str(source), "-o", str(out), "--id-column", "id",
            "--workers", "2", "--chunk-rows", "5000", "--quiet",
        ]  # fmt: skip
        peaks[n_rows] = _peak_tree_rss_bytes(cli_command(*args))
        assert out.stat().st_size > n_rows * 10
    record_property("peak_rss_mib_50k", round(peaks[50_000] / MIB, 1))
    record_property("peak_rss_mib_200k", round(peaks[200_000] / MIB, 1))
    print(f"peak RSS of the process tree: 50k rows {peaks[50_000] / MIB:.0f} MiB, 200k {peaks[200_000] / MIB:.0f} MiB")
    # 4x the rows: a reader that held the file or the outputs would need far more than this slack
    assert peaks[200_000] <= peaks[50_000] * 1.15 + 16 * MIB
