"""Errors the CLI prints as one line, without a traceback."""


class UserError(Exception):
    """A problem with the user's input or request."""
