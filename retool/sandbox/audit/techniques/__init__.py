"""The full technique table of the escape and limits battery, in the order it runs.

Contract: ``TECHNIQUES`` is the concatenation, in this order, of ``PYTHON_ESCAPES``
(``retool.sandbox.audit.techniques.python``), ``FILESYSTEM`` and ``PROC`` (``retool.sandbox.audit.techniques.host``),
``PROCESSES`` (``retool.sandbox.audit.techniques.process``), ``NETWORK`` (``retool.sandbox.audit.techniques.host``),
``LIMITS_AND_TIME`` (``retool.sandbox.audit.techniques.limits``), ``CONTAMINATION``
(``retool.sandbox.audit.techniques.contamination``) and ``CHANNELS``
(``retool.sandbox.audit.techniques.channels``) and ``RECIPE_GADGETS``
(``retool.sandbox.audit.techniques.gadgets``); every name is unique. ``EFFECTS`` and ``Technique``
are re-exported from ``retool.sandbox.audit.technique``.
"""

from __future__ import annotations

from retool.sandbox.audit.technique import EFFECTS, Technique
from retool.sandbox.audit.techniques.channels import CHANNELS
from retool.sandbox.audit.techniques.contamination import CONTAMINATION
from retool.sandbox.audit.techniques.gadgets import RECIPE_GADGETS
from retool.sandbox.audit.techniques.host import FILESYSTEM, NETWORK, PROC
from retool.sandbox.audit.techniques.limits import LIMITS_AND_TIME
from retool.sandbox.audit.techniques.process import PROCESSES
from retool.sandbox.audit.techniques.python import PYTHON_ESCAPES

__all__ = ["EFFECTS", "TECHNIQUES", "Technique"]

TECHNIQUES: tuple[Technique, ...] = (
    *PYTHON_ESCAPES, *FILESYSTEM, *PROC, *PROCESSES, *NETWORK, *LIMITS_AND_TIME, *CONTAMINATION, *CHANNELS,
    *RECIPE_GADGETS,
)
