// Sessions list: show the custom start/end fields only for the "Custom…" time range.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const range = document.querySelector("[data-range]");
  if (!range) return;
  const sync = () => {
    for (const field of document.querySelectorAll("[data-custom-range]")) field.hidden = range.value !== "custom";
  };
  range.addEventListener("change", () => {
    sync();
    if (range.value === "custom") document.getElementById("f-start").focus();
  });
  sync();
});
