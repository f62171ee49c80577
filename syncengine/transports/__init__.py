"""Mailbox transports (ARCHITECTURE.md, "syncengine/ as it grows").

`protocol` is what the planners see; `connect` picks a backend for a connection method and
hands it plain `ConnectionSettings`; `contract` is the suite every backend passes. Nothing
here imports a planner, the cycle or a model: the cycle reads Setup and the user.
"""
