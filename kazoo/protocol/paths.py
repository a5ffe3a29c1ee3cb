"""ZooKeeper path helpers and path validation.

``normpath``, ``join``, ``isabs`` and ``basename`` are pure string helpers kept for
compatibility; the client never rewrites user paths with them. :func:`validate_path` checks a
path against the Java client's rules and runs on every request, so its common case is a
handful of substring tests and one precompiled regular expression.
"""

from __future__ import annotations

import re

__all__ = ["basename", "isabs", "join", "normpath", "unchroot", "validate_path"]

#: Code points ZooKeeper refuses in a path: C0 controls, DEL and C1 controls, surrogates and
#: the private-use area, U+FFF0-U+FFFF, and everything outside the BMP.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\uffff\U00010000-\U0010ffff]")


def normpath(path: str, trailing: bool = False) -> str:
    """Drop empty segments; keep a leading ``/`` and, with ``trailing``, a trailing one.

    :raises ValueError: a ``.`` or ``..`` segment.
    """
    parts = [part for part in path.split("/") if part]
    if "." in parts or ".." in parts:
        raise ValueError("relative paths are not allowed")
    result = "/".join(parts)
    if trailing and path.endswith("/") and result:
        result += "/"
    if path.startswith("/"):
        result = "/" + result
    return result


def join(a: str, *p: str) -> str:
    """Join path components with ``/``; an absolute component restarts the path."""
    path = a
    for part in p:
        if part.startswith("/"):
            path = part
        elif not path or path.endswith("/"):
            path += part
        else:
            path += "/" + part
    return path


def isabs(s: str) -> bool:
    """``True`` if ``s`` starts with ``/``."""
    return s.startswith("/")


def basename(p: str) -> str:
    """The text after the last ``/``."""
    return p[p.rfind("/") + 1 :]


def validate_path(path: str, sequential: bool = False) -> None:
    """Check ``path`` against ZooKeeper's path rules; return ``None`` when it is valid.

    Rules: a non-empty ``str`` starting with ``/``; ``/`` alone is valid; no trailing ``/``
    (with ``sequential`` the check is made as if a digit were appended, so ``"/queue/"`` is
    allowed); no empty segment; no ``.`` or ``..`` segment; no code point in U+0000-U+001F,
    U+007F-U+009F, U+D800-U+F8FF, U+FFF0-U+FFFF or above U+FFFF.

    :raises TypeError: ``path`` is not a ``str``.
    :raises ValueError: a rule is broken; the message names it.
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if not path.startswith("/"):
        if not path:
            raise ValueError("invalid path: must not be empty")
        raise ValueError(f"invalid path {path!r}: must start with '/'")
    if len(path) == 1:
        return
    if "//" in path:
        raise ValueError(f"invalid path {path!r}: empty segment ('//')")
    if not sequential and path.endswith("/"):
        raise ValueError(f"invalid path {path!r}: must not end with '/'")
    if "/." in path and (
        "/./" in path or "/../" in path or (not sequential and path.endswith(("/.", "/..")))
    ):
        raise ValueError(f"invalid path {path!r}: '.' and '..' segments are not allowed")
    bad = _FORBIDDEN.search(path)
    if bad is not None:
        raise ValueError(
            f"invalid path {path!r}: forbidden character U+{ord(bad.group()):04X} "
            f"at index {bad.start()}"
        )


def unchroot(chroot: str, path: str) -> str:
    """Strip ``chroot`` from a server path: the chroot itself is ``/``, a path
    outside it comes back unchanged."""
    if not chroot or not path.startswith(chroot):
        return path
    rest = path[len(chroot) :]
    if not rest:
        return "/"
    return rest if rest[0] == "/" else path
