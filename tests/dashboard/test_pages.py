"""What every dashboard page shares: the security headers, and a Content-Security-Policy that Chromium enforces
(an inline script injected into a page does not run). The other dashboard tests fail on any CSP violation of the
pages themselves (the ``page`` fixture)."""

from __future__ import annotations

from conftest import LiveServer
from playwright.sync_api import Browser

from dashboard.conftest import VIEWPORT, wait_ready
from threadline.dashboard.pages import SECURITY_HEADERS


def test_pages_carry_the_security_headers(demo_server: LiveServer) -> None:
    with demo_server.client() as http:
        for path in ("/", "/login", "/sessions/no-such-session"):
            response = http.get(path)
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get(name) == value, (path, name)


def test_an_injected_inline_script_is_refused(demo_server: LiveServer, browser: Browser) -> None:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda message: refused.append(message.text)
                if "Content Security Policy" in message.text else None)
        page.goto(demo_server.url + "/")
        wait_ready(page)
        ran = page.evaluate("""() => {
            window.injected = false;
            const script = document.createElement('script');
            script.textContent = 'window.injected = true';
            document.body.appendChild(script);
            return window.injected;
        }""")
        assert ran is False
        page.wait_for_timeout(100)  # the console report arrives after the refusal
        assert refused, "Chromium reported no CSP refusal of the inline script"
    finally:
        context.close()


def test_an_unknown_url_is_an_html_page_for_a_browser_and_a_problem_otherwise(demo_server: LiveServer) -> None:
    with demo_server.client() as http:
        page = http.get("/no/such/page", headers={"accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "There is no page at /no/such/page" in page.text and 'href="/"' in page.text
        for path, accept in (("/no/such/page", "application/json"), ("/v1/no-such-endpoint", "text/html")):
            problem = http.get(path, headers={"accept": accept})
            assert problem.status_code == 404, path
            assert problem.headers["content-type"] == "application/problem+json", path
            assert f"there is no endpoint at {path}" in problem.json()["detail"]
        assert http.post("/no/such/page", headers={"accept": "text/html"}).headers["content-type"] == \
            "application/problem+json"
