"""Errors meant for people: one type per kind of user mistake.

The base class lives in the lowest layer so every layer can raise a subclass and the command line can
catch them all in one place (DESIGN §8: imports point down, never up).
"""


class InnopointsError(Exception):
    """A mistake in the user's input (data, formula, config): printed in one line, no traceback."""


class IndicatorError(InnopointsError):
    """An indicator declaration or an indicator computation request is invalid."""
