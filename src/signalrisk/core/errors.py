"""The one error hierarchy of signalrisk.

Every failure that a caller may see is a :class:`SignalRiskError` with a stable ``code``::

    SignalRiskError                    code               meaning
    ├── InvalidParameter               invalid_parameter  a field is outside its allowed range
    ├── LimitExceeded                  limit_exceeded     a configured guard (r, d x r x signals)
    ├── UnknownTicker                  unknown_ticker     no prices for the ticker
    ├── NotWarm                        not_warm           no ready scale to run on
    ├── Busy                           busy               the scale's state forbids the call
    ├── NoAnalysis                     no_analysis        no analysis to report on
    ├── Unauthorized                   unauthorized       missing or wrong bearer token
    ├── Forbidden                      forbidden          the token's role may not do this
    ├── NotFound                       not_found          no such route or object
    └── InternalError                  internal           a failure that is not the client's
        ├── ComputeError               compute_error      a worker or function failed
        │   └── FunctionError          compute_error      the handler itself raised
        └── StorageError               storage_error      the audit or chart store failed
            └── AlreadyExists          storage_error      a conditional create found the key taken

``compute_error`` and ``storage_error`` say which outside system failed (a worker or the
function, persistently throttled included; the audit or chart store), so that a client can tell
a failure worth retrying later from a bug (``internal``); every one of them is logged.

HTTP statuses are chosen in ``signalrisk.api.errors`` only; this module knows nothing of HTTP.
Providers translate SDK errors once, at their boundary, with ``raise X(...) from exc``.
"""

from __future__ import annotations


class SignalRiskError(Exception):
    """Base of every error signalrisk reports; ``field`` names the input at fault, if any."""

    code = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidParameter(SignalRiskError):
    code = "invalid_parameter"


class LimitExceeded(SignalRiskError):
    code = "limit_exceeded"


class UnknownTicker(SignalRiskError):
    code = "unknown_ticker"


class NotWarm(SignalRiskError):
    code = "not_warm"


class Busy(SignalRiskError):
    code = "busy"


class NoAnalysis(SignalRiskError):
    code = "no_analysis"


class Unauthorized(SignalRiskError):
    code = "unauthorized"


class Forbidden(SignalRiskError):
    code = "forbidden"


class NotFound(SignalRiskError):
    code = "not_found"


class InternalError(SignalRiskError):
    code = "internal"


class ComputeError(InternalError):
    """A compute resource (worker process, Lambda function, instance) failed to answer."""

    code = "compute_error"


class FunctionError(ComputeError):
    """The compute handler raised (AWS Lambda's ``FunctionError``); the message is the handler's."""


class StorageError(InternalError):
    """The audit or chart store failed (refused, unreachable, or answered nonsense)."""

    code = "storage_error"


class AlreadyExists(StorageError):
    """A create-only write found its key already present; nothing was overwritten."""
