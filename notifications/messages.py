"""Swedish messages rendered from Jinja2 templates, one template per kind of message.

`templates/<kind>.txt` defines two blocks, `subject` and `body` (plain text). The HTML
part comes from `templates/<kind>.html` when there is one, otherwise from
`_default.html`, which sets the plain text as paragraphs and makes its links clickable.
That default HTML follows from the subject and the text alone, so it is made when the
message is sent (`default_html`), not stored with it.
Rendering fails on a missing variable (StrictUndefined): a message never goes out with
a blank where a name or a date should be.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup, escape

from casework.calendar import STOCKHOLM, long_date


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    # The HTML of the kind's own template; "" for a kind without one (see `html`).
    own_html: str = ""

    @property
    def html(self) -> str:
        """The HTML part: the kind's own, else the default made from subject and text."""
        return html_part(self.subject, self.text, self.own_html)


class UnknownMessageKind(LookupError):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"no message template for kind {kind!r} (notifications/templates)")


def swedish_date(value: Any) -> str:
    """2026-06-26 → "fredag 26 juni 2026"; a datetime is shown in Stockholm time with HH:MM."""
    import datetime as dt

    if isinstance(value, dt.datetime):
        local = value.astimezone(STOCKHOLM) if value.utcoffset() is not None else value
        return f"{swedish_date(local.date())} kl. {local:%H:%M}"
    if isinstance(value, dt.date):
        return long_date(value)
    return str(value)


_LINK = re.compile(r"https?://[^\s<>\"]+")


def _linked(text: str) -> str:
    """`text` escaped, with its web addresses as links (an address never spans a line)."""
    if "http" not in text:
        return str(escape(text))
    parts, last = [], 0
    for match in _LINK.finditer(text):
        url = escape(match.group())
        parts += [str(escape(text[last : match.start()])), f'<a href="{url}">{url}</a>']
        last = match.end()
    parts.append(str(escape(text[last:])))
    return "".join(parts)


def paragraphs(text: str) -> Markup:
    """Plain text as HTML paragraphs, escaped, with its web addresses as links; the lines
    of a paragraph are kept apart by <br>."""
    blocks = [block for block in text.strip().split("\n\n") if block.strip()]
    # Lines joined by "\n" alone (splitlines knows other line ends too), escaped and
    # linked as one string: escaping adds no "\n", so each one is still a line's end.
    return Markup(
        "\n".join(
            "<p>" + _linked("\n".join(block.splitlines())).replace("\n", "<br>\n") + "</p>"
            for block in blocks
        )
    )


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("notifications", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates ship with the package: no need to look at the files on each render.
        auto_reload=False,
    )
    env.filters["datum"] = swedish_date
    env.filters["paragraphs"] = paragraphs
    return env


def _block(template: jinja2.Template, name: str, context: Mapping[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(dict(context))))


@lru_cache(maxsize=256)
def _templates(kind: str) -> tuple[jinja2.Template, jinja2.Template | None]:
    """The plain-text template of `kind` and its own HTML template, if it has one.

    Cached: asking the loader for a template that does not exist looks at the files
    every time.
    """
    env = environment()
    try:
        text_template = env.get_template(f"{kind}.txt")
    except jinja2.TemplateNotFound:
        raise UnknownMessageKind(kind) from None
    try:
        html_template: jinja2.Template | None = env.get_template(f"{kind}.html")
    except jinja2.TemplateNotFound:
        html_template = None
    return text_template, html_template


@lru_cache(maxsize=1)
def _default_template() -> jinja2.Template:
    return environment().get_template("_default.html")


def default_html(subject: str, text: str) -> str:
    """The HTML part of a message whose kind has no HTML template: `_default.html`."""
    return _default_template().render(subject=subject, text=text)


def html_part(subject: str, text: str, own_html: str) -> str:
    """A message's HTML part: `own_html` (its kind's template's), else `default_html`."""
    return own_html or default_html(subject, text)


def render(kind: str, context: Mapping[str, Any]) -> Message:
    """The message of `kind` for `context`: subject, plain text, and the HTML of the
    kind's own template if it has one (`Message.html` gives the HTML part either way)."""
    text_template, html_template = _templates(kind)
    subject = " ".join(_block(text_template, "subject", context).split())
    text = _block(text_template, "body", context).strip() + "\n"
    own_html = "" if html_template is None else html_template.render(**context, subject=subject)
    return Message(subject=subject, text=text, own_html=own_html)
