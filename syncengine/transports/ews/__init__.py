"""The EWS transport (Exchange Server on premises, through exchangelib): `transport` is the
`MailboxTransport`, `client` the connection, `services` the EWS operations it sends and
`results` what each write answers per item, `contacts` and `contact_xml` the contact
fields, `stamps` our extended properties and `errors` the classification of every failure."""
