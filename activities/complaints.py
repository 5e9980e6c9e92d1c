"""Activities of the complaint closed loop: the rating links a case offers the person
served (003 §9.1.3) and the complaint projection (stage, counters, 台账 lines)."""

from __future__ import annotations
