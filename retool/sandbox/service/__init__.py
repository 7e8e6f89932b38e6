"""The sandbox as a service: SandboxFusion's HTTP API served by ``PythonSandbox``, and its client.

Modules: :mod:`~retool.sandbox.service.protocol` (the ``/run_code`` request and response, the
status mapping, the stdin/files prologue), :mod:`~retool.sandbox.service.http` (a small HTTP/1.1
reader), :mod:`~retool.sandbox.service.server` (``SandboxService``, ``ServiceConfig``),
:mod:`~retool.sandbox.service.metrics` (``ServiceMetrics``) and
:mod:`~retool.sandbox.service.remote` (``RemoteSandbox``, the Sandbox protocol over HTTP).
``retool sandbox serve`` is :mod:`retool.cli.sandbox_serve`; the threat model of the service is
in the README ("The sandbox as a service").
"""

from retool import lazy_exports

_EXPORTS = {
    "SandboxService": ".server", "ServiceConfig": ".config", "is_loopback": ".config",
    "RemoteSandbox": ".remote",
    "ServiceLimits": ".protocol", "parse_run_request": ".protocol", "build_code": ".protocol",
    "ServiceMetrics": ".metrics",
    "PRESETS": ".presets", "preset_config": ".presets",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
