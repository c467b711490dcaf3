// shell.js: the page shell (issue 12), loaded before app.js on every page.
//   - tells the server the browser's time zone (cookie portal_tz), for times shown in it;
//   - puts the page's own address in the address bar after a POST re-rendered a form
//     (body[data-url]), so reloading or bookmarking it does not repeat the POST;
//   - the navigation's "Menu" button below 1024 px, and the admin menu (<details>) that
//     closes on Escape and on a click or focus outside it;
//   - after a failed form, focus on the first invalid field (or its message).
"use strict";
(function () {
  const root = document.documentElement;
  root.classList.add("js");

  // ---------------------------------------------------------------------------
  // Time zone: the IANA name the browser uses, for the server's "browser's zone". The
  // page that first sets it still shows UTC; the next one shows local times.
  // ---------------------------------------------------------------------------
  function cookie(name) {
    const parts = document.cookie ? document.cookie.split("; ") : [];
    for (let i = 0; i < parts.length; i++) {
      const eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return parts[i].slice(eq + 1);
    }
    return null;
  }
  try {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && /^[A-Za-z0-9_+\-\/]{1,64}$/.test(tz) && cookie("portal_tz") !== tz) {
      document.cookie = "portal_tz=" + tz + "; path=/; max-age=31536000; SameSite=Lax" +
        (location.protocol === "https:" ? "; Secure" : "");
    }
  } catch (e) { /* no Intl: times stay in UTC */ }

  // ---------------------------------------------------------------------------
  // The address of a page a POST answered (a form with errors): see Page.URL.
  // ---------------------------------------------------------------------------
  const url = document.body && document.body.getAttribute("data-url");
  if (url && url.charAt(0) === "/" && url.charAt(1) !== "/" && url.charAt(1) !== "\\") {
    try { history.replaceState(history.state, "", url + location.hash); } catch (e) { /* ignore */ }
  }

  // ---------------------------------------------------------------------------
  // Navigation: the "Menu" button (shown by CSS below 1024 px) opens and closes it.
  // ---------------------------------------------------------------------------
  const toggle = document.querySelector(".nav-toggle[aria-controls]");
  const topnav = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  function setNav(open, focusBack) {
    if (!toggle || !topnav) return;
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    topnav.classList.toggle("open", open);
    if (!open && focusBack) toggle.focus();
  }
  if (toggle && topnav) {
    toggle.addEventListener("click", function () {
      setNav(toggle.getAttribute("aria-expanded") !== "true", false);
    });
  }

  // The admin menu and the navigation close on Escape and on a click outside them.
  function openMenus() {
    return Array.prototype.slice.call(document.querySelectorAll("details.menu[open]"));
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape" || ev.defaultPrevented) return;
    const t = ev.target && ev.target.nodeType === 1 ? ev.target : null;
    let handled = false;
    openMenus().forEach(function (d) {
      const inside = t && d.contains(t);
      d.open = false;
      if (inside) d.querySelector("summary").focus();
      handled = true;
    });
    if (!handled && toggle && toggle.getAttribute("aria-expanded") === "true" && getComputedStyle(toggle).display !== "none") {
      setNav(false, !!(t && (topnav.contains(t) || t === toggle)));
      handled = true;
    }
    if (handled) ev.preventDefault(); // app.js's shortcuts leave a handled key alone
  });
  function outside(ev) {
    const t = ev.target;
    openMenus().forEach(function (d) {
      if (!d.contains(t)) d.open = false;
    });
    if (toggle && topnav && toggle.getAttribute("aria-expanded") === "true" &&
        !topnav.contains(t) && !toggle.contains(t) && ev.type === "click") {
      setNav(false, false);
    }
  }
  document.addEventListener("click", outside);
  document.addEventListener("focusin", outside); // Tab out of the admin menu closes it

  // ---------------------------------------------------------------------------
  // After a failed form: focus the first invalid field; else the first field message
  // or a form's alert, so the error is read out and the user starts where it is.
  // ---------------------------------------------------------------------------
  function focusFirstError() {
    const main = document.getElementById("main");
    if (!main || location.hash) return;
    let el = main.querySelector("[aria-invalid=true]");
    if (!el) {
      const msg = main.querySelector(".field-error[id]");
      if (msg) el = main.querySelector("[aria-describedby~=\"" + msg.id + "\"]") || msg;
    }
    if (!el) {
      const alerts = main.querySelectorAll("[role=alert]");
      // Only a form's own alert: inside the form, or before it under the same parent
      // (the sign-in and password pages), not a status banner elsewhere on the page.
      for (let i = 0; i < alerts.length && !el; i++) {
        const a = alerts[i];
        if (a.closest("form")) { el = a; break; }
        for (let n = a.nextElementSibling; n; n = n.nextElementSibling) {
          if (n.tagName === "FORM") { el = a; break; }
        }
      }
    }
    if (!el) return;
    if (!el.matches("input, select, textarea, button, a[href], [tabindex]")) el.setAttribute("tabindex", "-1");
    el.focus();
    if (el.scrollIntoView) el.scrollIntoView({ block: "center" });
  }
  focusFirstError();
})();
