"""One user's sync cycle, whatever it syncs (SPEC §9, §10, §12): the claim on the user, the
runner that reads Setup, opens the transport and runs the planners, Reset Sync and Retry.
The top of the engine: nothing below it imports it."""
