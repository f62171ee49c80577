"""What a connection-test probe raises, whichever the method (EWS or Microsoft Graph)."""

from __future__ import annotations

ADD_CA = ("If the server's certificate comes from your own certificate authority, paste that "
          "CA's certificate (PEM) into Trusted CA bundle in Lightning Sync Setup.")

NO_ANSWER = ("Check that the Exchange server is up and answering, and that nothing between "
             "this server and Exchange holds the connection open.")

FOLDER_FIX = ("The mailbox opened but Exchange refused this folder: check in Exchange (or "
              "Exchange Online) that the rep's default folder exists and that its permissions "
              "do not deny the account Lightning Sync uses, then test again.")


class ProbeFailed(Exception):
    """What went wrong, what to do, and which check it concerns (`where`: a step's key such as
    "auth", "mailbox", "impersonation", "scope", "tls"; "folder": the mailbox answered but
    refused a folder; "" for the probe's own)."""

    def __init__(self, message: str, suggestion: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion
        self.where = where
