"""Tiered supervision: random-inspection plans (双随机、一公开) whose sampling rate follows the risk class.

:mod:`.policy` holds the catalogue's ``supervision/*.yaml`` (loaded with the catalogue, so it imports no database
code); :mod:`.inspectors` reads an authority's list of inspectors; :mod:`.plan` draws a plan, reproducibly from
a seed; :mod:`.store` keeps plans (docs/supervision.md).
"""

from .policy import SupervisionPolicy

__all__ = ["SupervisionPolicy"]
