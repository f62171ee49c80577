"""A throwaway certificate authority and a server certificate for 127.0.0.1 and localhost.

msal accepts only an https authority, so serving Graph and the token endpoint needs TLS;
clients trust the CA file (and only it: see ARCHITECTURE.md, "TLS and tokens").
"""

from __future__ import annotations

from pathlib import Path


def make_tls(directory: Path, ca_out: Path | None = None) -> tuple[str, str, str]:
    """Write (CA PEM, certificate chain PEM, key PEM) and return their paths."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - a dev dependency, present wherever tests run
        raise SystemExit("--tls needs the trustme package (pip install trustme)") from None
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_pem = ca_out or directory / "exchangesim-ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    cert_pem, key_pem = directory / "exchangesim-cert.pem", directory / "exchangesim-key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_pem))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_pem), append=True)
    cert.private_key_pem.write_to_path(str(key_pem))
    return str(ca_pem), str(cert_pem), str(key_pem)
