// Login page: POST the API key to /v1/auth/login (JSON); the server sets the HttpOnly dashboard cookie.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const input = document.getElementById("api-key");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Enter an API key.";
      error.hidden = false;
      input.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await window.Threadline.api("POST", "/v1/auth/login", { api_key: key });
      window.location.assign(form.dataset.next || "/");
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
});
