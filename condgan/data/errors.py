"""The one exception type of `condgan.data`."""
from ..errors import CondganError


class DataError(CondganError, ValueError):
    """Bad or unreadable training data.

    A subclass of ValueError so that callers who only know "the input was bad" can catch it; the
    message always names the file, key or value at fault and says how to fix it.
    """
