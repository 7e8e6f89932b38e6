"""The ``retool`` command: one module per command, each turning flags into configs and calling components.

Contract: this is the only place where flags and files become configs. :mod:`~retool.cli.dispatch`
(``main``) dispatches ``retool COMMAND`` to the module named in ``COMMANDS``, imported only when its
command runs; each command module defines ``add_arguments(parser)`` and ``run(args) -> int`` (the
exit status). Flags that set a config field are derived from that config dataclass
(:mod:`~retool.cli.flags`): one source of defaults and help text.
"""

from retool.cli.dispatch import COMMANDS, main

__all__ = ["COMMANDS", "main"]
