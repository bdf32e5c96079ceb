"""Access control of the worker's web server (docs/AUTH.md).

Pure parts: `jwt` (JWS compact verification and issue, claims), `access` (roles, per-client
limits, request ids, security headers), `tls` (server context, client-certificate names).
The aiohttp glue is `middleware` (`install(app, settings.api)` from cybermesh/app.py).
"""
