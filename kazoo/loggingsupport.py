"""Logging helpers: the extra ``BLATHER`` level for wire-level detail.

Records logged at ``BLATHER`` describe traffic (opcodes, xids, lengths) and never carry
secrets.
"""

from __future__ import annotations

import logging

#: Below ``DEBUG`` (10): very chatty, wire-level detail.
BLATHER = 5

logging.addLevelName(BLATHER, "BLATHER")

__all__ = ["BLATHER"]
