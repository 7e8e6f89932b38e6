"""The escape and limits battery: techniques as data, judged by effects seen from outside.

``audit(sandbox)`` runs every technique against any object with ``async execute_code(code) ->
str`` and returns an ``AuditReport`` with one ``Finding`` per technique (blocked, escaped with the
effects and evidence, error, skipped). Nothing the sandboxed code says about itself can clear it:
the auditor plants the bait (canary files, loopback listeners, environment secrets, decoy
processes) and checks the effects itself (see :mod:`~retool.sandbox.audit.runner`).

Modules: :mod:`~retool.sandbox.audit.technique` (``EFFECTS``, ``Technique``),
:mod:`retool.sandbox.audit.techniques` (``TECHNIQUES``, one module per category),
:mod:`~retool.sandbox.audit.render` (the prelude and ``render``), :mod:`~retool.sandbox.audit.bait`
(planting and removal), :mod:`~retool.sandbox.audit.judge` (effects seen from outside),
:mod:`~retool.sandbox.audit.report` (``Finding``, ``AuditReport``, ``format_report``) and
:mod:`~retool.sandbox.audit.runner` (the engine). ``retool sandbox audit`` is
:mod:`retool.cli.sandbox_audit`.
"""

from retool import lazy_exports

# ``render`` and ``technique`` share their names with their modules: bound eagerly (both are
# light), so the function, not the module, is what ``from retool.sandbox.audit import render`` gives.
from retool.sandbox.audit.render import render
from retool.sandbox.audit.technique import technique

_EXPORTS = {
    "DEFAULT_TIMEOUT_S": ".runner", "HEALTH_CODE": ".runner", "audit": ".runner",
    "ALL_AIMS": ".technique", "EFFECTS": ".technique", "Technique": ".technique",
    "TECHNIQUES": ".techniques",
    "PRELUDE": ".render", "uses_prelude": ".render",
    "Bait": ".bait", "BaitMixin": ".bait", "JudgeMixin": ".judge",
    "AuditReport": ".report", "Finding": ".report", "format_report": ".report",
}
__all__ = sorted([*_EXPORTS, "render", "technique"])
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
