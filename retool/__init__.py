"""retool-harness: the ReTool recipe (think with code) as small, verified parts.

Modules (flat, one concept each): ``grammar`` (tool-call text contract), ``masking`` (token-level
loss masks), ``tokenizer`` and ``models`` (the embedded offline default), ``sandbox`` (kernel-
isolated code execution), ``answer`` and ``reward`` (checking and scoring), ``rollout`` and
``engines`` (multi-turn generation), ``losses``, ``data``, ``trainer``, ``checkpoint``,
``metrics`` and ``verify`` (the harness). The ``retool`` command is ``retool.cli:main``.
"""

__version__ = "0.1.0"
