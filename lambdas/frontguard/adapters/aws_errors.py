"""Translate botocore errors into frontguard's retry-or-give-up errors, by error code."""

from __future__ import annotations

from botocore.exceptions import ClientError

from frontguard.errors import FrontguardError, NotFoundError, PermanentError, RetryableError

RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "Unavailable",
        "DependencyViolation",  # an SG still attached: the controller detaches it soon
        "IncorrectState",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "LoadBalancerNotFound",
        "InvalidGroup.NotFound",
        "ResourceNotFoundException",
        "ListenerNotFound",
        "InvalidVpcID.NotFound",
    }
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def translate(error: ClientError, action: str) -> FrontguardError:
    code = error_code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"{action}: {code}: {error.response.get('Error', {}).get('Message', '')}"
    if code in NOT_FOUND_CODES:
        return NotFoundError(message)
    if code in RETRYABLE_CODES or status >= 500:
        return RetryableError(message)
    return PermanentError(message)
