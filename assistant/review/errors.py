"""What review refuses: input it cannot record (400) and items it does not have (404)."""

from assistant.errors import InputError, NotFoundError


class ReviewInputError(InputError):
    """A verdict, correction or hand-off that cannot be recorded as given (HTTP 400)."""


class ReviewNotFoundError(NotFoundError):
    """No such logged answer or hand-off (HTTP 404)."""
