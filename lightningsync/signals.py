"""Domain events other layers react to (the engine listens; the domain never imports it)."""

from django.dispatch import Signal

# Sent after a sync configuration's save has committed (page, import or command);
# kwargs: configuration. SPEC §3: saving an active configuration starts sync for its users.
configuration_saved = Signal()

# Sent after Setup's connection method changed (page, command, import, "Verify and enable");
# kwargs: old, new. Items are named differently by each method (EWS ids, Graph ids): what
# was synced must be matched again, as a Reset Sync does (SPEC §10).
connection_method_changed = Signal()
