"""The full technique table of the escape and limits battery, in the order it runs.

Contract: ``TECHNIQUES`` is the concatenation, in this order, of ``PYTHON_ESCAPES``
(``retool.audit_techniques_python``), ``FILESYSTEM`` and ``PROC`` (``retool.audit_techniques_host``),
``PROCESSES`` (``retool.audit_techniques_process``), ``NETWORK`` (``retool.audit_techniques_host``),
``LIMITS_AND_TIME`` (``retool.audit_techniques_limits``) and ``CONTAMINATION``
(``retool.audit_techniques_contamination``); every name is unique. ``EFFECTS`` and ``Technique``
are re-exported from ``retool.audit_technique``.
"""

from __future__ import annotations

from retool.audit_technique import EFFECTS, Technique
from retool.audit_techniques_contamination import CONTAMINATION
from retool.audit_techniques_host import FILESYSTEM, NETWORK, PROC
from retool.audit_techniques_limits import LIMITS_AND_TIME
from retool.audit_techniques_process import PROCESSES
from retool.audit_techniques_python import PYTHON_ESCAPES

__all__ = ["EFFECTS", "TECHNIQUES", "Technique"]

TECHNIQUES: tuple[Technique, ...] = (
    *PYTHON_ESCAPES, *FILESYSTEM, *PROC, *PROCESSES, *NETWORK, *LIMITS_AND_TIME, *CONTAMINATION,
)
