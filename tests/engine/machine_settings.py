"""How long the state machines run, per transport.

Over the wire an example costs some hundred requests, so EWS and Graph run fewer examples
than the memory transport by default. `SYNC_MACHINE_EXAMPLES` (examples per transport) and
`SYNC_MACHINE_STEPS` (steps per example) run them longer, e.g. before a release:

    SYNC_MACHINE_EXAMPLES=200 SYNC_MACHINE_STEPS=40 .venv/bin/pytest tests/engine -k sync_machine
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# (examples, steps) by default, per transport.
_DEFAULTS = {"memory": (15, 20), "ews": (4, 15), "graph": (4, 15)}


def machine_settings(transport: str) -> settings:
    examples, steps = _DEFAULTS[transport]
    return settings(
        max_examples=int(os.environ.get("SYNC_MACHINE_EXAMPLES") or examples),
        stateful_step_count=int(os.environ.get("SYNC_MACHINE_STEPS") or steps),
        deadline=None,
        # The database and the simulator are the test's, not the example's.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
