"""Errors a user can cause: each carries one line that names what, where, and the fix."""

from __future__ import annotations


class PortraitError(ValueError):
    """A user-facing error: its message is one line naming the file/field/value and what to do."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class InputError(PortraitError):
    """A file, sheet, column or value that cannot be imported as given."""

    code = "bad_input"


class WorkspaceError(PortraitError):
    """A workspace that does not exist, is damaged, or is in use."""

    code = "workspace"


class ConfigError(PortraitError):
    """A configuration, mapping or rule file that does not validate."""

    code = "config"


class PermissionDenied(PortraitError):
    """The caller's role does not allow what was asked."""

    code = "permission"


class NotFound(PortraitError):
    """A customer, merge or other record that does not exist."""

    code = "not_found"
