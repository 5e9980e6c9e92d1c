"""The request id that follows one API request into Temporal and the worker's logs.

The API puts it in the Temporal headers of its calls (api/temporal_interceptor.py); the
worker's interceptor (activities/log_context.py) carries it on to the activities the
workflow starts and binds it to their log lines. The API's and the worker's clients
encrypt headers with the payload codec like every other payload (a worker whose client
does not decode them sees no request id; nothing else changes).
"""

from __future__ import annotations

import re

HEADER = "vetflow-request-id"
# A caller's id is echoed into headers and logs: accept only short, plain tokens.
VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
