"""exchangesim: a wire-level Microsoft Exchange (EWS SOAP) simulator.

Start one in-process with `SimServer(Simulator()).start()` (or the pytest fixtures in
`exchangesim.pytest_plugin`), or from a shell with `python -m exchangesim`.
"""

from .control import Simulator
from .server import SimServer

__all__ = ["SimServer", "Simulator"]
