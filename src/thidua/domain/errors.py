"""Refusals of the domain: each a stable code and a sentence a civil servant understands.

Three kinds, so callers can tell them apart: the actor lacks the right (Forbidden), a
rule of the cluster-year says no (RuleViolation), or the thing is not in a state that
allows it (InvalidState). Each refusal changes nothing; the service records the attempt.
"""

from thidua.errors import ThiduaError


class DomainError(ThiduaError):
    """A refusal of the domain, with its own code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Forbidden(DomainError):
    """The actor's role or unit gives no right to do this; `role` is the role refused."""

    def __init__(self, code: str, message: str, role: str | None = None) -> None:
        super().__init__(code, message)
        self.role = role


class RuleViolation(DomainError):
    """A rule of the cluster-year forbids it."""


class InvalidState(DomainError):
    """Not possible in the current state (finalised, closed, unknown, already done)."""


class NotFound(InvalidState):
    """The thing the command is about does not exist."""


class InvalidInput(DomainError):
    """What was sent cannot be a command: a malformed code, an overlong text, a bad number.

    Refused before anything is read, so it is not recorded: it is not an attempt on
    anything, and recording garbage would let any caller grow a cluster's log."""
