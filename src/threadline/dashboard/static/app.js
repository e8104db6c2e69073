// Threadline dashboard: shared progressive enhancement (no build step, no dependencies).
// Pages work without it; with it: bookmark stars, live relative times, keyboard shortcuts, loading states.
// Writes go through the JSON API with the dashboard cookie; the browser sends Origin on same-origin writes, which
// the API requires of cookie-authenticated writes (CSRF).
"use strict";

const Threadline = (() => {
  /** Call the JSON API. Resolves to the parsed body (null for 204); rejects with an Error whose message is the
   *  problem's sentence (RFC 9457 "detail") so it can be shown as is. */
  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new Error("The server could not be reached; check that Threadline is running and retry.");
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (err) { parsed = null; }
    if (!response.ok) {
      if (response.status === 401 && location.pathname !== "/login") {
        window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      }
      const detail = parsed && parsed.detail ? parsed.detail : `${response.status} ${response.statusText}`;
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return parsed;
  }

  /** A session id as one URL path segment (ids may hold '/', '%', spaces; '.' and '..' are encoded too). */
  function segment(value) {
    const encoded = encodeURIComponent(value);
    return encoded === "." ? "%2E" : encoded === ".." ? "%2E%2E" : encoded;
  }

  /** The API path of a session: /v1/sessions/<id>, or /v1/sessions/id/<id> for the ids a fixed path takes
   * (threadline.api.session_paths.RESERVED_IDS). */
  const RESERVED_IDS = new Set(["search", "metrics", "export", "id"]);
  function sessionApi(id) {
    return (RESERVED_IDS.has(id) ? "/v1/sessions/id/" : "/v1/sessions/") + segment(id);
  }

  /** Show a short message in the page's live region (created on first use). */
  function announce(message, isError) {
    let region = document.getElementById("live-status");
    if (!region) {
      region = document.createElement("div");
      region.id = "live-status";
      region.setAttribute("role", "status");
      region.className = "toast";
      document.body.appendChild(region);
    }
    region.textContent = message;
    region.classList.toggle("toast-error", Boolean(isError));
    region.hidden = false;
    clearTimeout(announce.timer);
    announce.timer = setTimeout(() => { region.hidden = true; }, 5000);
  }

  // --- relative times: <time datetime=... data-relative> ---
  function relative(iso) {
    const then = Date.parse(iso);
    if (Number.isNaN(then)) return null;
    let delta = (Date.now() - then) / 1000;
    const ahead = delta < 0;
    delta = Math.abs(delta);
    if (delta < 45) return "just now";
    const units = [[86400, "d"], [3600, "h"], [60, "min"]];
    for (const [size, unit] of units) {
      if (delta >= size) {
        if (unit === "d" && delta >= 30 * 86400) return iso.slice(0, 10);
        const amount = Math.round(delta / size);
        return ahead ? `in ${amount} ${unit}` : `${amount} ${unit} ago`;
      }
    }
    return "just now";
  }
  function refreshTimes() {
    for (const el of document.querySelectorAll("time[data-relative]")) {
      const text = relative(el.getAttribute("datetime"));
      if (text && el.textContent !== text) el.textContent = text;
    }
  }

  // --- bookmark stars: <button data-bookmark="session id" aria-pressed> ---
  async function toggleBookmark(button) {
    const id = button.dataset.bookmark;
    const next = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-busy", "true");
    try {
      const session = await api("PATCH", sessionApi(id), { bookmarked: next });
      const on = Boolean(session && session.bookmarked);
      button.setAttribute("aria-pressed", String(on));
      button.textContent = on ? "★" : "☆";
      button.title = on ? "Remove bookmark" : "Bookmark this session";
      announce(on ? `Bookmarked ${id}` : `Removed the bookmark of ${id}`);
    } catch (err) {
      announce(`Could not change the bookmark: ${err.message}`, true);
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  // --- keyboard: ? help, / search, j/k rows, Enter open, g s sessions ---
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
  }
  function rows() { return Array.from(document.querySelectorAll("[data-row]")); }
  function moveRow(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.findIndex((row) => row.classList.contains("current"));
    const next = all[Math.min(all.length - 1, Math.max(0, at + step))];
    all.forEach((row) => row.classList.remove("current"));
    next.classList.add("current");
    const target = next.querySelector("[data-row-link]") || next;
    target.focus({ preventScroll: true });
    next.scrollIntoView({ block: "nearest" });
  }
  let pendingG = false;
  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const dialog = document.getElementById("shortcuts");
    if (event.key === "?") {
      event.preventDefault();
      if (dialog && !dialog.open) dialog.showModal();
    } else if (event.key === "/") {
      const search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "j" || event.key === "k") {
      if (rows().length) { event.preventDefault(); moveRow(event.key === "j" ? 1 : -1); }
    } else if (event.key === "g") {
      pendingG = true;
      setTimeout(() => { pendingG = false; }, 1000);
      return;
    } else if (event.key === "s" && pendingG) {
      window.location.assign("/");
    }
    pendingG = false;
  }

  // --- loading states: a form or link that reloads the page marks [data-busy-target] busy ---
  function markBusy() {
    for (const el of document.querySelectorAll("[data-busy-target]")) el.setAttribute("aria-busy", "true");
  }

  function init() {
    document.addEventListener("click", (event) => {
      const star = event.target.closest("[data-bookmark]");
      if (star) { event.preventDefault(); toggleBookmark(star); return; }
      if (event.target.closest("[data-shortcuts-open]")) {
        const dialog = document.getElementById("shortcuts");
        if (dialog) dialog.showModal();
        return;
      }
      if (event.target.closest("[data-logout]")) {
        api("POST", "/v1/auth/logout").finally(() => window.location.assign("/login"));
        return;
      }
      const link = event.target.closest("a[data-busy]");
      if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) markBusy();
    });
    document.addEventListener("submit", (event) => {
      if (event.target.matches("form[data-busy]")) markBusy();
    });
    document.addEventListener("keydown", onKey);
    // A page restored from the back/forward cache must not stay busy.
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted) return;
      for (const el of document.querySelectorAll("[data-busy-target]")) el.removeAttribute("aria-busy");
    });
    refreshTimes();
    setInterval(refreshTimes, 30000);
    // Tests and the benchmark wait for this marker: the page is usable. Set after every DOMContentLoaded listener
    // (page scripts are deferred after this one and may initialise on that event too) has run.
    setTimeout(() => {
      document.body.dataset.readyMs = String(Math.round(performance.now())); // since navigation start
      document.body.dataset.ready = "true";
    }, 0);
  }

  if (document.readyState === "complete") init();
  else document.addEventListener("DOMContentLoaded", init);
  return { api, segment, sessionApi, announce, relative };
})();
window.Threadline = Threadline;
