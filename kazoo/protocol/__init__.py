"""The pure ZooKeeper protocol core: bytes in, events out, no I/O."""
