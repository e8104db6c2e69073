// Sessions list: the custom start/end fields follow the "Custom…" time range; the summary strip and charts are
// fetched after the list is shown (an HTML fragment rendered by the server from the same query).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const range = document.querySelector("[data-range]");
  if (range) {
    const sync = () => {
      for (const field of document.querySelectorAll("[data-custom-range]")) field.hidden = range.value !== "custom";
    };
    range.addEventListener("change", () => {
      sync();
      if (range.value === "custom") document.getElementById("f-start").focus();
    });
    sync();
  }

  const summary = document.querySelector("[data-summary-src]");
  if (summary) {
    fetch(summary.dataset.summarySrc, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((response) => {
        if (response.redirected) throw new Error("the login expired; reload the page to log in again");
        if (!response.ok) throw new Error(`the summary could not be loaded (${response.status}); reload the page`);
        return response.text();
      })
      .then((html) => { summary.innerHTML = html; }) // server-rendered, autoescaped, same origin
      .catch((err) => {
        summary.innerHTML = "";
        const note = document.createElement("p");
        note.className = "notice";
        note.textContent = `Charts are not shown: ${err.message}`;
        summary.appendChild(note);
      })
      .finally(() => {
        summary.removeAttribute("aria-busy");
        summary.dataset.loadedMs = String(Math.round(performance.now())); // since navigation start
        summary.dataset.loaded = "true";
      });
  }
});
