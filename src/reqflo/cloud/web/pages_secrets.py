"""Web UI pages: Admin → Secrets (admin only, like the API's /api/v1/secrets).

Owns /admin/secrets (names per environment and `*`, current version, status, last change
and who made it; a form to add a secret) and /admin/secrets/{environment}/{name} (its
versions, its audit trail and whether the audit chain verifies; forms to rotate, disable
and destroy). Values are write-only: they arrive in a password field, go straight to the
vault (reqflo.store.secret_store) and are never rendered, redirected with or logged — a
form error re-renders the form with an empty value field. Adding is compare-and-set on
"must not exist yet" (version 0) and rotating on the version the page showed, as the
API's `expected_version` does. There is no enable: setting a new value re-enables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from reqflo.cloud.api_models import NAME_PATTERN
from reqflo.cloud.api_secrets import ENV_PATTERN, MAX_VALUE, actor
from reqflo.cloud.api_secrets import vault as api_vault
from reqflo.cloud.web.session import Admin, AdminForm, PageNotFound, Posted, done, services_of
from reqflo.cloud.web.templating import render
from reqflo.store.secret_audit import AuditFilter
from reqflo.store.secret_models import WORKSPACE, AuditEntry, SecretRecord
from reqflo.store.secret_store import SecretConflict, SecretVault

router = APIRouter(include_in_schema=False)
AUDIT_ROWS = 200


@dataclass(frozen=True)
class SecretLine:
    """A secret as the list shows it: the record and its last change (who, when)."""

    record: SecretRecord
    changed: AuditEntry | None


def vault_of(request: Request) -> SecretVault:
    return api_vault(services_of(request))


def secret_url(environment: str, name: str) -> str:
    return f"/admin/secrets/{quote(environment, safe='')}/{quote(name, safe='')}"


# ------------------------------------------------------------------ list and add


@router.get("/admin/secrets")
def secrets_page(request: Request, me: Admin, environment: str | None = None) -> Response:
    return secrets_form(request, environment=environment or None)


def secrets_form(request: Request, *, status_code: int = 200, **form: Any) -> Response:
    vault = vault_of(request)
    shown = form.pop("environment", None)
    changes = vault.last_changes(shown)
    rows = [
        SecretLine(r, changes.get((r.environment, r.name)))
        for r in vault.secrets(shown)
    ]  # fmt: skip
    environments = [WORKSPACE, *(e.name for e in services_of(request).store.environments())]
    defaults = {"error": "", "new_environment": shown or WORKSPACE, "new_name": ""}
    return render(
        request, "admin/secrets.html", status_code, section="secrets", rows=rows,
        environment=shown, environments=environments, url=secret_url, **{**defaults, **form},
    )  # fmt: skip


@router.post("/admin/secrets")
def add_secret(request: Request, posted: AdminForm) -> Response:
    environment = posted.text("environment").strip() or WORKSPACE
    name, value = posted.text("name").strip(), posted.text("value")
    again = {"new_environment": environment, "new_name": name}
    error = place_problem(environment, name) or value_problem(value)
    if error:
        return secrets_form(request, status_code=422, error=error, **again)
    try:
        vault_of(request).put(environment, name, value, actor(posted.session.token), 0)
    except SecretConflict:
        error = (
            f"Secret '{name}' already exists in '{environment}': "
            "rotate it on its page (nothing was changed)."
        )
        return secrets_form(request, status_code=409, error=error, **again)
    flash = f"Secret '{name}' created (version 1)."
    return done(secret_url(environment, name), flash, posted.session)


def place_problem(environment: str, name: str) -> str:
    if not re.fullmatch(ENV_PATTERN, environment):
        return (
            f"Environment '{environment[:100]}' is not valid: use * (every environment) or "
            "1–100 letters, digits, '_', '.' or '-'."
        )
    if not re.fullmatch(NAME_PATTERN, name):
        what = f"'{name[:100]}' is not a valid name" if name else "The secret needs a name"
        return f"{what}: 1–100 letters, digits, '_', '.' or '-'."
    return ""


def value_problem(value: str) -> str:
    if not value:
        return "Type the secret's value (it is never shown again)."
    if len(value) > MAX_VALUE:
        return f"The value is {len(value)} characters long: at most {MAX_VALUE}."
    return ""


# ------------------------------------------------------------------ one secret


@router.get("/admin/secrets/{environment}/{name}")
def secret_page(request: Request, environment: str, name: str, me: Admin) -> Response:
    return secret_form(request, environment, name)


def secret_form(
    request: Request, environment: str, name: str, *, status_code: int = 200, **form: Any
) -> Response:
    vault = vault_of(request)
    record = find_secret(vault, environment, name)
    where = AuditFilter(environment=environment, name=name, limit=AUDIT_ROWS)
    context = {"error": "", **form}
    return render(
        request, "admin/secret.html", status_code, section="secrets", secret=record,
        versions=vault.versions(environment, name) or [], audit=vault.audit(where),
        check=vault.verify_audit(), url=secret_url(environment, name), rows_max=AUDIT_ROWS,
        **context,
    )  # fmt: skip


def find_secret(vault: SecretVault, environment: str, name: str) -> SecretRecord:
    valid = re.fullmatch(ENV_PATTERN, environment) and re.fullmatch(NAME_PATTERN, name)
    found = [r for r in vault.secrets(environment) if r.name == name] if valid else []
    if not found:
        raise PageNotFound(f"secret '{name}' does not exist in environment '{environment}'")
    return found[0]


@router.post("/admin/secrets/{environment}/{name}")
def rotate_secret(request: Request, environment: str, name: str, posted: AdminForm) -> Response:
    vault = vault_of(request)
    find_secret(vault, environment, name)
    value, seen = posted.text("value"), posted.text("expected_version")
    error = value_problem(value) or ("" if seen.isdigit() else "Reload the page and try again.")
    if error:
        return secret_form(request, environment, name, status_code=422, error=error)
    try:
        record = vault.put(environment, name, value, actor(posted.session.token), int(seen))
    except SecretConflict:
        error = (
            f"Someone changed '{name}' since you opened this page (you saw version {seen}). "
            "Nothing was saved: check the versions below and set the value again."
        )
        return secret_form(request, environment, name, status_code=409, error=error)
    flash = f"Saved version {record.current_version} of '{name}': runs starting now use it."
    return done(secret_url(environment, name), flash, posted.session)


RETIRED = {
    "disable": "Disabled '{name}': runs that need it fail until a new value is set.",
    "destroy": "Destroyed every version of '{name}'. Its history stays in the audit log.",
}


@router.post("/admin/secrets/{environment}/{name}/disable")
def disable_secret(request: Request, environment: str, name: str, posted: AdminForm) -> Response:
    return retire(request, environment, name, posted, "disable")


@router.post("/admin/secrets/{environment}/{name}/destroy")
def destroy_secret(request: Request, environment: str, name: str, posted: AdminForm) -> Response:
    return retire(request, environment, name, posted, "destroy")


def retire(request: Request, environment: str, name: str, posted: Posted, how: str) -> Response:
    """Disable or destroy an existing secret, as the admin who posted."""
    vault = vault_of(request)
    find_secret(vault, environment, name)
    change = vault.disable if how == "disable" else vault.destroy
    change(environment, name, actor(posted.session.token))
    return done(secret_url(environment, name), RETIRED[how].format(name=name), posted.session)
