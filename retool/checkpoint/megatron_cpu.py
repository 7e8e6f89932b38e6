"""megatron-core 0.16.1 on CPU-only hosts: the one place that adapts it, plus single-process setup.

Contract:
- ``ensure_cpu_compat()`` makes megatron-core's ``GPTModel`` build, run forward/backward, and
  save/load ``dist_checkpointing`` torch_dist checkpoints on a host without CUDA. It is idempotent,
  and a no-op where ``torch.cuda.is_available()`` is true (the real CUDA code paths then run
  untouched). ``restore_cuda_paths()`` undoes it (for tests).
- What it redirects, and nothing else (measured on megatron-core 0.16.1, torch 2.13 CPU build):
  1. the RNG tracker: ``model_parallel_cuda_manual_seed`` reads ``torch.cuda.get_rng_state``; on
     CPU we install megatron's own inference tracker instead (its ``fork()`` is a no-op, so
     dropout, if any, draws from the CPU generator);
  2. the rotary embedding moves ``inv_freq`` to ``torch.cuda.current_device()`` on every forward;
  3. ``GlobalMemoryBuffer.get_tensor`` (used by the local ``DotProductAttention``) allocates on
     ``torch.cuda.current_device()``;
  4. the torch_dist save path calls ``torch.cuda.synchronize()`` after preloading tensors, and
     builds its failure flag on ``torch.cuda.current_device()``.
  Items 2-4 are redirected by giving exactly those megatron modules a ``torch`` whose ``cuda``
  answers ``current_device()`` with the CPU device and makes ``synchronize()`` a no-op; every
  other attribute is the real ``torch``/``torch.cuda``. The global ``torch`` is never touched.
  Not redirected: megatron's default causal mask (``attention_mask=None``) is built on the literal
  device ``"cuda"``; callers pass an explicit mask (see ``retool.checkpoint.megatron_logits``).
- ``megatron_session()`` / ``init_single_process()`` / ``teardown_single_process()``: a
  ``torch.distributed`` group of world size 1 (gloo, or nccl where CUDA is present; in-process
  ``HashStore``: no port) and
  ``parallel_state.initialize_model_parallel(1, 1)``. Safe to call repeatedly in one process: an
  existing world-size-1 group or model-parallel state is reused, and teardown only destroys what
  this module created. A group of any other world size is an error naming it.
- ``synchronous_save_queue()`` (every host): megatron's torch_dist writer collects write results
  through a queue it creates once per process with ``multiprocessing.get_context("spawn")
  .Manager()``: a helper process that re-imports ``__main__`` (3-20 s here, and scripts need an
  ``if __name__ == "__main__":`` guard). Only asynchronous saves need a cross-process queue; for
  the duration of a synchronous save this puts an in-process ``queue.Queue`` in its place and
  then restores whatever was there.
- megatron-core needs ``psutil`` for checkpoint saves (undeclared: without it a save worker dies
  and the parent hangs forever); ``ensure_cpu_compat()`` raises if it is missing.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import threading
from collections.abc import Iterator
from typing import Any

import torch

# megatron modules whose module-level ``torch`` gets the CPU ``cuda`` stand-in, and why.
CPU_REDIRECTED_MODULES: dict[str, str] = {
    "megatron.core.models.common.embeddings.rotary_pos_embedding": "inv_freq moved to the CUDA device on forward",
    "megatron.core.utils": "GlobalMemoryBuffer allocates on the CUDA device",
    "megatron.core.dist_checkpointing.strategies.filesystem_async": "torch.cuda.synchronize after preloading",
    "megatron.core.dist_checkpointing.strategies.state_dict_saver": "failure flag tensor on the CUDA device",
}

_lock = threading.Lock()
_originals: dict[str, Any] = {}  # module name -> its original ``torch`` global
_created: dict[str, bool] = {"process_group": False, "model_parallel": False}


class _CpuCuda:
    """``torch.cuda`` as seen by a redirected module on a CPU-only host."""

    @staticmethod
    def current_device() -> torch.device:
        return torch.device("cpu")

    @staticmethod
    def synchronize(device: Any = None) -> None:  # nothing is asynchronous on the CPU
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cuda, name)


class _TorchOnCpu:
    """``torch`` with ``cuda`` replaced by :class:`_CpuCuda`; everything else is the real module."""

    cuda = _CpuCuda()

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


_TORCH_ON_CPU = _TorchOnCpu()


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


def _require_psutil() -> None:
    if importlib.util.find_spec("psutil") is None:
        raise RuntimeError(
            "megatron-core checkpoint saves need 'psutil' (not declared by megatron-core; without it "
            "the save worker dies and the parent hangs forever): pip install psutil"
        )


def ensure_cpu_compat() -> bool:
    """Apply the CPU redirects if CUDA is absent. Returns True when they are (now) in place."""
    _require_psutil()
    if cuda_available():
        return False
    with _lock:
        for name in CPU_REDIRECTED_MODULES:
            module = importlib.import_module(name)
            if name not in _originals:
                _originals[name] = module.torch
            module.torch = _TORCH_ON_CPU
        _install_cpu_rng_tracker()
    return True


def cpu_compat_active() -> bool:
    return bool(_originals)


def restore_cuda_paths() -> None:
    """Undo :func:`ensure_cpu_compat` (the RNG tracker is reset to megatron's default on next use)."""
    with _lock:
        for name, original in list(_originals.items()):
            importlib.import_module(name).torch = original
            del _originals[name]
        from megatron.core.tensor_parallel import random as mrandom

        mrandom._CUDA_RNG_STATE_TRACKER = None
        mrandom._CUDA_RNG_STATE_TRACKER_INITIALIZED = False


def _install_cpu_rng_tracker() -> None:
    from megatron.core.tensor_parallel import random as mrandom

    tracker = mrandom._CUDA_RNG_STATE_TRACKER
    if tracker is not None and type(tracker).__name__ == "InferenceCudaRNGStatesTracker":
        return
    mrandom.initialize_rng_tracker(inference_rng_tracker=True, force_reset=True)


def init_single_process(*, seed: int = 0) -> None:
    """A world-size-1 gloo group and model parallel (TP=1, PP=1); reuses what already exists."""
    import torch.distributed as dist
    from megatron.core import parallel_state

    ensure_cpu_compat()
    with _lock:
        if dist.is_initialized():
            world_size = dist.get_world_size()
            if world_size != 1:
                raise RuntimeError(f"a torch.distributed group of world size {world_size} exists; need 1")
        else:
            backend = "nccl" if cuda_available() else "gloo"
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
            _created["process_group"] = True
        if not parallel_state.model_parallel_is_initialized():
            parallel_state.initialize_model_parallel(1, 1)
            _created["model_parallel"] = True
    if cuda_available():
        from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

        model_parallel_cuda_manual_seed(seed, force_reset_rng=True)


def teardown_single_process() -> None:
    """Destroy the model-parallel state and process group, only if this module created them."""
    import torch.distributed as dist
    from megatron.core import parallel_state

    with _lock:
        if _created["model_parallel"]:
            parallel_state.destroy_model_parallel()
            _created["model_parallel"] = False
        if _created["process_group"]:
            if dist.is_initialized():
                dist.destroy_process_group()
            _created["process_group"] = False


@contextlib.contextmanager
def synchronous_save_queue() -> Iterator[None]:
    """An in-process results queue for a synchronous ``dist_checkpointing.save`` (see contract)."""
    import queue

    from megatron.core.dist_checkpointing.strategies import filesystem_async

    with _lock:
        previous = filesystem_async._results_queue
        filesystem_async._results_queue = queue.Queue()
    try:
        yield
    finally:
        with _lock:
            filesystem_async._results_queue = previous


@contextlib.contextmanager
def megatron_session(*, seed: int = 0) -> Iterator[None]:
    """``init_single_process`` for the duration of a block; tears down only what it created."""
    import torch.distributed as dist
    from megatron.core import parallel_state

    had_group = dist.is_initialized()
    had_mp = had_group and parallel_state.model_parallel_is_initialized()
    init_single_process(seed=seed)
    try:
        yield
    finally:
        if not had_group or not had_mp:
            with _lock:
                if not had_mp and _created["model_parallel"]:
                    parallel_state.destroy_model_parallel()
                    _created["model_parallel"] = False
                if not had_group and _created["process_group"]:
                    if dist.is_initialized():
                        dist.destroy_process_group()
                    _created["process_group"] = False
