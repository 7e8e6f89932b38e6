"""Alias kept for the documented spec ``retool.naive_sandbox:NaiveSandbox``; the module is :mod:`retool.sandbox.naive`."""

from retool.sandbox.naive import NaiveSandbox as NaiveSandbox  # noqa: F401
