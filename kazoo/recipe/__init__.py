"""Coordination recipes built on the public client API."""
