"""Dashboard fixtures: real Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright against the real app over
real HTTP, with demo data sent through the real OTLP path.

Fixtures:

* ``browser`` (session): a headless Chromium; the dashboard tests are skipped when ``/usr/bin/chromium`` is missing.
* ``demo_server`` (module): a :class:`~conftest.LiveServer` on its own database, loaded with ``DEMO_SESSIONS`` demo
  sessions (``threadline.demo.generator``) through ``POST /v1/traces``; ``demo_server.demo`` holds the counts.
* ``page`` (function): a new browser context (own cookies) and page, 1366x900 (a laptop), failing the test on any
  uncaught JavaScript error; use ``page.goto(url + path)`` then ``wait_ready(page)``.
* ``text_contrast(page)``: texts under WCAG AA contrast.
* ``screenshot(page, name)``: saves ``artifacts/screenshots/<name>.png`` (full page) and returns the path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, start_server, stop_server
from playwright.sync_api import Browser, Page, sync_playwright

from threadline.demo.generator import DemoSummary, generate_and_send
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
DEMO_SESSIONS = 36
DEMO_SEED = 11
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CONTRAST_JS = Path(__file__).with_name("contrast.js")
VIEWPORT = {"width": 1366, "height": 900}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (skipped when it is not installed). Package-scoped: Playwright's sync API keeps an
    asyncio loop running in the main thread while it is open, and tests after this package call asyncio.run()."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the dashboard tests")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def module_store(chdb_dir: Path) -> Store:
    """A fresh, migrated database in this process's chDB directory (dropped by the caller)."""
    store = Store.embedded(chdb_dir, f"dash_{uuid.uuid4().hex[:12]}")
    migrate(store)
    return store


@pytest.fixture(scope="module")
def demo_server(chdb_dir: Path) -> Iterator[LiveServer]:
    """The real app on a database holding the demo sessions (sent over OTLP/HTTP); ``.demo`` is the summary."""
    store = module_store(chdb_dir)
    live = start_server(store, auth_failure_limit=1000)
    try:
        summary: DemoSummary = generate_and_send(live.url, sessions=DEMO_SESSIONS, seed=DEMO_SEED, progress=False)
        live.demo = summary  # type: ignore[attr-defined]
        yield live
    finally:
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context and page; uncaught JavaScript errors and Content-Security-Policy violations (Chromium
    reports them on the console) fail the test."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda message: errors.append(message.text)
              if "Content Security Policy" in message.text else None)
    yield opened
    context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


def wait_ready(page: Page) -> None:
    """Wait until app.js marked the page usable (``body[data-ready]``)."""
    page.wait_for_selector("body[data-ready='true']", state="attached")


def text_contrast(page: Page) -> dict[str, Any]:
    """``{"checked": n, "low": [...]}``: the visible texts of the page whose contrast with their background is
    under WCAG AA (4.5:1; 3:1 for large text), computed in the page with getComputedStyle (``contrast.js``)."""
    found: dict[str, Any] = page.evaluate(CONTRAST_JS.read_text())
    return found


def unlabelled_controls(page: Page) -> list[str]:
    """The outer HTML of every form control of the page without an accessible name: no ``<label>``, no
    ``aria-label``/``aria-labelledby``, and (for a button) no text."""
    found: list[str] = page.evaluate("""() => Array.from(document.querySelectorAll(
        'input:not([type=hidden]), select, textarea, button')).filter(el =>
        !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
        && !(el.tagName === 'BUTTON' && el.textContent.trim())).map(el => el.outerHTML)""")
    return found


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
