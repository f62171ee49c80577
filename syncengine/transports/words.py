"""What every backend says about a refusal whose fix is the same whatever the protocol."""

MAILBOX_FULL = (
    "The mailbox is full, so Exchange refused the contact: the user needs to free space, "
    "for example by emptying Deleted Items"
)
