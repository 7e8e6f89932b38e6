"""``retool plot``: writes a real PNG of the banded metrics, one panel per band."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from retool.cli import main
from retool.train.metrics import write_metrics_line
from tests.strategies.metrics import healthy_rows, with_value

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, data[:8]
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def crimson_pixels(path: Path) -> int:
    """Pixels drawn in the breach colour (matplotlib 'crimson', RGB 220, 20, 60)."""
    import matplotlib.image
    import numpy as np

    rgb = matplotlib.image.imread(path)[..., :3] * 255  # (H, W, 3)
    return int((np.abs(rgb - np.array([220, 20, 60])).max(axis=-1) < 40).sum())


def write_rows(path: Path, rows: list[dict]) -> Path:
    for row in rows:
        write_metrics_line(path, row["step"], {k: v for k, v in row.items() if k != "step"})
    return path


def test_plot_writes_png_with_one_panel_per_default_band(tmp_path, capsys) -> None:
    rows = with_value(healthy_rows(30), "sandbox/timeout_rate", 11, 0.3)
    path = write_rows(tmp_path / "metrics.jsonl", rows)
    out_png = tmp_path / "figs" / "metrics.png"
    assert main(["plot", str(path), "-o", str(out_png)]) == 0
    assert png_size(out_png) == (1200, 840)  # 2 x 3 panels of 6.0 x 2.8 in at 100 dpi
    assert out_png.stat().st_size > 30_000  # drawn content, not an empty canvas
    assert "6 panels, 1 breaches, 0 missing" in capsys.readouterr().out
    assert crimson_pixels(out_png) > 20  # the breach is marked


def test_healthy_run_plot_marks_nothing(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", healthy_rows(30))
    out_png = tmp_path / "healthy.png"
    assert main(["plot", str(path), "-o", str(out_png), "--dpi", "50"]) == 0
    assert png_size(out_png) == (600, 420)
    assert crimson_pixels(out_png) == 0


def test_plot_with_bands_file_and_missing_metric(tmp_path, capsys) -> None:
    rows = [{k: v for k, v in row.items() if k != "sandbox/timeout_rate"} for row in healthy_rows(12)]
    path = write_rows(tmp_path / "metrics.jsonl", rows)
    bands = tmp_path / "bands.json"
    bands.write_text(json.dumps({"bands": [{"metric": "sandbox/timeout_rate", "high": 0.02},
                                           {"metric": "reward/exact_match", "trend": "up"}]}))
    out_png = tmp_path / "two.png"
    assert main(["plot", str(path), "-o", str(out_png), "--bands", str(bands), "--window", "4", "--dpi", "50"]) == 0
    assert png_size(out_png) == (600, 140)  # one row of two panels at 50 dpi
    assert "2 panels, 0 breaches, 1 missing" in capsys.readouterr().out


def test_plot_bad_metrics_file_exits_two(tmp_path, capsys) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 0}\n{"step": "one"}\n')
    out_png = tmp_path / "never.png"
    assert main(["plot", str(path), "-o", str(out_png)]) == 2
    assert "metrics.jsonl:2" in capsys.readouterr().err
    assert not out_png.exists()
