"""Typed errors a backend raises; the core decides per type what happens to the order or user."""

from __future__ import annotations


class BackendError(Exception):
    """The backend refused or failed an operation; its text is shown to the Waldur user."""


class DuplicateResourceError(BackendError):
    """A resource with the requested backend id already exists."""


class BackendNotReadyError(BackendError):
    """Transient: try again on a later cycle, leave Waldur's state untouched."""


class ConfigurationError(BackendError):
    """The backend's settings cannot work; the offering cannot run until they are fixed."""


class InvalidNameError(BackendError):
    """A name that would reach a command line contains characters the backend does not allow."""


class CommandError(BackendError):
    """An external command exited non-zero."""

    def __init__(self, argv: list[str], returncode: int, stderr: str, stdout: str = "") -> None:
        self.argv, self.returncode, self.stderr, self.stdout = argv, returncode, stderr, stdout
        detail = (stderr or stdout).strip() or "no output"
        super().__init__(f"{argv[0]} exited with {returncode}: {detail}")


class CommandTimeout(BackendError):
    """An external command ran past its time limit; its whole process group was killed."""

    def __init__(self, argv: list[str], timeout: float) -> None:
        self.argv, self.timeout = argv, timeout
        super().__init__(f"{argv[0]} did not finish within {timeout:g} s and was killed")


class CommandNotFound(BackendError):
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        super().__init__(f"command not found: {argv[0]}")


class OfferingUserAccountLinkingRequiredError(BackendError):
    def __init__(self, message: str, comment_url: str | None = None) -> None:
        super().__init__(message)
        self.comment_url = comment_url


class OfferingUserAdditionalValidationRequiredError(BackendError):
    def __init__(self, message: str, comment_url: str | None = None) -> None:
        super().__init__(message)
        self.comment_url = comment_url
