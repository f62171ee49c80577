"""Contact sync (SPEC §4): the planner that brings Salesforce_Sync and the CRM's contacts
together through a `MailboxTransport`. `sync.ContactSync` is its entry point; it sees the
mailbox only through `transports.protocol`."""
