"""The Microsoft Graph backend (OAuth 2.0 for Exchange Online): `transport` implements
`MailboxTransport` for contacts, `client` the HTTP and `$batch` layer, `auth` the app-only
tokens, `errors` the classification, `contact_json` the JSON of a contact.

Importing the package registers the transport for the OAuth 2.0 connection method.
"""

from . import transport as transport  # registers GraphTransport
