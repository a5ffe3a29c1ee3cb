"""``TransactionRequest``: an atomic batch of writes (multi)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kazoo._ops import check_bytes, check_int, check_str
from kazoo.protocol import serialization as ser

if TYPE_CHECKING:
    from types import TracebackType

    from kazoo.interfaces import IAsyncResult


class TransactionRequest:
    """Operations queued here are sent as one multi by :meth:`commit`.

    A failed transaction applies nothing and does not raise: the result list
    holds exception instances (``RolledBackError`` before the failing op, its
    own error for it, ``RuntimeInconsistency`` after it). Not thread-safe.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.operations: list[Any] = []
        self.committed = False

    def _check_open(self) -> None:
        if self.committed:
            raise ValueError("Transaction already committed")

    def create(
        self,
        path: str,
        value: bytes = b"",
        acl: Any = None,
        ephemeral: bool = False,
        sequence: bool = False,
        container: bool = False,
        ttl: int | None = None,
    ) -> None:
        """Queue a create (no ``makepath``, no ``include_data``)."""
        self._check_open()
        check_bytes(value, allow_none=False)
        op = self.client._ops.create(path, value, acl, ephemeral, sequence, False, container, ttl)
        self.operations.append(op.request)

    def delete(self, path: str, version: int = -1) -> None:
        """Queue a delete."""
        self._check_open()
        self.operations.append(self.client._ops.delete(path, version).request)

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        """Queue a set of the node's data."""
        self._check_open()
        check_bytes(value, allow_none=False)
        self.operations.append(self.client._ops.set(path, value, version).request)

    def check(self, path: str, version: int) -> None:
        """Queue a version check (-1: the node only has to exist)."""
        self._check_open()
        check_str(path, "path")
        check_int(version, "version")
        self.operations.append(ser.CheckVersion(self.client._ops.paths.server(path), version))

    def commit_async(self) -> IAsyncResult:
        """Send the operations; an ``IAsyncResult`` of the result list."""
        self._check_open()
        self.committed = True
        return self.client._submit_op(self.client._ops.transaction(self.operations))

    def commit(self) -> list[Any]:
        """Send the operations and return the result list."""
        return self.commit_async().get()  # type: ignore[no-any-return, unused-ignore]

    def __enter__(self) -> TransactionRequest:
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
