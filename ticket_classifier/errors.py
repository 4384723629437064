"""The one exception type that the command line turns into a one-line message."""


class TicketClassifierError(Exception):
    """A problem the user can fix (bad input, missing file, busy port): no stack trace needed."""
