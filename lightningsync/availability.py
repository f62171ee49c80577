"""What this version of Lightning Sync does not do, said once.

The pages, the commands and the rules that refuse use these words, so an admin reads the same
plain statement wherever the missing feature shows (and removing one is one search away).
"""

EVENTS_SYNC_SCOPE = (
    "Events sync one way, from each rep's default Exchange calendar to the CRM. With "
    "“Sync only events reps select”, a rep selects an event by giving it the selection "
    "category named in Lightning Sync Setup, in any Outlook, web or mobile client. Recurring "
    "events and invitees are not synced, and nothing is ever changed in the rep's calendar "
    "besides the org's stamp."
)
