"""The access-control part of the OpenAPI document (docs/AUTH.md), added to the API's document.

Rules:
1. Two security schemes: `bearer` (HTTP bearer, JWT) and `mtls` (mutualTLS); an operation is
   satisfied by either (which one a validator accepts is its `api.auth` setting).
2. Operations whose `x-permission` is `public` carry `security: []` and no 401/403.
3. Every other operation documents 401 (no or bad credential) and 403 (role lacks the
   permission); every operation documents 429 (rate limit or concurrency cap), with the
   API's Error schema.
"""

from __future__ import annotations

from typing import Any, Final

_ANSWERS: Final = {
    "401": "no credential, or a token that fails verification",
    "403": "the client's role lacks this operation's permission",
    "429": "rate limit or concurrency cap; see Retry-After",
}


def secure(doc: dict[str, Any], error_ref: str = "#/components/schemas/Error") -> dict[str, Any]:
    """`doc` with rules 1-3 applied (modified in place and returned)."""
    components = doc.setdefault("components", {})
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "mtls": {"type": "mutualTLS", "description": "client certificate from api.client_ca"},
    }
    doc["security"] = [{"bearer": []}, {"mtls": []}]
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            public = operation.get("x-permission") == "public"
            if public:
                operation["security"] = []
            responses = operation.setdefault("responses", {})
            for code, text in _ANSWERS.items():
                if public and code != "429":
                    continue
                responses.setdefault(
                    code,
                    {"description": text, "content": {"application/json": {"schema": {"$ref": error_ref}}}},
                )
    return doc
