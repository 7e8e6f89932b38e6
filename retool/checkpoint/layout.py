"""The on-disk layout a Megatron launch loads, and the state-dict keys the frameworks' specs ask for.

Contract (file-system reads only; no torch, no megatron-core):
- Directory layout (Megatron-LM ``megatron/training/checkpointing.py``): a checkpoint root holds
  ``latest_checkpointed_iteration.txt`` whose stripped content is ``release`` or an iteration
  number > 0, and the torch_dist files in ``release/`` or ``iter_{N:07d}/`` accordingly.
  :func:`write_release_tracker` writes the release form (as miles's
  ``tools/convert_hf_to_torch_dist.py`` leaves it); :func:`read_tracker` reads either form and
  raises naming the file and its content otherwise.
- :func:`is_megatron_checkpoint` is the rule miles and slime apply to ``--load``/``--ref-load``
  (``_is_megatron_checkpoint`` in ``{miles,slime}/backends/megatron_utils/checkpoint.py``): the
  tracker file in the directory, or the directory's name matching ``iter_\\d{7}``. Anything else
  takes their Hugging Face loading path.
- :func:`resolve_torch_dist_dir` turns what a user passes (the root, the iteration directory, or a
  flat torch_dist directory as older versions of this package wrote) into the directory holding
  ``metadata.json`` and ``common.pt``; a path that is none of these raises ``FileNotFoundError``
  naming it and what was looked for.
- :data:`TE_ONLY_EXTRA_STATES`: the per-layer ``_extra_state`` objects that the Transformer Engine
  spec asks for and megatron-core's local spec does not have (TE's RMSNorm, used for the q/k
  norms, carries quantizer state). A converted checkpoint stores them empty, so a TE launch finds
  every key it requests and a local-spec launch ignores them (they are "missing" keys to it,
  which every ``--dist-ckpt-strictness`` except ``raise_all``/``log_all``/``return_all`` skips).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TRACKER_FILENAME = "latest_checkpointed_iteration.txt"
RELEASE_DIRNAME = "release"
ITERATION_DIR_PATTERN = re.compile(r"iter_\d{7}")
TORCH_DIST_FILES = ("metadata.json", "common.pt")

# Relative to ``decoder.layers.``; present in the TE spec's sharded state dict only.
TE_ONLY_EXTRA_STATES = ("self_attention.q_layernorm._extra_state", "self_attention.k_layernorm._extra_state")


def is_megatron_checkpoint(path: str | os.PathLike[str]) -> bool:
    """The miles/slime rule: a tracker file in ``path`` or ``path`` named ``iter_NNNNNNN``."""
    folder = Path(path)
    return (folder / TRACKER_FILENAME).is_file() or bool(ITERATION_DIR_PATTERN.fullmatch(folder.name))


def iteration_dirname(iteration: int | None) -> str:
    """``release`` for ``None``, else ``iter_{N:07d}`` (Megatron-LM's ``get_checkpoint_name``)."""
    if iteration is None:
        return RELEASE_DIRNAME
    if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration <= 0:
        raise ValueError(f"iteration must be a positive int or None (release), got {iteration!r}")
    return f"iter_{iteration:07d}"


def read_tracker(root: str | os.PathLike[str]) -> int | None:
    """The iteration a checkpoint root's tracker names: ``None`` for ``release``, else N > 0."""
    tracker = Path(root) / TRACKER_FILENAME
    text = tracker.read_text(errors="replace").strip()
    if text == "release":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ValueError(f"{str(tracker)!r} holds {text[:40]!r}: Megatron-LM accepts only 'release' or an iteration > 0")


def write_release_tracker(root: str | os.PathLike[str]) -> Path:
    tracker = Path(root) / TRACKER_FILENAME
    tracker.write_text("release")
    return tracker


def is_torch_dist_dir(path: str | os.PathLike[str]) -> bool:
    return all((Path(path) / name).is_file() for name in TORCH_DIST_FILES)


def resolve_torch_dist_dir(path: str | os.PathLike[str]) -> Path:
    """The directory holding the torch_dist files, from a root, an iteration dir or a flat dir."""
    folder = Path(path)
    if (folder / TRACKER_FILENAME).is_file():
        inner = folder / iteration_dirname(read_tracker(folder))
        if not is_torch_dist_dir(inner):
            raise FileNotFoundError(f"{str(folder)!r}: its tracker names {inner.name}/, which holds no torch_dist "
                                    f"checkpoint ({', '.join(TORCH_DIST_FILES)})")
        return inner
    if is_torch_dist_dir(folder):
        return folder
    raise FileNotFoundError(f"{str(folder)!r} is not a Megatron checkpoint: no {TRACKER_FILENAME} and no torch_dist "
                            f"files ({', '.join(TORCH_DIST_FILES)})")


def describe_layout(path: str | os.PathLike[str]) -> str:
    """One line saying how the frameworks will read ``path`` (for reports)."""
    folder = Path(path)
    if (folder / TRACKER_FILENAME).is_file():
        return f"Megatron checkpoint root (tracker -> {iteration_dirname(read_tracker(folder))}/)"
    if ITERATION_DIR_PATTERN.fullmatch(folder.name):
        return "Megatron iteration directory"
    return (f"flat torch_dist directory: miles/slime will take it for Hugging Face weights (no {TRACKER_FILENAME}); "
            "reconvert, or pass its parent after adding the tracker and a release/ directory")
