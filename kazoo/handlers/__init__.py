"""Handlers: the I/O owners and their primitives."""
