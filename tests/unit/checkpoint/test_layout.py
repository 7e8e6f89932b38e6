"""retool.checkpoint.layout: the directory layout a Megatron launch loads, against the frameworks' own rules.

The rules, stated from the sources (read through the search tool):
- miles ``miles/backends/megatron_utils/checkpoint.py`` and slime
  ``slime/backends/megatron_utils/checkpoint.py``, ``_is_megatron_checkpoint(path)``: true when
  ``path/latest_checkpointed_iteration.txt`` is a file or the name of ``path`` fully matches
  ``iter_\\d{7}``; every other directory goes down their Hugging Face loading path.
- Megatron-LM ``megatron/training/checkpointing.py``: ``read_metadata`` strips the tracker file and
  takes an int (asserted > 0) or the word ``release`` (anything else exits); ``get_checkpoint_name``
  names the directory ``release`` or ``iter_{:07d}``; ``find_checkpoint_rank_0`` then accepts it
  when ``dist_checkpointing.check_is_distributed_checkpoint`` does (megatron-core, called for real
  below). miles's ``tools/convert_hf_to_torch_dist.py`` leaves ``release`` in the tracker and the
  files in ``release/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from retool.checkpoint import check, resolve_torch_dist_dir
from retool.checkpoint.layout import (TRACKER_FILENAME, describe_layout, is_megatron_checkpoint, iteration_dirname,
                                      read_tracker)

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::FutureWarning")]


def _frameworks_rule(path: Path) -> bool:
    """miles/slime ``_is_megatron_checkpoint``, restated from the source named in the module docstring."""
    return (path / "latest_checkpointed_iteration.txt").is_file() or re.fullmatch(r"iter_\d{7}", path.name) is not None


def _megatron_lm_dir(root: Path) -> Path:
    """The directory Megatron-LM loads from a root, restated from ``read_metadata``/``get_checkpoint_name``."""
    text = (root / "latest_checkpointed_iteration.txt").read_text().strip()
    if text == "release":
        return root / "release"
    assert int(text) > 0, "Megatron-LM asserts iteration > 0 or release"
    return root / f"iter_{int(text):07d}"


def _fake_torch_dist(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("metadata.json", "common.pt"):
        (folder / name).write_text("{}")
    return folder


# ---- a converted checkpoint under the frameworks' rules ---------------------------------------------


def test_a_converted_checkpoint_is_a_megatron_checkpoint_by_the_miles_and_slime_rule(good_dir: Path) -> None:
    assert _frameworks_rule(good_dir)


def test_megatron_lm_finds_a_distributed_checkpoint_where_the_tracker_points(good_dir: Path) -> None:
    from megatron.core import dist_checkpointing

    assert dist_checkpointing.check_is_distributed_checkpoint(str(_megatron_lm_dir(good_dir)))


def test_the_old_flat_layout_takes_the_frameworks_hf_path(workdir: Path, good_dir: Path) -> None:
    flat = workdir / "flat-layout"
    if not flat.exists():
        shutil.copytree(good_dir / "release", flat)
    assert not _frameworks_rule(flat) and not is_megatron_checkpoint(flat)


def test_check_reports_a_flat_checkpoint_as_a_layout_failure_and_still_reads_it(hf_dir: Path, workdir: Path,
                                                                                good_dir: Path) -> None:
    flat = workdir / "flat-layout-check"
    shutil.copytree(good_dir / "release", flat)
    report = check(hf_dir, flat)
    assert not report.ok and report.logits is not None and report.logits.ok
    assert report.failures[0].startswith("layout: flat torch_dist directory: miles/slime will take it for Hugging Face")


def test_check_accepts_the_iteration_directory_as_well_as_the_root(hf_dir: Path, workdir: Path, good_dir: Path) -> None:
    root = workdir / "trained"
    shutil.copytree(good_dir / "release", root / "iter_0000012")
    (root / TRACKER_FILENAME).write_text("12\n")
    assert check(hf_dir, root, compare_logits=False).ok
    assert check(hf_dir, root / "iter_0000012", compare_logits=False).ok


# ---- the rule itself -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "with_tracker", "expected"), [
    ("ckpt", True, True), ("iter_0000012", False, True), ("release", False, False), ("iter_12", False, False),
    ("hf-model", False, False), ("iter_00000123", False, False),
])
def test_is_megatron_checkpoint_follows_the_frameworks_rule(tmp_path: Path, name: str, with_tracker: bool,
                                                            expected: bool) -> None:
    folder = tmp_path / name
    folder.mkdir()
    if with_tracker:
        (folder / TRACKER_FILENAME).write_text("release")
    assert is_megatron_checkpoint(folder) is expected is _frameworks_rule(folder)


@pytest.mark.parametrize(("text", "expected"), [("release", None), ("release\n", None), ("12", 12), (" 7\n", 7)])
def test_read_tracker_takes_release_or_a_positive_iteration(tmp_path: Path, text: str, expected: int | None) -> None:
    (tmp_path / TRACKER_FILENAME).write_text(text)
    assert read_tracker(tmp_path) == expected


@pytest.mark.parametrize("text", ["0", "-3", "latest", ""])
def test_read_tracker_refuses_what_megatron_lm_refuses_naming_the_content(tmp_path: Path, text: str) -> None:
    (tmp_path / TRACKER_FILENAME).write_text(text)
    with pytest.raises(ValueError, match=f"holds {text!r}: Megatron-LM accepts only 'release' or an iteration > 0"):
        read_tracker(tmp_path)


def test_iteration_dirnames_are_megatron_lms() -> None:
    assert (iteration_dirname(None), iteration_dirname(12)) == ("release", "iter_0000012")
    with pytest.raises(ValueError, match="positive int or None"):
        iteration_dirname(0)


def test_resolve_follows_the_tracker_to_its_directory(tmp_path: Path) -> None:
    inner = _fake_torch_dist(tmp_path / "root" / "iter_0000005")
    (tmp_path / "root" / TRACKER_FILENAME).write_text("5")
    assert resolve_torch_dist_dir(tmp_path / "root") == inner
    assert resolve_torch_dist_dir(inner) == inner


def test_resolve_names_a_tracker_pointing_at_nothing(tmp_path: Path) -> None:
    _fake_torch_dist(tmp_path / "release")
    (tmp_path / TRACKER_FILENAME).write_text("3")
    with pytest.raises(FileNotFoundError, match="its tracker names iter_0000003/, which holds no torch_dist"):
        resolve_torch_dist_dir(tmp_path)


def test_resolve_of_a_directory_without_a_checkpoint_names_what_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no latest_checkpointed_iteration.txt and no torch_dist files"):
        resolve_torch_dist_dir(tmp_path)


def test_describe_layout_names_each_kind(tmp_path: Path) -> None:
    flat = _fake_torch_dist(tmp_path / "flat")
    (tmp_path / TRACKER_FILENAME).write_text("release")
    assert describe_layout(tmp_path) == "Megatron checkpoint root (tracker -> release/)"
    assert describe_layout(tmp_path / "iter_0000001") == "Megatron iteration directory"
    assert describe_layout(flat).startswith("flat torch_dist directory")
