"""The one base class of every error that is the user's to fix.

Bad input, a bad config value, unreadable data or checkpoints, a run folder in the way, missing weights, a
device that is not there: each raises a subclass of `CondganError` whose message names the culprit and the
fix. The `condgan` command prints that message as one line and exits with code 2, without a traceback;
anything else that escapes is a bug in condgan and keeps its traceback.
"""
from __future__ import annotations


class CondganError(Exception):
    """A user error; the message names the file, key or value at fault and says how to fix it."""


class UsageError(CondganError, ValueError):
    """A bad argument to a command or function (e.g. `--classes`, a class outside the generator's range)."""
