// Session and trace detail pages: edit form, scores, delete dialog, turn and span deep links. Uses app.js (Threadline.api for
// the JSON API; j/k between turns is app.js's row navigation over [data-row]). Every write goes to /v1 with the
// dashboard cookie; the browser sends Origin, which the API requires of cookie-authenticated writes.
"use strict";

(() => {
  // Trace page: #span-ID opens that span (and scrolls to it).
  function showSpan() {
    const node = /^#span-[0-9a-f]+$/.test(location.hash) && document.getElementById(location.hash.slice(1));
    const details = node && node.querySelector("details");
    if (!details) return;
    details.open = true;
    details.querySelector("summary").focus({ preventScroll: true });
    node.scrollIntoView({ block: "start" });
  }
  if (document.querySelector(".span-tree")) {
    window.addEventListener("hashchange", showSpan);
    showSpan();
    const toggle = document.querySelector("[data-expand-all]");
    if (toggle) {
      toggle.addEventListener("click", () => {
        const open = toggle.dataset.expandAll !== "open";
        document.querySelectorAll(".span-tree > .span-node > details").forEach((d) => { d.open = open; });
        toggle.dataset.expandAll = open ? "open" : "";
        toggle.textContent = open ? "Collapse all spans" : "Expand all spans";
      });
    }
  }

  const root = document.querySelector("[data-session-api]");
  if (!root) return;
  const apiPath = root.dataset.sessionApi;
  const { api, announce } = window.Threadline;

  function status(form, message, isError) {
    const out = form.querySelector("[data-form-status]");
    out.textContent = message;
    out.classList.toggle("error", Boolean(isError));
  }

  /** "a=1\nb = 2" -> {a: "1", b: "2"}; throws an Error naming the first line without "=" or key. */
  function parseMetadata(text) {
    const out = {};
    text.split("\n").forEach((line, index) => {
      if (!line.trim()) return;
      const at = line.indexOf("=");
      const key = at > 0 ? line.slice(0, at).trim() : "";
      if (!key) throw new Error(`Metadata line ${index + 1} needs the form key=value.`);
      out[key] = line.slice(at + 1).trim();
    });
    return out;
  }

  /** What the score's value box holds: true/false, a number, else the text (a category). */
  function scoreValue(text) {
    const trimmed = text.trim();
    if (trimmed === "true" || trimmed === "false") return trimmed === "true";
    if (trimmed !== "" && Number.isFinite(Number(trimmed))) return Number(trimmed);
    return trimmed;
  }

  async function submit(form, send, done) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    status(form, "Saving…");
    try {
      await send();
      status(form, done);
      announce(done);
      // The page is rendered by the server: reload it to show the new values everywhere (header, badges).
      setTimeout(() => window.location.reload(), 300);
    } catch (err) {
      status(form, err.message, true);
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  const edit = document.querySelector("[data-edit-form]");
  if (edit) {
    edit.addEventListener("submit", (event) => {
      event.preventDefault();
      let metadata;
      try {
        metadata = parseMetadata(edit.elements.metadata.value);
      } catch (err) {
        status(edit, err.message, true);
        edit.elements.metadata.focus();
        return;
      }
      const tags = edit.elements.tags.value.split(",").map((t) => t.trim()).filter(Boolean);
      const body = { name: edit.elements.name.value.trim() || null, tags, metadata,
                     end_state: edit.elements.end_state.value || null };
      submit(edit, () => api("PATCH", apiPath, body), "Saved.");
    });
  }

  const score = document.querySelector("[data-score-form]");
  if (score) {
    score.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = score.elements.name.value.trim();
      const raw = score.elements.value.value;
      if (!name || !raw.trim()) {
        status(score, "Give the score a name and a value.", true);
        (name ? score.elements.value : score.elements.name).focus();
        return;
      }
      const body = { name, value: scoreValue(raw) };
      const comment = score.elements.comment.value.trim();
      if (comment) body.comment = comment;
      submit(score, () => api("POST", apiPath + "/scores", body), `Score ${name} added.`);
    });
  }

  const dialog = document.getElementById("delete-dialog");
  const openDelete = document.querySelector("[data-delete-open]");
  if (dialog && openDelete) {
    openDelete.addEventListener("click", () => dialog.showModal());
    const confirm = dialog.querySelector("[data-delete-confirm]");
    const out = dialog.querySelector("[data-delete-status]");
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      out.textContent = "Deleting…";
      try {
        const job = await api("DELETE", apiPath);
        // The session leaves the list at once; its traces are unlinked in the background (the job). Wait briefly
        // for small sessions so the list is settled, then go back to it.
        for (let i = 0; i < 20 && job && job.links && job.links.self; i++) {
          const now = await api("GET", job.links.self);
          if (now.status === "done" || now.status === "failed") break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        window.location.assign("/");
      } catch (err) {
        out.textContent = err.message;
        out.classList.add("error");
        confirm.disabled = false;
      }
    });
  }

  // Turn deep links: #turn-N marks turn N current (so j/k continue from it); a turn on another page of the
  // conversation loads that page.
  const first = Number(root.dataset.firstTurn);
  const last = Number(root.dataset.lastTurn);
  const perPage = Number(root.dataset.perPage);
  function showTurn(hash) {
    const match = /^#turn-(\d+)$/.exec(hash);
    if (!match) return;
    const n = Number(match[1]);
    const turn = document.getElementById("turn-" + n);
    if (turn) {
      document.querySelectorAll("[data-row].current").forEach((row) => row.classList.remove("current"));
      turn.classList.add("current");
      turn.focus({ preventScroll: true });
      turn.scrollIntoView({ block: "start" });
    } else if (n >= 1 && n <= Number(root.dataset.turnTotal) && (n < first || n > last)) {
      const target = new URL(root.dataset.selfUrl, location.href);
      target.searchParams.set("offset", String(Math.floor((n - 1) / perPage) * perPage));
      target.hash = hash;
      window.location.replace(target.href);
    }
  }
  // Focus moved by j/k (app.js) names the turn in the address bar, so the link can be copied.
  document.addEventListener("focusin", (event) => {
    const turn = event.target.closest && event.target.closest("article[data-turn]");
    if (turn && location.hash !== "#" + turn.id) history.replaceState(null, "", "#" + turn.id);
  });
  // Enter on a focused turn (reached with j/k) opens its trace.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return;
    const turn = document.activeElement && document.activeElement.matches("article[data-turn]")
      ? document.activeElement : null;
    const link = turn && turn.querySelector("a[href^='/traces/']");
    if (link) { event.preventDefault(); window.location.assign(link.getAttribute("href")); }
  });
  window.addEventListener("hashchange", () => showTurn(location.hash));
  showTurn(location.hash);
})();
