"""The one exception type that the command line turns into a one-line message."""


class TicketClassifierError(Exception):
    """A problem the user can fix (bad input, missing file, busy port): no stack trace needed."""


class ServerUnavailableError(TicketClassifierError):
    """The server could not be reached, its model is not ready, or it did not answer in time."""
