"""The review page's HTML, written with html.escape: server-rendered, no template engine, no build step."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from .core import STATUS_ORDER, Document, ReviewJob, fields_of

__all__ = ["document", "listing"]

_HOOK = {"ok": "ok", "warnings": "warning", "failed": "failed"}  # a document's status as the data-status hook


def _head(title: str) -> str:
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><link rel=stylesheet href='/static/review.css'>"
            "<script src='/static/review.js' defer></script></head><body>")


def _value(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def listing(review: ReviewJob, docs: list[Document], sort: str) -> str:
    if sort == "status":
        docs = sorted(docs, key=lambda d: (STATUS_ORDER.get(d.status, 0), d.index))
    elif sort == "name":
        docs = sorted(docs, key=lambda d: (d.name.lower(), d.index))
    counts = {s: sum(d.status == s for d in docs) for s in ("ok", "warnings", "failed")}
    job = review.job
    rows = []
    for d in docs:
        n_fields = len(fields_of(d.data, d.warnings, {}))
        checked = len(d.review.checked) if d.review else 0
        corrected = len(d.review.corrected) if d.review else 0
        rows.append(
            f"<tr data-doc='{d.index}' data-status='{_HOOK.get(d.status, 'failed')}'>"
            f"<td>{d.index}</td><td><a href='/doc/{d.index}'>{escape(d.name)}</a></td>"
            f"<td class='st {escape(d.status)}'>{escape(d.status)}</td><td>{len(d.warnings)}</td>"
            f"<td>{n_fields}</td><td>{checked}</td><td>{corrected}</td>"
            f"<td>{'approved' if d.approved else ''}</td></tr>")
    return (_head(f"oculo review: job {job.id}") + "<main class=list>"
            f"<h1>Job {job.id}: {len(docs)} document(s)</h1>"
            f"<p class=sub>{escape(job.model or '-')} · schema {escape(review.schema)} · "
            f"{counts['ok']} ok, {counts['warnings']} with warnings, {counts['failed']} failed</p>"
            "<table><thead><tr><th>#</th><th><a href='/?sort=name'>document</a></th>"
            "<th><a href='/?sort=status' data-sort=status>status</a></th><th>warnings</th><th>fields</th>"
            "<th>checked</th><th>corrected</th><th>approved</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>"
            "<p class=keys>Keys: n / p next and previous document, j / k next and previous flagged field.</p>"
            "</main></body></html>")


def _place(found: list[dict[str, Any]]) -> str:
    if not found:
        return "<span class=place>place unknown</span>"
    pages = sorted({int(f.get("page", 0)) for f in found})
    where = ", ".join(f"page {p}" for p in pages)
    if not any("box" in f for f in found):
        return f"<span class=place>{where}, place unknown</span>"
    return f"<span class=place>{where}</span>"


def _field(doc: Document, f: Any) -> str:
    fid = "f-" + quote(f.path, safe="")
    warnings = "".join(f"<li class=warn data-code='{escape(w.get('code', ''))}'>{escape(w.get('message', ''))}"
                       f"</li>" for w in f.warnings)
    label = escape(f.path) if f.path else "(whole document)"
    tags = ("<span class=tag>corrected</span>" if f.corrected else "") + (
        "<span class='tag ok'>checked</span>" if f.checked else "")
    editable = isinstance(doc.data, dict) and bool(f.path)
    form = ""
    if editable:
        form = (f"<form method=post action='/doc/{doc.index}/correct' class=correct>"
                f"<input type=hidden name=field value='{escape(f.path)}'>"
                f"<input name=value value='{escape(_value(f.value))}' aria-label='value of {label}'>"
                "<button type=submit data-action=correct>save</button></form>"
                f"<form method=post action='/doc/{doc.index}/check' class=check>"
                f"<input type=hidden name=field value='{escape(f.path)}'>"
                f"<input type=hidden name=checked value='{'0' if f.checked else '1'}'>"
                f"<button type=submit data-action=check>{'uncheck' if f.checked else 'mark checked'}</button>"
                "</form>")
    else:
        form = f"<span class=value>{escape(_value(f.value))}</span>"
    return (f"<li id='{escape(fid)}' class=field tabindex=-1 data-field='{escape(f.path)}' "
            f"data-status='{f.status}'><div class=name>{label} {tags} {_place(f.found)}</div>{form}"
            + (f"<ul class=warnings>{warnings}</ul>" if warnings else "") + "</li>")


def _boxes(review: ReviewJob, doc: Document, fields: list[Any], page: int) -> str:
    size = review.source(doc).size.get(page)
    if not size:
        return ""
    w, h = size
    out = []
    for f in fields:
        for occ in f.found:
            box = occ.get("box")
            if occ.get("page") != page or not box:
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            style = (f"left:{100 * x0 / w:.2f}%;top:{100 * y0 / h:.2f}%;"
                     f"width:{100 * (x1 - x0) / w:.2f}%;height:{100 * (y1 - y0) / h:.2f}%")
            out.append(f"<div class='box {f.status}' data-box-for='{escape(f.path)}' style='{style}' "
                       f"title='{escape(f.path)}'></div>")
    return "".join(out)


def document(review: ReviewJob, doc: Document, total: int) -> str:
    found = review.found(doc)
    fields = fields_of(doc.data, doc.warnings, found)
    corrected = set(doc.review.corrected) if doc.review else set()
    checked = set(doc.review.checked) if doc.review else set()
    for f in fields:
        f.corrected, f.checked = f.path in corrected, f.path in checked
    images = "".join(
        f"<figure class=page data-page='{p}'><div class=sheet><img src='/doc/{doc.index}/page/{p}.png' "
        f"alt='page {p} of {escape(doc.name)}'>{_boxes(review, doc, fields, p)}</div>"
        f"<figcaption>page {p}</figcaption></figure>"
        for p in doc.pages)
    prev_link = f"<a rel=prev href='/doc/{doc.index - 1}'>← previous</a>" if doc.index > 1 else ""
    next_link = f"<a rel=next href='/doc/{doc.index + 1}'>next →</a>" if doc.index < total else ""
    error = doc.output.get("error") or doc.item.error
    status_note = ""
    if doc.review and doc.review.data is not None:
        status_note = f" (model: {escape(doc.model_status)}, re-verified after correction)"
    approve = ("<span class='tag ok' data-approved>approved</span>" if doc.approved else "")
    return (_head(f"{doc.name}: oculo review") + "<header>"
            f"<a href='/'>all documents</a> {prev_link} {next_link}"
            f"<h1>{escape(doc.name)} <span class='st {escape(doc.status)}' "
            f"data-doc-status='{_HOOK.get(doc.status, 'failed')}'>"
            f"{escape(doc.status)}</span>{status_note}</h1>"
            f"<form method=post action='/doc/{doc.index}/approve' class=approve>"
            f"<button type=submit data-action=approve>{'approve again' if doc.approved else 'approve'}</button>"
            f"{approve}</form></header>"
            + (f"<p class=error data-error>{escape(str(error))}</p>" if error else "")
            + f"<main class=doc><section class=pages>{images}</section>"
            f"<section class=fields><ol>{''.join(_field(doc, f) for f in fields)}</ol></section></main>"
            "</body></html>")
