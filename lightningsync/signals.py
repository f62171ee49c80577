"""Domain events other layers react to (the engine listens; the domain never imports it)."""

from django.dispatch import Signal

# Sent after a sync configuration's save has committed (page, import or command);
# kwargs: configuration. SPEC §3: saving an active configuration starts sync for its users.
configuration_saved = Signal()
