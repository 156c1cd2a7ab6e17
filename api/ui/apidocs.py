"""The API's reference page, made by the node from its OpenAPI document: nothing is loaded from
another origin (FastAPI's Swagger UI comes from a CDN, which a lab's air-gapped node cannot reach
and which would run someone else's script on the node's origin)."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from winslow.api.ui.assets import HEADERS

METHODS = ("get", "put", "post", "patch", "delete", "head")


def page(document: dict[str, Any]) -> str:
    rows = []
    for path, operations in sorted(document.get("paths", {}).items()):
        for method in METHODS:
            if method in operations:
                summary = operations[method].get("summary", "")
                rows.append(
                    f"<tr><td><code>{method.upper()}</code></td><td><code>{escape(path)}</code></td>"
                    f"<td>{escape(summary)}</td></tr>"
                )
    title = escape(f"{document['info']['title']} API {document['info']['version']}")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>{title}</title><link rel="stylesheet" href="/ui/app.css"></head><body><main>'
        f"<h1>{title}</h1><p>Every route needs <code>Authorization: Bearer TOKEN</code> or the web UI's "
        "sign-in. The machine-readable description, with every body and answer: "
        '<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>'
        f"<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></main></body></html>"
    )


def install(app: FastAPI) -> None:
    @app.get("/api/v1/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page(app.openapi()), headers={**HEADERS, "Cache-Control": "no-store"})
