"""Entry points for the RL frameworks: thin adapters from their objects to our components.

- :mod:`~retool.integrations.slime`: miles / slime. ``--custom-generate-function-path
  retool.integrations.slime.generate`` (also reachable as ``retool.rollout.generate``) and
  ``--custom-rm-path retool.reward.reward_func``. The adapter reads the framework's ``args`` and
  ``Sample``, runs our rollout and writes the fields the framework reads downstream.

An adapter holds no recipe logic of its own: each is a translation of names and types.
"""

from retool import lazy_exports

_EXPORTS = dict.fromkeys(
    ("close_default_sandbox", "config_from_args", "default_sandbox", "generate", "generate_for_sample",
     "reward_func", "sampling_from_dict"),
    ".slime",
)
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
