"""Content rendering: Markdown, code blocks, JSON and chat messages, and that user content never becomes markup."""

from __future__ import annotations

import json
import random

from threadline.dashboard.render import _MD, json_block, markdown, parse_json, render


def test_markdown_renders_headings_lists_emphasis_and_tables() -> None:
    html = render("# Refund\n\n- **one**\n- *two*\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<h1>Refund</h1>" in html
    assert "<li><strong>one</strong></li>" in html and "<em>two</em>" in html
    assert "<table>" in html and "<td>1</td>" in html


def test_fenced_code_is_escaped_and_labelled_with_its_language() -> None:
    html = render('Try:\n\n```python\nprint("<b>hi</b>")\n```')
    assert '<pre><code class="language-python">print(&quot;&lt;b&gt;hi&lt;/b&gt;&quot;)' in html


def test_single_newlines_are_kept_as_line_breaks() -> None:
    assert "one<br>\ntwo" in render("one\ntwo")


def test_raw_html_and_script_are_shown_as_text() -> None:
    html = render('<script>alert("x")</script> <img src=x onerror=alert(1)> <b>bold</b>')
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_dangerous_links_are_not_links_and_images_are_not_loaded() -> None:
    html = render("[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) ![pixel](http://x.test/p.png)")
    assert "href=\"javascript" not in html and "href=\"data:" not in html
    assert "<img" not in html


def test_links_do_not_leak_the_referrer() -> None:
    html = markdown("[docs](https://example.com/a)")
    assert '<a href="https://example.com/a" rel="noopener noreferrer nofollow">docs</a>' in html


def test_json_object_is_pretty_printed_in_an_open_details() -> None:
    html = render('{"order": "A-1001", "items": [1, 2], "note": "<b>é</b>"}')
    assert html.startswith('<details class="json" open><summary>JSON object · 3 keys</summary>')
    assert '"order": "A-1001"' not in html  # quotes are escaped
    assert "&#34;order&#34;: &#34;A-1001&#34;" in html and "&lt;b&gt;é&lt;/b&gt;" in html
    assert "\n  &#34;items&#34;: [\n    1," in html


def test_long_json_starts_collapsed() -> None:
    html = json_block({f"k{i}": i for i in range(40)})
    assert html.startswith('<details class="json"><summary>JSON object · 40 keys</summary>')


def test_json_detection_needs_an_object_or_array() -> None:
    assert parse_json(' [1, 2] ') == [1, 2]
    assert parse_json('{"a": 1}') == {"a": 1}
    assert parse_json("42") is None and parse_json('"text"') is None and parse_json("{not json") is None
    assert parse_json("") is None
    assert "<p>{not json</p>" in render("{not json")


def test_chat_messages_are_shown_by_role_with_rendered_content() -> None:
    text = json.dumps([{"role": "system", "content": "Be **brief**."},
                       {"role": "user", "parts": [{"type": "text", "text": "Hi <script>x()</script>"}]},
                       {"role": "assistant", "content": None, "tool_calls": [{"name": "lookup"}]}])
    html = render(text)
    assert html.count('<div class="message ') == 3
    assert '<div class="message message-system"><div class="message-role">system</div><p>Be <strong>brief' in html
    assert "Hi &lt;script&gt;x()&lt;/script&gt;" in html
    assert "JSON object · 1 key" in html and "lookup" in html  # the tool call is kept, as JSON


def test_role_text_is_escaped_in_class_and_label() -> None:
    html = render(json.dumps([{"role": '"><script>', "content": "x"}]))
    assert "<script>" not in html


def test_empty_text_renders_nothing_and_long_text_is_cut_with_a_note() -> None:
    assert render(None) == "" and render("") == ""
    html = render("a" * 50, limit=10)
    assert "a" * 11 not in html and "cut at 10 characters" in html


def test_plain_text_takes_the_fast_path_with_the_same_html_as_markdown_it() -> None:
    rng = random.Random(5)
    alphabet = "abcdefXYZ019 .,;:!?'\"()-/=+é😀\u00a0\t\n\n\n"
    texts = ["hello", "  hello  \nworld  ", "a\n\n\nb", "a\n   \nb", "1999 was\n2. not a list", "x - y + z",
             "follow-up", "  - item", "3) three", "Title\n===", "a\n    code", "\n\n", "AT&T", "50% off!",
             *("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60))) for _ in range(3000))]
    for text in texts:
        assert markdown(text) == _MD.render(text), repr(text)
