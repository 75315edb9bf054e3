"""benchmarks/step_time.py on the bundled sample capture: a table row per
batch size with a real, positive time."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.step_time import main

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "sample_capture"


def test_step_time_prints_a_row_per_batch_size(capsys) -> None:
    main([str(SAMPLE), "--batch", "256", "1024", "--threads", "1", "--warmup", "1", "--steps", "3",
          "--set", "downscale=4", "--set", "specular_visibility=false", "--set", "ao_rays=4"])
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) \|$", capsys.readouterr().out, re.M)
    assert [int(batch) for batch, _ in rows] == [256, 1024]
    assert all(float(ms) > 0 for _, ms in rows)
