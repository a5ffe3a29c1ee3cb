"""Exceptions raised by kazoo.

Server error codes map to subclasses of :class:`ZookeeperError` through
:data:`EXCEPTIONS`; a code the table does not know maps to a cached subclass of
:class:`UnknownZookeeperError` carrying that code, so one odd reply fails one
request and never the I/O loop.
"""

from __future__ import annotations

from typing import Callable, ClassVar


class KazooException(Exception):
    """Root of every exception kazoo raises on purpose."""


class ZookeeperError(KazooException):
    """An error code sent by the ZooKeeper server."""

    code: ClassVar[int] = 0


class CancelledError(KazooException):
    """A blocking recipe call was cancelled."""


class ConfigurationError(KazooException):
    """The client or a handler was configured wrongly."""


class ZookeeperStoppedError(KazooException):
    """The client was stopped while an operation needed it."""


class ConnectionDropped(KazooException):
    """The connection to the server broke (internal)."""


class ProtocolError(ConnectionDropped):
    """The server sent bytes that are not valid ZooKeeper protocol.

    Raised by the pure codec on a bad length, a truncated record, a count
    larger than the bytes left or a frame over the read cap; the client turns
    it into a dropped connection and reconnects.
    """


class LockTimeout(KazooException):
    """A lock or semaphore was not acquired within its timeout."""


class WriterNotClosedException(KazooException):
    """The I/O owner did not stop within its bound."""


class SASLException(KazooException):
    """SASL authentication could not be carried out."""


class _CodeRegistry(dict[int, type[ZookeeperError]]):
    """``code -> class``; an unknown code yields a cached generic subclass."""

    _MAX_UNKNOWN = 256  # a hostile server must not grow the cache without bound
    _unknown = 0

    def __missing__(self, code: int) -> type[ZookeeperError]:
        if not isinstance(code, int):
            raise KeyError(code)
        cls = type(
            f"UnknownZookeeperError_{code}".replace("-", "m"),
            (UnknownZookeeperError,),
            {"code": code, "__module__": __name__},
        )
        if self._unknown < self._MAX_UNKNOWN:
            self._unknown += 1
            self[code] = cls
        return cls


EXCEPTIONS: dict[int, type[ZookeeperError]] = _CodeRegistry()


def _code(code: int) -> Callable[[type[ZookeeperError]], type[ZookeeperError]]:
    def register(cls: type[ZookeeperError]) -> type[ZookeeperError]:
        cls.code = code
        EXCEPTIONS[code] = cls
        return cls

    return register


class UnknownZookeeperError(ZookeeperError):
    """An error code this version of kazoo does not know; ``code`` holds it."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or (f"unknown ZooKeeper error code {self.code}",)))


@_code(0)
class RolledBackError(ZookeeperError):
    """An operation of a failed transaction that was rolled back."""


@_code(-1)
class SystemZookeeperError(ZookeeperError):
    pass


@_code(-2)
class RuntimeInconsistency(ZookeeperError):
    pass


@_code(-3)
class DataInconsistency(ZookeeperError):
    pass


@_code(-4)
class ConnectionLoss(ZookeeperError):
    """The connection dropped with the request in flight; it may or may not have been applied."""


@_code(-5)
class MarshallingError(ZookeeperError):
    pass


@_code(-6)
class UnimplementedError(ZookeeperError):
    pass


@_code(-7)
class OperationTimeoutError(ZookeeperError):
    pass


@_code(-8)
class BadArgumentsError(ZookeeperError):
    pass


@_code(-12)
class UnknownSessionError(ZookeeperError):
    pass


@_code(-13)
class NewConfigNoQuorumError(ZookeeperError):
    pass


@_code(-14)
class ReconfigInProcessError(ZookeeperError):
    pass


@_code(-100)
class APIError(ZookeeperError):
    pass


@_code(-101)
class NoNodeError(ZookeeperError):
    pass


@_code(-102)
class NoAuthError(ZookeeperError):
    pass


@_code(-103)
class BadVersionError(ZookeeperError):
    pass


@_code(-108)
class NoChildrenForEphemeralsError(ZookeeperError):
    pass


@_code(-110)
class NodeExistsError(ZookeeperError):
    pass


@_code(-111)
class NotEmptyError(ZookeeperError):
    pass


@_code(-112)
class SessionExpiredError(ZookeeperError):
    pass


@_code(-113)
class InvalidCallbackError(ZookeeperError):
    pass


@_code(-114)
class InvalidACLError(ZookeeperError):
    pass


@_code(-115)
class AuthFailedError(ZookeeperError):
    pass


@_code(-118)
class SessionMovedError(ZookeeperError):
    pass


@_code(-119)
class NotReadOnlyCallError(ZookeeperError):
    """A write was sent to a read-only server."""


@_code(-120)
class EphemeralOnLocalSessionError(ZookeeperError):
    pass


@_code(-121)
class NoWatcherError(ZookeeperError):
    pass


@_code(-122)
class RequestTimeoutError(ZookeeperError):
    pass


@_code(-123)
class ReconfigDisabledError(ZookeeperError):
    pass


@_code(-124)
class SessionClosedRequireSaslError(ZookeeperError):
    pass


@_code(-125)
class QuotaExceededError(ZookeeperError):
    pass


@_code(-127)
class ThrottledOpError(ZookeeperError):
    pass


class ConnectionClosedError(SessionExpiredError):
    """The client is stopped or was never started."""


# Java-style aliases: the same class objects under their Java names.
ConnectionLossException = ConnectionLoss
MarshallingErrorException = MarshallingError
SystemErrorException = SystemZookeeperError
RuntimeInconsistencyException = RuntimeInconsistency
DataInconsistencyException = DataInconsistency
UnimplementedException = UnimplementedError
OperationTimeoutException = OperationTimeoutError
BadArgumentsException = BadArgumentsError
ApiErrorException = APIError
NoNodeException = NoNodeError
NoAuthException = NoAuthError
BadVersionException = BadVersionError
NoChildrenForEphemeralsException = NoChildrenForEphemeralsError
NodeExistsException = NodeExistsError
InvalidACLException = InvalidACLError
AuthFailedException = AuthFailedError
NotEmptyException = NotEmptyError
SessionExpiredException = SessionExpiredError
InvalidCallbackException = InvalidCallbackError
