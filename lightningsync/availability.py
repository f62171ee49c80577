"""What this version of Lightning Sync cannot do yet, said once.

The pages, the commands and the rules that refuse use these words, so an admin reads the same
plain statement wherever the missing feature shows (and removing one is one search away).
"""

EVENTS_NOT_SYNCED = (
    "Events are not synced yet: this version of Lightning Sync syncs contacts only. "
    "A configuration's event settings are saved, but nothing uses them for now."
)
