"""The lab's one exception of its own: ``UsageError``, an error of the user's making (a
bad option, a busy folder, a missing optional dependency) that is not a bad value.

``lab.cli.main`` prints it, like a ValueError or an error about a path the user named,
as one line ``lab <cmd>: error: ...`` and exits 2 (see ``lab.cli``). It subclasses
ValueError so that code which already treats bad input as ValueError keeps doing so."""

from __future__ import annotations


class UsageError(ValueError):
    """The user asked for something this lab cannot do as asked; the message says how
    to ask instead."""
