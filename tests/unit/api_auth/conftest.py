"""Fixtures of the access-control tests."""

from tests.unit.api_auth.kit import serve

__all__ = ["serve"]
