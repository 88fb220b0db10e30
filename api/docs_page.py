"""The human-readable API documentation: one self-contained HTML page rendered from the
OpenAPI document on the server (no scripts, no fonts or styles from elsewhere)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font:13px ui-monospace,monospace;background:#f4f4f4;padding:0 .2em}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ddd;padding:.2rem .5rem;
text-align:left;vertical-align:top}section{border-top:1px solid #ccc;padding:.5rem 0}
.m{display:inline-block;min-width:4rem;font-weight:bold}.get{color:#05a}.post{color:#070}
h3{margin:.5rem 0}
"""
_SCHEMAS = "#/components/schemas/"
_RESPONSES = "#/components/responses/"


def _inline(text: str) -> str:
    """Escaped text with `code` and **bold** marked up."""
    html = escape(re.sub(r"``([^`]+)``", r"`\1`", text))  # docstrings' ``code`` too
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)


def _prose(text: str) -> str:
    """Paragraphs and ``* `` bullet lists (continued on indented lines)."""
    blocks: list[str] = []
    items: list[str] = []
    lines: list[str] = []

    def flush() -> None:
        if lines:
            blocks.append(f"<p>{_inline(' '.join(lines))}</p>")
            lines.clear()
        if items:
            blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        if line.startswith("* "):
            if lines:
                flush()
            items.append(line[2:])
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
        elif not line.strip():
            flush()
        else:
            if items:
                flush()
            lines.append(line.strip())
    flush()
    return "".join(blocks)


def _type(schema: dict[str, Any]) -> str:
    """A short, linked description of a JSON schema's type."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_SCHEMAS)
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "anyOf" in schema or "oneOf" in schema:
        return " | ".join(_type(s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{escape(str(schema['const']))}</code>"
    kind = schema.get("type", "any")
    if kind == "array":
        return "array of " + _type(schema.get("items", {}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "object of " + _type(schema["additionalProperties"])
    details = [schema[k] for k in ("format", "pattern") if k in schema]
    bounds = [
        f"{k} {schema[k]}" for k in ("minimum", "maximum", "maxLength", "default") if k in schema
    ]
    extra = ", ".join(str(d) for d in details + bounds)
    return escape(f"{kind} ({extra})" if extra else str(kind))


def _parameters(parameters: list[dict[str, Any]]) -> str:
    if not parameters:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_type(p.get('schema', {}))}</td>"
        f"<td>{_inline(p.get('description', ''))}</td></tr>"
        for p in parameters
    )
    return (
        "<table><tr><th>parameter</th><th>in</th><th>required</th><th>type</th>"
        f"<th>meaning</th></tr>{rows}</table>"
    )


def _responses(responses: dict[str, Any], shared: dict[str, Any]) -> str:
    rows = []
    for status, response in responses.items():
        if "$ref" in response:
            response = shared[response["$ref"].removeprefix(_RESPONSES)]
        bodies = ", ".join(
            f"{_type(c.get('schema', {}))} <small>({escape(media)})</small>"
            for media, c in response.get("content", {}).items()
        )
        rows.append(
            f"<tr><td>{escape(status)}</td><td>{_inline(response.get('description', ''))}</td>"
            f"<td>{bodies}</td></tr>"
        )
    return "<table><tr><th>status</th><th>when</th><th>body</th></tr>" + "".join(rows) + "</table>"


def _operation(path: str, method: str, op: dict[str, Any], shared: dict[str, Any]) -> str:
    anchor = escape(op["operationId"])
    body = op.get("requestBody", {}).get("content", {})
    request = "".join(
        f"<p>Body ({escape(media)}): {_type(c['schema'])}</p>" for media, c in body.items()
    )
    auth = "no credentials" if op.get("security") == [] else "bearer token"
    return (
        f'<section id="op-{anchor}"><h3><span class="m {method}">{method.upper()}</span>'
        f"<code>{escape(path)}</code></h3><p>{_inline(op.get('summary', ''))} "
        f"<small>({auth})</small></p>{_prose(op.get('description', ''))}"
        f"{_parameters(op.get('parameters', []))}{request}"
        f"{_responses(op['responses'], shared)}</section>"
    )


def _schema(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(field)}</code></td><td>{_type(prop)}</td>"
        f"<td>{'yes' if field in required else 'no'}</td>"
        f"<td>{_inline(prop.get('description', ''))}</td></tr>"
        for field, prop in schema.get("properties", {}).items()
    )
    table = (
        "<table><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr>"
        f"{rows}</table>"
        if rows
        else f"<p>{_type(schema)}</p>"
    )
    return (
        f'<section id="schema-{escape(name)}"><h3>{escape(name)}</h3>'
        f"{_prose(schema.get('description', ''))}{table}</section>"
    )


def render(document: dict[str, Any], spec_url: str) -> str:
    """The documentation page of ``document`` (an OpenAPI 3.1 document)."""
    info = document["info"]
    shared = document["components"].get("responses", {})
    by_tag: dict[str, list[str]] = {}
    contents: dict[str, list[str]] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(path, method, op, shared))
            contents.setdefault(tag, []).append(
                f'<li><a href="#op-{escape(op["operationId"])}">{method.upper()} '
                f"{escape(path)}</a></li>"
            )
    toc = "".join(
        f"<li>{escape(tag)}<ul>{''.join(items)}</ul></li>" for tag, items in contents.items()
    )
    operations = "".join(
        f"<h2>{escape(tag)}</h2>{''.join(sections)}" for tag, sections in by_tag.items()
    )
    schemas = "".join(
        _schema(name, schema)
        for name, schema in sorted(document["components"].get("schemas", {}).items())
    )
    title = escape(f"{info['title']} {info['version']}")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{_STYLE}</style></head>'
        f"<body><h1>{title}</h1>{_prose(info.get('description', ''))}"
        f'<p>The machine-readable document: <a href="{escape(spec_url)}">'
        f"{escape(spec_url)}</a> (OpenAPI {escape(document['openapi'])}).</p>"
        f"<ul>{toc}</ul>{operations}<h2>Schemas</h2>{schemas}</body></html>"
    )
