"""Rendering the texts of spans and turns (inputs, outputs, attribute values) as safe HTML for the dashboard.

A text is shown as what it is:

* JSON (an object or array, as OpenInference ``input.value`` / ``output.value`` with ``application/json`` and tool
  arguments are) is pretty-printed in a collapsible ``<details>`` (open when short);
* a list of chat messages (``[{"role": ..., "content": ...}]``, as ``gen_ai.input.messages`` of the OpenTelemetry
  GenAI semantic conventions and most SDKs send) is shown message by message, each content rendered again;
* anything else is Markdown (CommonMark with tables and strikethrough, via markdown-it-py), fenced code blocks
  included.

Safety: user content never becomes markup. Raw HTML in Markdown is disabled (``<script>`` shows as text), link
targets are checked by markdown-it (no ``javascript:``/``vbscript:``/``file:``/``data:``), images are not rendered
(a remote image would be fetched by the viewer's browser: the dashboard loads nothing from elsewhere), and every
JSON text is escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeGuard

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

# Texts longer than this many characters are cut before rendering (the export has them whole).
DEFAULT_LIMIT = 20_000
# Rendered Markdown kept in memory: at most this many texts of at most this many characters (a few MB at most).
CACHED_TEXTS = 1024
CACHED_TEXT_CHARS = 4096
# A JSON block with at most this many lines starts open; longer ones start collapsed.
JSON_OPEN_LINES = 24
_ROLE_KEYS = ("role",)
_CONTENT_KEYS = ("content", "parts", "text")


def _link_open(renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
               env: EnvType) -> str:
    # Links in model output point anywhere: never pass the referrer or the window to them.
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return renderer.renderToken(tokens, idx, options, env)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False, "breaks": True})
    md.disable("image")
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _markdown()


# Anything that could be Markdown syntax, an entity, or whitespace other than spaces and newlines (which markdown-it
# treats specially). A text without any is plain paragraphs, rendered by :func:`_plain` exactly as markdown-it would
# (a randomised test checks it) and several times faster: most user messages take this path.
_SYNTAX = re.compile(r"[\\`*_\[\]<>#|~&\0]|[^\S \n]|^[ ]{0,3}(?:[-+=>]|\d{1,9}[.)])|^ {4}", re.MULTILINE)


def _plain(text: str) -> str:
    """Paragraphs (split at blank lines) of lines (spaces around them dropped) as markdown-it renders them
    with ``breaks``: ``<p>line<br>\nline</p>\n``."""
    paragraphs: list[list[str]] = [[]]
    for line in text.split("\n"):
        stripped = line.strip(" ")
        if stripped:
            paragraphs[-1].append(escapeHtml(stripped))
        elif paragraphs[-1]:
            paragraphs.append([])
    return "".join("<p>" + "<br>\n".join(lines) + "</p>\n" for lines in paragraphs if lines)


@lru_cache(maxsize=CACHED_TEXTS)
def _rendered(text: str) -> str:
    html: str = _MD.render(text)
    return html


def markdown(text: str) -> Markup:
    """``text`` (Markdown) as HTML with raw HTML escaped, fenced code as ``<pre><code class="language-X">``.
    The HTML of the last :data:`CACHED_TEXTS` Markdown texts up to :data:`CACHED_TEXT_CHARS` characters is kept
    (a page shown again, e.g. after an edit, renders its turns once)."""
    if not _SYNTAX.search(text):
        return Markup(_plain(text))
    html = _rendered(text) if len(text) <= CACHED_TEXT_CHARS else _MD.render(text)
    return Markup(html)  # markdown-it escapes every text and attribute; html is off


def parse_json(text: str) -> Any | None:
    """The JSON object or array ``text`` holds (surrounding whitespace allowed), else None. Scalars (``"3"``,
    ``true``) are not taken as JSON: a bare number or word reads better as text."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def _summary(value: dict[str, Any] | list[Any]) -> str:
    if isinstance(value, dict):
        return f"JSON object · {len(value)} {'key' if len(value) == 1 else 'keys'}"
    return f"JSON array · {len(value)} {'item' if len(value) == 1 else 'items'}"


def json_block(value: dict[str, Any] | list[Any], *, open_lines: int = JSON_OPEN_LINES) -> Markup:
    """``value`` pretty-printed (2-space indent, non-ASCII kept) in a ``<details class="json">``, open when it
    takes at most ``open_lines`` lines."""
    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    opened = " open" if pretty.count("\n") < open_lines else ""
    return Markup('<details class="json"{}><summary>{}</summary><pre><code class="language-json">{}</code></pre>'
                  "</details>").format(Markup(opened), _summary(value), pretty)


def _is_messages(value: Any) -> TypeGuard[list[dict[str, Any]]]:
    return (isinstance(value, list) and bool(value) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and any(k in m for k in _CONTENT_KEYS)
        for m in value))


def _message_content(message: dict[str, Any]) -> Markup:
    for key in _CONTENT_KEYS:
        if key not in message:
            continue
        content = message[key]
        if isinstance(content, str):
            return render(content)
        if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text", p.get("content")), str)
                                             for p in content):  # parts: [{"type": "text", "text": "..."}]
            return Markup("").join(render(p.get("text", p.get("content"))) for p in content)
        if isinstance(content, (dict, list)):
            return json_block(content)
        return Markup("<p>{}</p>").format(content)
    return Markup("")


def messages(value: list[dict[str, Any]]) -> Markup:
    """Chat messages (``role`` and ``content``/``parts``/``text``) one after the other, each labelled with its role
    and its content rendered by :func:`render`; other keys of a message (tool calls...) as JSON."""
    out = []
    for message in value:
        role = str(message["role"])
        extra = {k: v for k, v in message.items() if k not in _ROLE_KEYS + _CONTENT_KEYS and v not in (None, "", [])}
        out.append(Markup('<div class="message message-{}"><div class="message-role">{}</div>{}{}</div>').format(
            role.lower().replace(" ", "-"), role, _message_content(message), json_block(extra) if extra else ""))
    return Markup('<div class="messages">{}</div>').format(Markup("").join(out))


def render(text: str | None, *, limit: int = DEFAULT_LIMIT) -> Markup:
    """``text`` as safe HTML (see the module docstring): JSON, chat messages, or Markdown. Empty or None gives an
    empty Markup. A text longer than ``limit`` characters is cut there and ends with a note saying so (a cut JSON
    text no longer parses, so it shows as text)."""
    if not text:
        return Markup("")
    cut = len(text) > limit
    if cut:
        text = text[:limit]
    value = parse_json(text)
    if _is_messages(value):
        shown = messages(value)
    elif value is not None:
        shown = json_block(value)
    else:
        shown = markdown(text)
    if cut:
        shown += Markup('<p class="cut-note">… cut at {:,} characters; the session export has the whole text.</p>'
                        ).format(limit)
    return shown
