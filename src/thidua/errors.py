"""The base of every refusal the product gives: a stable code and a message people read."""


class ThiduaError(Exception):
    """A refusal with a stable, machine-readable code and a Vietnamese message."""

    code: str = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"
