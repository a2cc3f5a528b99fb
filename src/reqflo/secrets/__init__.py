"""Secret values for runs and the redaction that keeps them out of every output.

`LocalSecrets` (secrets/local.py) resolves `{{ secrets.NAME }}` for local runs from
`REQFLO_SECRET_<NAME>` and the private `.reqflo/secrets.yaml`. `Redactor`
(secrets/redact.py) masks every resolved secret and every derived value marked
secret, in raw, JSON, URL, HTML, hex and base64 (any alignment) forms, in text, JSON
values, headers and log records (`RedactingFilter`). Nothing in this package ever puts
a secret value into an exception message or a repr.
"""

from reqflo.secrets.local import ENV_PREFIX, LocalSecrets
from reqflo.secrets.redact import MASK, RedactingFilter, Redactor

__all__ = ["ENV_PREFIX", "MASK", "LocalSecrets", "RedactingFilter", "Redactor"]
