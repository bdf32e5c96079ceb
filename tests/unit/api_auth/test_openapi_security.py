"""The OpenAPI document declares how to authenticate and the 401/403/429 answers."""

from __future__ import annotations

from cybermesh.api.openapi import document
from cybermesh.api.routes import ROUTES


def test_security_schemes_and_answers_follow_the_route_permissions() -> None:
    doc = document()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["mtls"]["type"] == "mutualTLS"
    assert doc["security"] == [{"bearer": []}, {"mtls": []}]
    api_routes = [r for r in ROUTES if r.in_openapi]
    assert {r.permission for r in api_routes} == {"public", "read", "ops"}
    for r in api_routes:
        op = doc["paths"][r.path][r.method.lower()]
        codes = set(op["responses"])
        assert "429" in codes
        if r.permission == "public":
            assert op["security"] == [] and not codes & {"401", "403"}, r.path
        else:
            assert "security" not in op and {"401", "403"} <= codes, r.path
            assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
