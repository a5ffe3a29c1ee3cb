"""kazoo: a ZooKeeper client for Python."""

from kazoo.version import __version__

__all__ = ["__version__"]
