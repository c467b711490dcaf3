// Behaviour of the portal's pages. No inline scripts anywhere: the Content-Security-Policy
// forbids them, so every behaviour lives here and hooks onto data- attributes.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#selector">.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var src = document.querySelector(btn.getAttribute("data-copy"));
    if (!src) return;
    var text = src.value !== undefined ? src.value : src.textContent;
    var done = function () {
      var old = btn.textContent;
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { src.select && src.select(); });
    } else if (src.select) {
      src.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
    }
  });

  // htmx does not swap error answers: show them in a banner instead of failing silently.
  function banner(html) {
    var el = document.getElementById("htmx-error");
    if (!el) {
      el = document.createElement("div");
      el.id = "htmx-error";
      el.setAttribute("role", "alert");
      el.className = "banner-error";
      var main = document.getElementById("main") || document.body;
      main.insertBefore(el, main.firstChild);
    }
    el.innerHTML = html;
  }
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    if (xhr.status === 401) return; // HX-Redirect to the sign-in page follows
    var body = xhr.getResponseHeader("Content-Type") || "";
    if (body.indexOf("text/html") === 0 && xhr.responseText.indexOf("data-testid=\"error-fragment\"") >= 0) {
      banner(xhr.responseText); // our own escaped error fragment
    } else {
      banner("<strong>Something went wrong.</strong> Try again in a moment.");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    banner("<strong>The portal is not answering.</strong> Check your connection; nothing you entered was lost.");
  });
  document.addEventListener("htmx:afterRequest", function (ev) {
    if (ev.detail.successful) {
      var el = document.getElementById("htmx-error");
      if (el) el.remove();
    }
  });
})();
