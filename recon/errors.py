"""Which errors are the user's to fix: one line and exit status 2 in the ``recon`` command (:mod:`recon.cli`)."""

from __future__ import annotations

import errno

__all__ = ["USER_ERRNOS", "USER_ERRORS", "UsageError", "is_user_error"]


class UsageError(Exception):
    """An error caused by the user's input; reported in one line, exit status 2."""


#: Exception types a user fixes (bad input, missing or existing files).
USER_ERRORS = (UsageError, ValueError, TypeError, FileNotFoundError, FileExistsError,
               PermissionError, IsADirectoryError, NotADirectoryError)
#: ``OSError`` numbers a user fixes: a read-only file system, a full disk or quota, no permission.
USER_ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM)


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` is one the user can fix, reported without a traceback (exit status 2).

    These are :class:`UsageError`, ``ValueError`` (recon's checkpoint and
    data errors included), ``TypeError``, the missing, existing, forbidden or
    wrong-kind file errors of ``OSError`` and an ``OSError`` whose errno says
    the output cannot be written (read-only file system, no space, no
    permission).
    """
    return isinstance(error, USER_ERRORS) or (isinstance(error, OSError) and error.errno in USER_ERRNOS)
