"""Values several modules (and the deploy files' tests) must agree on, each written once: ports, addresses, graces.

Constants only, no imports: the load tool's process (executor/tool/) may read it.
"""

from __future__ import annotations

#: The executor's ZeroMQ ports (SALVO_COMMAND_PORT, SALVO_STATUS_PORT): the controller connects to both.
COMMAND_PORT = 50000
STATUS_PORT = 50001

#: All interfaces: in a container, peers reach a listener on the task's address (CURVE guards the links).
ANY_ADDRESS = "0.0.0.0"  # noqa: S104

#: How long a load tool asked to stop (or to quit at its gate) has before it is killed.
STOP_GRACE_SECONDS = 30.0

#: How long transient S3 failures are retried (SALVO_S3_RETRY_SECONDS, and a store made without settings).
S3_RETRY_SECONDS = 120.0

#: A clock further off the controller's is no clock to correct (ClockSet, and the GO line's clock=).
MAX_CLOCK_OFFSET_SECONDS = 86400.0
