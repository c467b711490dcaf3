// Behaviour of the portal's pages. No inline scripts anywhere: the Content-Security-Policy
// forbids them (script-src 'self'; style-src 'self'), so every behaviour lives here and
// hooks onto data- attributes. Styles are only ever set through the CSSOM
// (element.style.transform = ...), which the CSP allows; never through style=""
// markup or setAttribute("style").
//
// DOM contract (templates are written against these names; keep them stable):
//   data-copy="<selector>"             button copying the value/text of the selector
//   #htmx-error                        error banner (created on demand inside #main)
//   data-viewer-src="<url>"            opens the evidence viewer on that image
//   data-viewer-title="<text>"         the viewer's accessible name and heading
//   <dialog id="shortcuts">            keyboard help, toggled with "?"
//   data-shortcut="<key>"              clicked (radio/checkbox: checked, text field: focused)
//   data-row data-id="<id>"            queue row; holds one a[data-open]
//   a[data-open]                       the row's link, followed by Enter
//   data-heartbeat-url, data-heartbeat-seconds   claim renewal (POST every n s, default 60)
//   data-release-url                   claim release beacon on pagehide
//   data-seek-target="<video sel>" data-seek="<s>"   seek button for a video
//   data-focus="<selector>"            after a click, focus moves to the first visible match
//   event "portal:claim-lost"          CustomEvent on document, detail {status, url, element}
//   .claim-lost[data-testid=claim-lost]   the heartbeat element once the claim is lost (set by this
//                                      file): its text becomes the server's message, class claim-mine goes
//   data-testid="error-message"        optional, inside an error fragment: the plain message shown there
//   data-lock-on-claim-lost            (decision panel) locked when the claim is lost: gets data-locked and
//                                      class "locked" and a p.locked-note[role=status] at its top; text
//                                      fields turn read-only (text kept), other controls disabled,
//                                      a[data-shortcut] aria-disabled; its forms no longer submit
//   form[data-auto-submit]             submitted once as soon as the page is ready (the claim POST)
//   data-idle-seconds="<n>" data-keepalive-url="<url>"   idle clock mirroring the server's idle
//                                      timeout; the keepalive is a POST answering 204 (alive) or 401 (ended)
//   #idle-prompt[data-testid=idle-prompt]   "signed out soon" prompt (created on demand inside #main), with
//                                      button[data-testid=stay-signed-in], later a[data-testid=idle-sign-in]
//   form[data-check-session]           POSTs the keepalive first; on 401 it is not sent (sticky banner)
//   input[data-original] data-label="<text>"   extracted value as read; the label in the summary
//   data-corrections-summary data-empty="<text>"   live list of the form's corrections (old → new),
//                                      one li[data-field="<key>"] each; the data-empty text when none
//   input[name=corrections_seen]       hidden, in that form: JSON [[key, new value], ...] sorted by key
//                                      (key = name without "field."), "" when nothing changed
//
// Sections: helpers · copy buttons · error banner · evidence viewer · queue selection ·
// keyboard shortcuts · focus after activation · claim heartbeat and release · claim lost:
// locking · staying signed in · submitting · video seek · corrections · start-up.
(function () {
  "use strict";

  // ---------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------

  // All elements under root (root included) matching the selector, in document order.
  function within(root, selector) {
    const found = Array.from((root || document).querySelectorAll(selector));
    if (root && root.nodeType === 1 && root.matches(selector)) found.unshift(root);
    return found;
  }

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  // Rendered and not hidden (display, visibility, hidden attribute, closed <dialog>,
  // inert subtree).
  function isVisible(el) {
    if (!el.isConnected || el.closest("[inert]")) return false;
    if (typeof el.checkVisibility === "function") {
      return el.checkVisibility({ visibilityProperty: true, checkVisibilityCSS: true });
    }
    return el.getClientRects().length > 0;
  }

  function isDisabled(el) {
    return el.matches(":disabled") || el.getAttribute("aria-disabled") === "true";
  }

  // Fields where keys are text: shortcuts never fire there. Checkboxes, radios and
  // buttons are not text fields, so "1".."9" keep working after a radio was chosen.
  const NOT_TEXT = ["checkbox", "radio", "button", "submit", "reset", "image", "range", "color", "file"];
  function isTextEntry(el) {
    if (!el || el.nodeType !== 1) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && NOT_TEXT.indexOf((el.type || "text").toLowerCase()) < 0;
  }

  // Elements that handle Enter and Space themselves.
  const CONTROLS = "a[href], button, input, select, textarea, summary, label, [contenteditable], " +
    "[role=button], [role=link], [role=checkbox], [role=radio], [role=tab], [role=menuitem], [role=option]";
  function isControl(el) {
    return !!(el && el.nodeType === 1 && el.closest(CONTROLS));
  }

  const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])";
  function focusables(root) {
    return within(root, FOCUSABLE).filter(function (el) {
      return el !== root && !el.disabled && !el.hidden && el.getClientRects().length > 0;
    });
  }

  // Ctrl, Meta or Alt held for a browser or system shortcut. AltGr (reported as Ctrl+Alt
  // on Windows) types characters such as [ ] on many layouts: that is not a shortcut.
  function commandKey(ev) {
    if (ev.getModifierState && ev.getModifierState("AltGraph")) return ev.metaKey;
    return ev.ctrlKey || ev.metaKey || ev.altKey;
  }

  function make(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text) el.textContent = text;
    return el;
  }

  // ---------------------------------------------------------------------------
  // Copy buttons: <button data-copy="#selector">.
  // ---------------------------------------------------------------------------
  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    const src = document.querySelector(btn.getAttribute("data-copy"));
    if (!src) return;
    const text = src.value !== undefined ? src.value : src.textContent;
    const done = function () {
      const old = btn.textContent;
      btn.textContent = btn.getAttribute("data-copied") || "Copied";
      setTimeout(function () { btn.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { src.select && src.select(); });
    } else if (src.select) {
      src.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
    }
  });

  // ---------------------------------------------------------------------------
  // Error banner. htmx does not swap error answers: show them in a banner instead of
  // failing silently. A sticky banner (claim lost) survives later successful requests.
  // ---------------------------------------------------------------------------
  function banner(html, sticky) {
    let el = document.getElementById("htmx-error");
    if (!el) {
      el = document.createElement("div");
      el.id = "htmx-error";
      el.setAttribute("role", "alert");
      el.className = "banner-error";
      const main = document.getElementById("main") || document.body;
      main.insertBefore(el, main.firstChild);
    }
    el.toggleAttribute("data-sticky", !!sticky);
    el.innerHTML = html; // only our static strings or our own escaped error fragment
  }

  // Our own error fragment (views.ErrorFragment), safe to show as it is.
  function isErrorFragment(contentType, text) {
    return (contentType || "").indexOf("text/html") === 0 && text.indexOf("data-testid=\"error-fragment\"") >= 0;
  }

  document.addEventListener("htmx:responseError", function (ev) {
    const xhr = ev.detail.xhr;
    if (xhr.status === 401) return; // HX-Redirect to the sign-in page follows
    if (isErrorFragment(xhr.getResponseHeader("Content-Type"), xhr.responseText)) {
      banner(xhr.responseText);
    } else {
      banner("<strong>Something went wrong.</strong> Try again in a moment.");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    banner("<strong>The portal is not answering.</strong> Check your connection; nothing you entered was lost.");
  });
  document.addEventListener("htmx:afterRequest", function (ev) {
    if (ev.detail.successful) {
      const el = document.getElementById("htmx-error");
      if (el && !el.hasAttribute("data-sticky")) el.remove();
    }
  });

  // ---------------------------------------------------------------------------
  // Evidence viewer. A modal dialog built on first use: the image of a
  // [data-viewer-src] element with zoom (0.25x-8x, around the pointer for the wheel),
  // pan (drag, arrow keys), rotation, full screen and previous/next through all the
  // sources of the page. The rest of the page is inert while it is open; focus is
  // trapped inside and goes back to the source of the image shown when it closes.
  // ---------------------------------------------------------------------------
  const Viewer = (function () {
    const MIN = 0.25, MAX = 8, STEP = 1.25, PAN = 40;
    let root = null; // the dialog; null until first use
    let ui = {};
    let source = null; // element whose image is shown
    let inerted = []; // page elements this viewer made inert
    let drag = null;
    const st = { scale: 1, rot: 0, x: 0, y: 0 };

    // A toolbar button: visible label (hidden on narrow screens when there is a glyph),
    // aria-label and a title naming its key. A glyph after the label when glyphLast.
    function button(glyph, label, key, onClick, extraClass, glyphLast) {
      const b = make("button", "viewer-btn" + (extraClass ? " " + extraClass : ""));
      b.type = "button";
      b.title = label + " (" + key + ")";
      b.setAttribute("aria-label", label);
      b.appendChild(make("span", glyph ? "viewer-btn-label" : "", label));
      if (glyph) {
        const g = make("span", "viewer-glyph", glyph);
        g.setAttribute("aria-hidden", "true");
        if (glyphLast) b.appendChild(g);
        else b.insertBefore(g, b.firstChild);
      }
      b.addEventListener("click", onClick);
      return b;
    }

    function group() {
      const g = make("div", "viewer-group");
      for (let i = 0; i < arguments.length; i++) g.appendChild(arguments[i]);
      return g;
    }

    function build() {
      root = make("div", "viewer");
      root.id = "evidence-viewer";
      root.hidden = true;
      root.tabIndex = -1;
      root.setAttribute("role", "dialog");
      root.setAttribute("aria-modal", "true");

      ui.title = make("h2", "viewer-title");
      ui.prev = button("\u2039", "Previous", "[ or Page Up", function () { step(-1); });
      ui.count = make("span", "viewer-count");
      ui.next = button("\u203a", "Next", "] or Page Down", function () { step(1); }, "", true);
      ui.zoomOut = button("\u2212", "Zoom out", "-", function () { zoomBy(1 / STEP); }, "viewer-icon");
      ui.zoom = make("output", "viewer-zoom", "100%");
      ui.zoom.setAttribute("aria-label", "Zoom level");
      ui.zoomIn = button("+", "Zoom in", "+", function () { zoomBy(STEP); }, "viewer-icon");
      ui.rotL = button("\u21ba", "Rotate left", "L", function () { rotate(-90); });
      ui.rotR = button("\u21bb", "Rotate right", "R", function () { rotate(90); });
      ui.reset = button("", "Reset", "0", function () { reset(true); });
      ui.full = button("", "Full screen", "F", toggleFullscreen);
      ui.full.setAttribute("aria-pressed", "false");
      ui.full.hidden = !(document.fullscreenEnabled || document.webkitFullscreenEnabled);
      ui.close = button("\u2715", "Close", "Esc", close, "viewer-close");

      const bar = make("div", "viewer-toolbar");
      bar.setAttribute("role", "toolbar");
      bar.setAttribute("aria-label", "Image tools");
      bar.append(ui.title,
        group(ui.prev, ui.count, ui.next),
        group(ui.zoomOut, ui.zoom, ui.zoomIn),
        group(ui.rotL, ui.rotR, ui.reset),
        group(ui.full, ui.close));

      ui.stage = make("div", "viewer-stage");
      ui.img = make("img", "viewer-img");
      ui.img.alt = "";
      ui.img.draggable = false;
      ui.status = make("p", "viewer-status");
      ui.status.setAttribute("role", "status");
      ui.stage.append(ui.img, ui.status);

      const hint = make("p", "viewer-hint",
        "Wheel or + \u2212 to zoom \u00b7 drag or arrow keys to move \u00b7 double-click for 2\u00d7 \u00b7 L R to rotate \u00b7 Esc to close");
      root.append(bar, ui.stage, hint);
      document.body.appendChild(root);

      ui.img.addEventListener("load", function () { setStatus("", ""); });
      ui.img.addEventListener("error", function () {
        if (ui.img.getAttribute("src")) setStatus("is-error", "The image could not be loaded.");
      });
      root.addEventListener("keydown", onKey);
      ui.stage.addEventListener("wheel", onWheel, { passive: false });
      ui.stage.addEventListener("pointerdown", onPointerDown);
      ui.stage.addEventListener("pointermove", onPointerMove);
      ui.stage.addEventListener("pointerup", endDrag);
      ui.stage.addEventListener("pointercancel", endDrag);
      ui.stage.addEventListener("lostpointercapture", endDrag);
      ui.stage.addEventListener("dblclick", onDoubleClick);
    }

    function isOpen() { return !!root && root.isConnected && !root.hidden; }
    function contains(el) { return !!root && root.contains(el); }

    function setStatus(state, text) {
      root.classList.remove("is-loading", "is-error");
      if (state) root.classList.add(state);
      ui.status.textContent = text;
    }

    function sources() {
      return within(document, "[data-viewer-src]").filter(function (el) { return !contains(el); });
    }

    function titleOf(el) {
      const t = el.getAttribute("data-viewer-title");
      if (t) return t;
      const img = el.tagName === "IMG" ? el : el.querySelector("img[alt]");
      return (img && img.alt) || "Evidence image";
    }

    // Shows the image of el (the viewer may already be open).
    function show(el) {
      source = el;
      const url = el.getAttribute("data-viewer-src");
      const title = titleOf(el);
      root.setAttribute("aria-label", title);
      ui.title.textContent = title;
      ui.img.alt = title;
      reset(false);
      if (ui.img.getAttribute("src") !== url || !ui.img.complete) {
        setStatus("is-loading", "Loading\u2026");
        ui.img.src = url;
      }
      const list = sources();
      const many = list.length > 1;
      ui.prev.hidden = ui.next.hidden = ui.count.hidden = !many;
      ui.count.textContent = many ? (list.indexOf(el) + 1) + " / " + list.length : "";
    }

    function open(el) {
      if (!root || !root.isConnected) build(); // a boosted swap of <body> drops it
      show(el);
      if (!root.hidden) return;
      root.hidden = false;
      document.documentElement.classList.add("viewer-open");
      inerted = Array.from(document.body.children).filter(function (c) {
        return c !== root && !c.inert && c.tagName !== "SCRIPT";
      });
      inerted.forEach(function (c) { c.inert = true; });
      root.focus({ preventScroll: true });
    }

    function close() {
      if (!isOpen()) return;
      if ((document.fullscreenElement || document.webkitFullscreenElement) === root) exitFullscreen();
      endDrag();
      root.hidden = true;
      document.documentElement.classList.remove("viewer-open");
      inerted.forEach(function (c) { c.inert = false; });
      inerted = [];
      ui.img.removeAttribute("src"); // evidence does not linger in the page
      let back = source;
      source = null;
      if (back && !back.isConnected) { // swapped away meanwhile: its replacement, if any
        const url = back.getAttribute("data-viewer-src");
        back = sources().find(function (s) { return s.getAttribute("data-viewer-src") === url; });
      }
      (back || document.getElementById("main") || document.body).focus();
    }

    function step(delta) {
      const list = sources();
      if (list.length < 2) return;
      const i = Math.max(0, list.indexOf(source));
      show(list[(i + delta + list.length) % list.length]);
    }

    // Transform state → CSSOM (allowed by the CSP, unlike a style attribute).
    function apply(animate) {
      clampPan();
      ui.img.classList.toggle("is-animated", !!animate);
      ui.img.classList.toggle("is-turned", Math.abs(st.rot % 180) === 90); // CSS fits the turned box
      ui.img.style.transform = "translate(" + st.x.toFixed(1) + "px, " + st.y.toFixed(1) + "px) rotate(" +
        st.rot + "deg) scale(" + +st.scale.toFixed(4) + ")";
      ui.zoom.textContent = Math.round(st.scale * 100) + "%";
      // aria-disabled and not disabled: a disabled button would drop the focus out of the trap.
      ui.zoomOut.setAttribute("aria-disabled", String(st.scale <= MIN + 1e-6));
      ui.zoomIn.setAttribute("aria-disabled", String(st.scale >= MAX - 1e-6));
    }

    // Keeps at least a strip of the image on screen.
    function clampPan() {
      const turned = Math.abs(st.rot % 180) === 90;
      const w = (turned ? ui.img.offsetHeight : ui.img.offsetWidth) * st.scale;
      const h = (turned ? ui.img.offsetWidth : ui.img.offsetHeight) * st.scale;
      const mx = Math.max(0, (ui.stage.clientWidth + w) / 2 - 48);
      const my = Math.max(0, (ui.stage.clientHeight + h) / 2 - 48);
      st.x = clamp(st.x, -mx, mx);
      st.y = clamp(st.y, -my, my);
    }

    function reset(animate) {
      st.scale = 1; st.rot = 0; st.x = 0; st.y = 0;
      apply(animate);
    }

    // Zooms to scale keeping the point (clientX, clientY) still; the stage centre by default.
    function zoomTo(scale, clientX, clientY, animate) {
      const next = clamp(scale, MIN, MAX);
      const r = ui.stage.getBoundingClientRect();
      const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
      const dx = (clientX === undefined ? cx : clientX) - cx;
      const dy = (clientY === undefined ? cy : clientY) - cy;
      const k = next / st.scale;
      st.x = dx - k * (dx - st.x);
      st.y = dy - k * (dy - st.y);
      st.scale = next;
      apply(animate);
    }

    function zoomBy(factor) { zoomTo(st.scale * factor, undefined, undefined, true); }
    function rotate(deg) { st.rot += deg; apply(true); } // not normalised: CSS turns the short way
    function pan(dx, dy) { st.x += dx; st.y += dy; apply(true); }

    function exitFullscreen() {
      const exit = document.exitFullscreen || document.webkitExitFullscreen;
      const p = exit && exit.call(document);
      if (p && p.catch) p.catch(function () {});
    }

    function toggleFullscreen() {
      if (document.fullscreenElement || document.webkitFullscreenElement) return exitFullscreen();
      const req = root.requestFullscreen || root.webkitRequestFullscreen;
      const p = req && req.call(root);
      if (p && p.catch) p.catch(function () {});
    }

    document.addEventListener("fullscreenchange", function () {
      if (!root) return;
      const on = document.fullscreenElement === root;
      ui.full.setAttribute("aria-pressed", String(on));
      root.classList.toggle("is-fullscreen", on);
    });

    function onWheel(ev) {
      ev.preventDefault();
      let dy = ev.deltaY;
      if (ev.deltaMode === 1) dy *= 16;
      else if (ev.deltaMode === 2) dy *= ui.stage.clientHeight;
      zoomTo(st.scale * Math.exp(-dy * 0.002), ev.clientX, ev.clientY, false);
    }

    function onPointerDown(ev) {
      if (ev.button !== 0) return;
      ev.preventDefault(); // no native image drag or text selection
      drag = { id: ev.pointerId, x: ev.clientX, y: ev.clientY, ox: st.x, oy: st.y };
      ui.stage.setPointerCapture(ev.pointerId);
      ui.stage.classList.add("is-dragging");
    }

    function onPointerMove(ev) {
      if (!drag || ev.pointerId !== drag.id) return;
      st.x = drag.ox + ev.clientX - drag.x;
      st.y = drag.oy + ev.clientY - drag.y;
      apply(false);
    }

    function endDrag() {
      if (!drag) return;
      if (ui.stage.hasPointerCapture(drag.id)) ui.stage.releasePointerCapture(drag.id);
      drag = null;
      ui.stage.classList.remove("is-dragging");
    }

    function onDoubleClick(ev) {
      if (Math.abs(st.scale - 1) < 1e-3) {
        zoomTo(2, ev.clientX, ev.clientY, true);
      } else {
        st.scale = 1; st.x = 0; st.y = 0;
        apply(true);
      }
    }

    // Tab and Shift+Tab cycle through the viewer's controls only.
    function trapTab(ev) {
      const f = focusables(root);
      const a = document.activeElement;
      if (!f.length) { ev.preventDefault(); return; }
      if (ev.shiftKey && (a === f[0] || !contains(a) || a === root)) {
        ev.preventDefault();
        f[f.length - 1].focus();
      } else if (!ev.shiftKey && (a === f[f.length - 1] || !contains(a))) {
        ev.preventDefault();
        f[0].focus();
      }
    }

    // The viewer's own keys. Enter and Space are left to the focused button.
    function onKey(ev) {
      if (commandKey(ev)) return; // browser zoom and friends
      const fine = ev.shiftKey ? 1 : 0;
      switch (ev.key) {
        case "Escape": close(); break;
        case "Tab": trapTab(ev); return;
        case "+": case "=": zoomBy(STEP); break;
        case "-": case "_": zoomBy(1 / STEP); break;
        case "0": reset(true); break;
        case "l": case "L": rotate(-90); break;
        case "r": case "R": rotate(90); break;
        case "f": case "F": toggleFullscreen(); break;
        // Arrows move the view like scrolling: Right shows more of the right side.
        case "ArrowLeft": pan(PAN * (1 + 2 * fine), 0); break;
        case "ArrowRight": pan(-PAN * (1 + 2 * fine), 0); break;
        case "ArrowUp": pan(0, PAN * (1 + 2 * fine)); break;
        case "ArrowDown": pan(0, -PAN * (1 + 2 * fine)); break;
        case "PageUp": case "[": step(-1); break;
        case "PageDown": case "]": step(1); break;
        default: return;
      }
      ev.preventDefault();
      ev.stopPropagation();
    }

    // Opening: click (mouse, or Enter/Space on a native button or link) ...
    document.addEventListener("click", function (ev) {
      const el = ev.target.closest && ev.target.closest("[data-viewer-src]");
      if (!el || contains(el)) return;
      // A modified click on a link keeps its browser meaning (new tab, download).
      if ((ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) && el.closest("a[href]")) return;
      ev.preventDefault();
      open(el);
    });

    // ... and Enter/Space on a source that is not a native control (see the keyboard section),
    // made focusable here.
    function enhance(scope) {
      within(scope, "[data-viewer-src]").forEach(function (el) {
        if (isControl(el) || el.hasAttribute("tabindex")) return;
        el.tabIndex = 0;
        if (!el.hasAttribute("role")) el.setAttribute("role", "button");
      });
    }

    return { open: open, close: close, isOpen: isOpen, contains: contains, onKey: onKey, enhance: enhance };
  })();

  // ---------------------------------------------------------------------------
  // Queue selection: [data-row][data-id] rows, each with one a[data-open]. j/k move the
  // selection, Enter follows the link. The selected id survives htmx swaps of the list;
  // focus is only put back when it was inside the swapped region and got lost.
  // ---------------------------------------------------------------------------
  const Queue = (function () {
    let selId = null; // data-id of the selected row
    let selIndex = -1; // its position, for when it disappears
    let focusWasInside = false; // focus was in a region being swapped

    function rows() { return within(document, "[data-row]").filter(isVisible); }
    function linkOf(row) { return row && row.querySelector("a[data-open]"); }
    function current(list) {
      if (selId === null) return null;
      return list.find(function (r) { return r.getAttribute("data-id") === selId; }) || null;
    }

    function mark(row) {
      within(document, "[data-row].selected, [data-row][aria-selected]").forEach(function (r) {
        if (r === row) return;
        r.classList.remove("selected");
        r.removeAttribute("aria-selected");
      });
      if (row) {
        row.classList.add("selected");
        row.setAttribute("aria-selected", "true");
      }
    }

    function select(row, list, focus) {
      selId = row.getAttribute("data-id");
      selIndex = list.indexOf(row);
      mark(row);
      if (focus) {
        const a = linkOf(row);
        if (a) a.focus({ preventScroll: true });
        row.scrollIntoView({ block: "nearest" });
      }
    }

    // Moves the selection by delta rows (clamped). False when the page has no rows.
    function move(delta) {
      const list = rows();
      if (!list.length) return false;
      const cur = current(list);
      const i = cur ? clamp(list.indexOf(cur) + delta, 0, list.length - 1) : 0;
      select(list[i], list, true);
      return true;
    }

    // Enter: follows the selected row's link unless focus is on a control (the row's own
    // link included: the browser follows it already).
    function openSelected(target) {
      const a = linkOf(current(rows()));
      if (!a || isControl(target)) return false;
      a.click(); // a click, not location.href, so hx-boost or hx-get on the link still apply
      return true;
    }

    function reapply() {
      if (selId === null) return;
      const list = rows();
      if (!list.length) { mark(null); return; }
      const row = current(list) || list[clamp(selIndex, 0, list.length - 1)];
      select(row, list, false);
      const active = document.activeElement;
      if (focusWasInside && (!active || active === document.body || !active.isConnected)) {
        const a = linkOf(row);
        if (a) a.focus({ preventScroll: true });
      }
    }

    document.addEventListener("htmx:beforeSwap", function (ev) {
      const target = ev.detail && ev.detail.target;
      const active = document.activeElement;
      if (target && active && active !== document.body && target.contains(active)) focusWasInside = true;
    });
    document.addEventListener("htmx:afterSwap", reapply);
    // Settling may put back old attributes on rows with ids: apply once more, then forget.
    document.addEventListener("htmx:afterSettle", function () { reapply(); focusWasInside = false; });
    ["htmx:responseError", "htmx:sendError", "htmx:swapError"].forEach(function (name) {
      document.addEventListener(name, function () { focusWasInside = false; });
    });

    // Mouse and Tab keep the selection in step with where the user is.
    document.addEventListener("click", function (ev) {
      const row = ev.target.closest && ev.target.closest("[data-row]");
      if (row && isVisible(row)) select(row, rows(), false);
    });
    document.addEventListener("focusin", function (ev) {
      const a = ev.target.closest && ev.target.closest("a[data-open]");
      const row = a && a.closest("[data-row]");
      if (row) select(row, rows(), false);
    });

    return { move: move, openSelected: openSelected };
  })();

  // ---------------------------------------------------------------------------
  // Keyboard shortcuts: the one keydown listener of the page. The viewer and dialogs
  // have their own keys; text fields and modified keys (Ctrl, Meta, Alt) are left alone.
  // Order: "?" help, Enter/Space on a viewer source, j/k/Enter queue, data-shortcut.
  // ---------------------------------------------------------------------------
  function toggleHelp(dialog) {
    if (dialog.open) dialog.close();
    else if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
  }

  function modalOpen() {
    return within(document, "dialog[open]").some(function (d) {
      try { return d.matches(":modal"); } catch (e) { return true; }
    });
  }

  function activateShortcut(key) {
    const el = within(document, "[data-shortcut]").find(function (e) {
      return e.getAttribute("data-shortcut") === key && isVisible(e) && !isDisabled(e);
    });
    if (!el) return false;
    if (el.tagName === "INPUT" && (el.type === "radio" || el.type === "checkbox")) {
      if (!el.checked) el.click(); // a click, so change/input events and htmx triggers fire
      el.focus();
    } else if (isTextEntry(el)) {
      el.focus(); // e.g. "/" for the search field
    } else {
      el.click();
    }
    return true;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.isComposing) return;
    if (commandKey(ev)) return;
    const t = ev.target && ev.target.nodeType === 1 ? ev.target : document.body;
    if (Viewer.isOpen()) {
      if (!Viewer.contains(t)) Viewer.onKey(ev); // focus fell out (to <body>): still the viewer's keys
      return;
    }
    if (isTextEntry(t)) return;

    // Letters compare in lower case unless Shift is held, so Caps Lock does not matter.
    const raw = ev.key || "";
    const key = raw.length === 1 && !ev.shiftKey ? raw.toLowerCase() : raw;
    const help = document.getElementById("shortcuts");
    const inDialog = t.closest("dialog[open], [role=dialog], [role=alertdialog]");

    if (key === "?") {
      if (help && help.tagName === "DIALOG" && (help.open || (!inDialog && !modalOpen()))) {
        ev.preventDefault();
        toggleHelp(help);
      }
      return;
    }
    if (inDialog || modalOpen()) return;

    if ((key === "Enter" || key === " ") && t.matches("[data-viewer-src]") && !t.matches("a[href], button, input")) {
      ev.preventDefault();
      Viewer.open(t);
      return;
    }
    if ((key === "j" || key === "k") && Queue.move(key === "j" ? 1 : -1)) {
      ev.preventDefault();
      return;
    }
    if (key === "Enter" && Queue.openSelected(t)) {
      ev.preventDefault();
      return;
    }
    if ((key === "Enter" || key === " ") && isControl(t)) return;
    if (activateShortcut(key)) ev.preventDefault();
  });

  // A click on the help dialog's backdrop closes it.
  document.addEventListener("click", function (ev) {
    const d = ev.target;
    if (d.id !== "shortcuts" || d.tagName !== "DIALOG" || !d.open || ev.detail === 0) return;
    const r = d.getBoundingClientRect();
    if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) d.close();
  });

  // Announce the keys to assistive technology.
  function enhanceShortcuts(scope) {
    within(scope, "[data-shortcut]").forEach(function (el) {
      const k = el.getAttribute("data-shortcut");
      if (k && k !== "+" && !el.hasAttribute("aria-keyshortcuts")) el.setAttribute("aria-keyshortcuts", k);
    });
  }

  // ---------------------------------------------------------------------------
  // Focus after activation: <a href="#reject-panel" data-focus="#reject-reasons input">.
  // After the click's own effect (following the in-page link, revealing the panel), the
  // focus goes to the first visible, enabled match; among radios of one group, to the
  // checked one. Seen in views/decision.templ; not part of the original contract.
  // ---------------------------------------------------------------------------
  document.addEventListener("click", function (ev) {
    const el = ev.target.closest && ev.target.closest("[data-focus]");
    if (!el) return;
    const selector = el.getAttribute("data-focus");
    setTimeout(function () {
      let found = [];
      try { found = within(document, selector); } catch (e) { return; } // a bad selector does nothing
      found = found.filter(function (f) { return isVisible(f) && !isDisabled(f); });
      const pick = found.find(function (f) { return f.type === "radio" && f.checked; }) || found[0];
      if (pick) pick.focus();
    }, 0);
  });

  // ---------------------------------------------------------------------------
  // Claim heartbeat and release. [data-heartbeat-url] POSTs every
  // data-heartbeat-seconds (default 60) while it is in the page; 409 or 401 means the
  // claim is gone: stop, say so, lock the decision panel (next section) and fire
  // "portal:claim-lost". Other failures are transient: try again at the next beat.
  // ---------------------------------------------------------------------------
  const beats = new WeakMap(); // element → { timer, busy, stopped }

  function period(el) {
    const n = parseFloat(el.getAttribute("data-heartbeat-seconds"));
    return (n > 0 ? Math.max(1, n) : 60) * 1000;
  }

  function scheduleBeat(el) {
    const s = beats.get(el);
    clearTimeout(s.timer);
    s.timer = setTimeout(function () { beat(el); }, period(el));
  }

  const LOST = {
    409: "<strong>This process is no longer claimed by you.</strong> Another reviewer may have taken it; copy what you typed before reloading the page.",
    401: "<strong>Your session has ended.</strong> <a href=\"/login\" target=\"_blank\" rel=\"noopener\">Sign in again in a new tab</a>; what you typed stays here."
  };

  function beat(el) {
    const s = beats.get(el);
    if (!s || s.stopped || s.busy) return;
    if (!el.isConnected) { s.stopped = true; return; } // swapped out of the page
    const url = el.getAttribute("data-heartbeat-url");
    s.busy = true;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Portal-Poll": "1", "HX-Request": "true" }
    }).then(function (res) {
      if (res.status !== 409 && res.status !== 401) return false;
      return res.text().catch(function () { return ""; }).then(function (text) {
        s.stopped = true;
        clearTimeout(s.timer);
        const fragment = isErrorFragment(res.headers.get("Content-Type"), text) ? text : "";
        banner(fragment || LOST[res.status], true);
        loseClaim(el, res.status, fragment);
        if (res.status === 401) Idle.ended(false);
        document.dispatchEvent(new CustomEvent("portal:claim-lost", {
          detail: { status: res.status, url: url, element: el }
        }));
        return true;
      });
    }, function () { return false; }).then(function (lost) {
      s.busy = false;
      if (!lost && !s.stopped) scheduleBeat(el);
    });
  }

  function startHeartbeats(scope) {
    within(scope, "[data-heartbeat-url]").forEach(function (el) {
      if (beats.has(el)) return;
      beats.set(el, { timer: 0, busy: false, stopped: false });
      scheduleBeat(el); // the page load itself claimed: first renewal after one period
    });
  }

  // Back from the back-forward cache: timers were frozen, so check the claim at once.
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) return;
    within(document, "[data-heartbeat-url]").forEach(function (el) {
      const s = beats.get(el);
      if (s && !s.stopped) { clearTimeout(s.timer); beat(el); }
    });
  });

  // The mark of the claim that led to this page (?claimed=N, see handlers.claimedURL)
  // comes off the address bar: a reload then claims the process again instead of
  // sharing the claim number with the page it replaces, whose release on leaving would
  // end the new page's claim.
  (function () {
    if (!window.history || typeof history.replaceState !== "function") return;
    const u = new URL(location.href);
    if (!u.searchParams.has("claimed")) return;
    u.searchParams.delete("claimed");
    history.replaceState(history.state, "", u.pathname + u.search + u.hash);
  })();

  // Release on pagehide, also when the page goes into the back-forward cache
  // (event.persisted): a page that is kept there may never be shown again, and holding
  // the claim until it expires would block colleagues. If the agent does come back, the
  // immediate heartbeat above gets 409 and says so. pagehide (not unload) keeps the
  // page eligible for that cache. A claim already lost has nothing left to release.
  // Submitting a form of the page (deciding, a release button, the automatic claim) is
  // not leaving the process: the server ends or keeps the claim itself, and a form
  // returned with an error must still find the claim held.
  let submitting = false;
  document.addEventListener("submit", function (ev) {
    if (ev.defaultPrevented) return;
    Idle.touch(); // a request the server counts as activity
    if (!(ev.target.getAttribute && ev.target.hasAttribute("hx-post"))) submitting = true;
  });
  window.addEventListener("pageshow", function () { submitting = false; });
  window.addEventListener("pagehide", function () {
    if (submitting || claimLost || leftReleased) return; // leftReleased: see "Leaving for the queue"
    within(document, "[data-release-url]").forEach(function (el) {
      const url = el.getAttribute("data-release-url");
      let queued = false;
      try { queued = !!(navigator.sendBeacon && navigator.sendBeacon(url)); } catch (e) { queued = false; }
      if (!queued) {
        fetch(url, { method: "POST", credentials: "same-origin", keepalive: true }).catch(function () {});
      }
    });
  });

  // Leaving for the queue in this tab: the claim is released (the same POST as on
  // pagehide) before the queue is requested. pagehide fires only once the next page's
  // answer has arrived, so its release alone left the case listed as "mine" until the
  // queue's next refresh. The queue is opened whether or not the release answers (within
  // 2 s); pagehide then tries once more. Not for a link opened in another tab: this page
  // stays open and keeps its claim.
  let leaving = false, leftReleased = false;
  document.addEventListener("click", function (ev) {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    if (submitting || claimLost || leaving) return;
    const a = ev.target.closest ? ev.target.closest("a[href]") : null;
    if (!a || (a.target && a.target !== "_self") || a.hasAttribute("download")) return;
    const to = new URL(a.href, location.href);
    if (to.origin !== location.origin || to.pathname !== "/queue") return;
    const holders = within(document, "[data-release-url]");
    if (holders.length === 0) return;
    ev.preventDefault();
    leaving = true;
    const released = holders.map(function (el) {
      return fetch(el.getAttribute("data-release-url"), { method: "POST", credentials: "same-origin", keepalive: true })
        .then(function (r) { return r.ok; }, function () { return false; });
    });
    const go = function () { location.assign(to.pathname + to.search + to.hash); };
    Promise.all(released).then(function (oks) { leftReleased = oks.every(Boolean); });
    Promise.race([Promise.all(released), new Promise(function (done) { setTimeout(done, 2000); })]).then(go, go);
  });
  window.addEventListener("pageshow", function () { leaving = leftReleased = false; });

  // A lost claim matters more than the picture being looked at.
  document.addEventListener("portal:claim-lost", function () { Viewer.close(); });

  // ---------------------------------------------------------------------------
  // Claim lost: the decision panel locks at once and what was typed stays. Each
  // [data-lock-on-claim-lost] gets data-locked, class "locked" and a note at its top;
  // text fields turn read-only (their text stays visible, selectable and copyable, never
  // cleared), buttons, selects, radios and checkboxes are disabled, and its shortcut
  // links aria-disabled (activateShortcut skips those). Its forms no longer submit (see
  // Submitting). The heartbeat element no longer says "You are reviewing": it shows the
  // server's message as plain text.
  // ---------------------------------------------------------------------------
  const LOCKED_NOTE = "This case is no longer yours to decide. What you typed is kept below so you can copy it.";
  const LOST_NOTICE_401 = "Your session has ended. Sign in again in a new tab; what you typed stays here.";
  let claimLost = false;

  // The plain text of an error fragment (or of our own 409 text): its
  // [data-testid=error-message] if it has one, else all of it. Parsed in an inert
  // <template>: nothing in it runs or loads.
  function fragmentText(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    const msg = t.content.querySelector('[data-testid="error-message"]');
    return ((msg || t.content).textContent || "").replace(/\s+/g, " ").trim();
  }

  function lockPanel(panel) {
    if (panel.hasAttribute("data-locked")) return;
    panel.setAttribute("data-locked", "");
    panel.classList.add("locked");
    // The panel's controls, and those of its forms placed elsewhere (form="…": the
    // corrections made on the extracted data).
    const controls = within(panel, "button, select, input, textarea");
    within(panel, "form").forEach(function (form) {
      Array.from(form.elements).forEach(function (el) { if (controls.indexOf(el) < 0) controls.push(el); });
    });
    controls.forEach(function (el) {
      if (el.type === "hidden") return;
      if (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && isTextEntry(el))) el.readOnly = true;
      else el.disabled = true;
    });
    within(panel, "a[data-shortcut]").forEach(function (a) { a.setAttribute("aria-disabled", "true"); });
    const note = make("p", "locked-note", LOCKED_NOTE);
    note.setAttribute("role", "status");
    panel.insertBefore(note, panel.firstChild);
  }

  function loseClaim(el, status, fragment) {
    claimLost = true;
    el.textContent = status === 401 ? LOST_NOTICE_401 : fragmentText(fragment || LOST[409]);
    el.classList.remove("claim-mine");
    el.classList.add("claim-lost");
    el.setAttribute("data-testid", "claim-lost");
    within(document, "[data-lock-on-claim-lost]").forEach(lockPanel);
  }

  // An expired session answers htmx requests (polls included) 401 with HX-Redirect to
  // the sign-in page. On a page with a decision panel, going there would lose what was
  // typed: stay, lock the panel and say so (the heartbeat would find the same at its
  // next beat). htmx reads HX-Redirect only after htmx:beforeOnLoad, so cancelling it
  // keeps the page.
  document.addEventListener("htmx:beforeOnLoad", function (ev) {
    const xhr = ev.detail && ev.detail.xhr;
    if (!xhr || xhr.status !== 401 || claimLost) return;
    const el = document.querySelector("[data-heartbeat-url]");
    if (!el || !document.querySelector("[data-lock-on-claim-lost]")) return;
    ev.preventDefault();
    const s = beats.get(el);
    if (s) { s.stopped = true; clearTimeout(s.timer); }
    banner(LOST[401], true);
    loseClaim(el, 401, "");
    Idle.ended(false);
    document.dispatchEvent(new CustomEvent("portal:claim-lost", { detail: { status: 401, url: xhr.responseURL, element: el } }));
  });

  // A disabled-looking link in a locked panel does nothing when clicked either.
  document.addEventListener("click", function (ev) {
    if (ev.target.closest && ev.target.closest("[data-locked] a[aria-disabled='true']")) ev.preventDefault();
  }, true);

  // ---------------------------------------------------------------------------
  // Staying signed in. [data-idle-seconds] with data-keepalive-url runs an idle clock
  // that mirrors the server's idle timeout: the page load and every request the server
  // counts as activity reset it (htmx requests without X-Portal-Poll, form submissions,
  // the keepalive); heartbeats and polling do not. Two minutes before the end (at half
  // time when the limit is two minutes or less) a non-modal prompt offers "Stay signed
  // in"; when the time is up it says the session has ended, and the page stays as it is
  // so that nothing typed is lost. One timer, always recomputed from the timestamp of
  // the last activity: timers are throttled in background tabs and frozen in the
  // back-forward cache.
  // ---------------------------------------------------------------------------
  const Idle = (function () {
    const WARN = 120000; // ms before the end
    let last = Date.now(); // the last activity: the page load to begin with
    let timer = 0;
    let state = "counting"; // counting · warning · ended
    let prompt = null; // #idle-prompt while it is shown
    let ui = {};
    let before = null; // what had the focus before the prompt took it
    let busy = false;

    function host() { return document.querySelector("[data-idle-seconds]"); }
    function url() {
      const el = host();
      return (el && el.getAttribute("data-keepalive-url")) || "";
    }
    function limit(el) {
      const n = parseFloat(el.getAttribute("data-idle-seconds"));
      return n > 0 ? n * 1000 : 0;
    }
    function warnAfter(total) { return total > WARN ? total - WARN : total / 2; }

    function duration(ms) {
      const s = Math.max(1, Math.round(ms / 1000));
      if (s >= 60) {
        const m = Math.round(s / 60);
        return m + (m === 1 ? " minute" : " minutes");
      }
      return s + (s === 1 ? " second" : " seconds");
    }

    function check() {
      clearTimeout(timer);
      timer = 0;
      if (state === "ended") return;
      const el = host();
      const total = el ? limit(el) : 0;
      if (!total) { hide(); return; } // no clock on this page (any more)
      const idle = Date.now() - last;
      if (idle >= total) {
        end();
      } else if (idle >= warnAfter(total)) {
        if (state !== "warning") warn(total - idle);
        timer = setTimeout(check, total - idle);
      } else {
        hide();
        timer = setTimeout(check, warnAfter(total) - idle);
      }
    }

    // The prompt: at the top of #main, kept in view by CSS (position: sticky).
    function show() {
      if (prompt && prompt.isConnected) return;
      Viewer.close(); // the viewer makes the page inert: the prompt must be reachable
      within(document, "dialog[open]").forEach(function (d) {
        try { if (d.matches(":modal")) d.close(); } catch (e) { /* no :modal: leave it */ }
      });
      prompt = make("div", "idle-prompt");
      prompt.id = "idle-prompt";
      prompt.setAttribute("role", "alertdialog");
      prompt.setAttribute("aria-labelledby", "idle-prompt-text");
      prompt.setAttribute("data-testid", "idle-prompt");
      ui.text = make("p", "idle-prompt-text");
      ui.text.id = "idle-prompt-text";
      ui.text.setAttribute("aria-live", "assertive");
      ui.stay = make("button", "primary", "Stay signed in");
      ui.stay.type = "button";
      ui.stay.setAttribute("data-testid", "stay-signed-in");
      ui.stay.addEventListener("click", stay);
      ui.status = make("p", "hint idle-prompt-status");
      prompt.append(ui.text, ui.stay, ui.status);
      const main = document.getElementById("main") || document.body;
      main.insertBefore(prompt, main.firstChild);
    }

    function warn(remaining) {
      state = "warning";
      show();
      ui.text.textContent = "You will be signed out in " + duration(remaining) + " because of inactivity.";
      ui.stay.hidden = false;
      ui.status.textContent = "";
      const a = document.activeElement;
      if (!prompt.contains(a)) before = a;
      ui.stay.focus({ preventScroll: true });
    }

    function showEnded() {
      const active = document.activeElement;
      const focusHere = !active || active === document.body || (!!prompt && prompt.contains(active));
      show();
      const link = make("a", "", "Sign in again in a new tab");
      link.href = "/login";
      link.target = "_blank";
      link.rel = "noopener";
      link.setAttribute("data-testid", "idle-sign-in");
      ui.text.textContent = "";
      ui.text.append("Your session has ended. ", link, ", then send your decision; what you typed stays here.");
      ui.stay.hidden = true;
      ui.status.textContent = "";
      if (focusHere) link.focus({ preventScroll: true });
    }

    function hide() {
      if (state !== "ended") state = "counting";
      if (!prompt) return;
      const had = prompt.contains(document.activeElement);
      prompt.remove();
      prompt = null;
      ui = {};
      const back = before;
      before = null;
      if (!had) return;
      if (back && back !== document.body && back.isConnected && isVisible(back) && !isDisabled(back)) {
        back.focus({ preventScroll: true });
      } else {
        const main = document.getElementById("main");
        if (main) main.focus({ preventScroll: true });
      }
    }

    function end() {
      state = "ended";
      clearTimeout(timer);
      timer = 0;
      showEnded();
    }

    // Activity the server counts: the clock starts again (unless the session is known to
    // have ended: a request does not bring it back, only a keepalive answered 204 does).
    function touch() {
      if (state === "ended") return;
      last = Date.now();
      check();
    }

    function alive(since) {
      last = Math.max(last, since);
      state = "counting";
      check();
    }

    // The session is gone (a keepalive, heartbeat or guard got 401). The prompt, when it
    // is shown or when show is set, says so.
    function ended(showPrompt) {
      state = "ended";
      clearTimeout(timer);
      timer = 0;
      if (showPrompt || (prompt && prompt.isConnected)) showEnded();
    }

    // POSTs the keepalive URL, as a request that counts (no X-Portal-Poll). Resolves to
    // the HTTP status, 0 when the network failed.
    function keepalive(to) {
      const sent = Date.now();
      return fetch(to, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "HX-Request": "true" }
      }).then(function (res) {
        if (res.ok && !res.redirected) alive(sent);
        else if (res.status === 401) ended(false);
        return res.status;
      }, function () { return 0; });
    }

    function stay() {
      const to = url();
      if (busy || !to) return;
      busy = true;
      ui.status.textContent = "";
      keepalive(to).then(function (status) {
        busy = false;
        if (status !== 401 && !(status >= 200 && status < 300) && prompt && state === "warning") {
          ui.status.textContent = "The portal did not answer. Try again in a moment.";
        }
      });
    }

    // Background tabs: the timer may have been late; check against the clock.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") check();
    });
    window.addEventListener("pageshow", function (ev) { if (ev.persisted) check(); });

    // htmx requests count unless they are polls.
    document.addEventListener("htmx:beforeSend", function (ev) {
      const cfg = ev.detail && ev.detail.requestConfig;
      const headers = (cfg && cfg.headers) || {};
      const poll = Object.keys(headers).some(function (k) {
        return k.toLowerCase() === "x-portal-poll" && !!headers[k];
      });
      if (!poll) touch();
    });

    // Start-up: (re)computes the clock, e.g. when htmx brought the [data-idle-seconds] element.
    function start(scope) {
      if (within(scope, "[data-idle-seconds]").length) check();
    }

    return { start: start, touch: touch, ended: ended, keepalive: keepalive, url: url };
  })();

  // ---------------------------------------------------------------------------
  // Submitting. form[data-auto-submit] is sent once when the page is ready: the
  // same-origin POST that claims the process (a form submission for the release logic,
  // not leaving the page). A form in a locked panel never submits, not even by Enter in
  // a field. form[data-check-session] first POSTs the keepalive URL: 204 sends it for
  // real, 401 keeps the page (and what was typed) and says so in a sticky banner, a
  // network error sends it anyway (the server decides). It is sent once, however often
  // it is clicked.
  // ---------------------------------------------------------------------------
  const SESSION_ENDED_BANNER = "<strong>Your session has ended.</strong> " +
    "<a href=\"/login\" target=\"_blank\" rel=\"noopener\">Sign in again in a new tab</a>, then send again; what you typed is kept.";
  const sending = new WeakMap(); // form[data-check-session] → entry while checking or once sent
  let generation = 0; // a page back from the back-forward cache may send again
  let passing = null; // the form being sent for real through requestSubmit
  let autoSubmitted = false;

  function autoSubmit(scope) {
    if (autoSubmitted) return;
    const form = within(scope, "form[data-auto-submit]")[0];
    if (!form) return;
    autoSubmitted = true;
    if (typeof form.requestSubmit === "function") {
      HTMLFormElement.prototype.requestSubmit.call(form);
    } else {
      submitting = true;
      Idle.touch();
      HTMLFormElement.prototype.submit.call(form);
    }
  }

  // The form went (or goes) to the server: further submits are dropped, unless someone
  // else prevented this one after us (e.g. htmx sending it itself).
  function markSent(form, ev) {
    const entry = { gen: generation };
    sending.set(form, entry);
    setTimeout(function () {
      if (ev.defaultPrevented && sending.get(form) === entry) sending.delete(form);
    }, 0);
  }

  function sendChecked(form, submitter) {
    if (!form.isConnected || form.closest("[data-locked]")) { sending.delete(form); return; }
    syncCorrections(form);
    if (submitter && submitter.name && submitter.form === form && !submitter.disabled &&
        typeof form.requestSubmit === "function") {
      // requestSubmit keeps the clicked button's name and value; the guard lets it pass.
      passing = form;
      try {
        HTMLFormElement.prototype.requestSubmit.call(form, submitter);
      } finally {
        if (passing === form) { passing = null; sending.delete(form); } // invalid: not sent
      }
      return;
    }
    sending.set(form, { gen: generation });
    submitting = true;
    Idle.touch();
    HTMLFormElement.prototype.submit.call(form);
  }

  function guardSession(ev) {
    const form = ev.target;
    if (passing === form) { passing = null; markSent(form, ev); return; }
    if (!form.matches("form[data-check-session]")) return;
    const cur = sending.get(form);
    if (cur && cur.gen === generation) { ev.preventDefault(); return; } // a second click
    const to = Idle.url();
    if (!to) { markSent(form, ev); return; } // no keepalive on this page: as it is
    ev.preventDefault();
    sending.set(form, { gen: generation });
    const submitter = ev.submitter;
    Idle.keepalive(to).then(function (status) {
      if (status === 401) {
        sending.delete(form);
        banner(SESSION_ENDED_BANNER, true);
        return;
      }
      sendChecked(form, submitter);
    });
  }

  // Capture: before htmx and the release logic see the submit.
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.closest("[data-locked]")) {
      ev.preventDefault();
      ev.stopPropagation();
      return;
    }
    syncCorrections(form);
    guardSession(ev);
  }, true);
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) generation++; });

  // ---------------------------------------------------------------------------
  // Video seek: <button data-seek-target="#liveness" data-seek="12.5">. Seconds, or
  // m:ss / h:mm:ss.
  // ---------------------------------------------------------------------------
  function parseTime(s) {
    const parts = String(s || "").trim().split(":");
    if (parts.length > 3) return NaN;
    return parts.reduce(function (acc, p) {
      return p.trim() === "" ? NaN : acc * 60 + Number(p);
    }, 0);
  }

  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest && ev.target.closest("[data-seek-target][data-seek]");
    if (!btn) return;
    let video = null;
    try { video = document.querySelector(btn.getAttribute("data-seek-target")); } catch (e) { return; }
    const t = parseTime(btn.getAttribute("data-seek"));
    if (!(video instanceof HTMLMediaElement) || !(t >= 0)) return;
    ev.preventDefault();
    video.currentTime = isFinite(video.duration) ? Math.min(t, video.duration) : t;
    const r = video.getBoundingClientRect();
    if (r.bottom < 0 || r.top > window.innerHeight) video.scrollIntoView({ block: "nearest" });
  });

  // ---------------------------------------------------------------------------
  // Corrections: an input with data-original is highlighted once its value differs,
  // so the agent sees which extracted fields they changed before accepting. The form's
  // [data-corrections-summary] lists them live (label: old → new, text only), and its
  // hidden corrections_seen says what the agent saw: JSON [[key, new value], ...] sorted
  // by key, "" when nothing changed. The server compares it with what it computes, so
  // the format (and the comparison: value trimmed ≠ data-original) must not drift.
  // ---------------------------------------------------------------------------
  function isChanged(el) { return el.value.trim() !== el.getAttribute("data-original"); }
  function correctionKey(el) { return el.name.replace(/^field\./, ""); }

  // The form's named inputs with data-original whose value differs, in document order.
  function corrections(form) {
    return Array.from(form.elements).filter(function (el) {
      return el instanceof HTMLInputElement && el.hasAttribute("data-original") && !!el.name && isChanged(el);
    });
  }

  function correctionLabel(el) {
    const own = el.getAttribute("data-label");
    if (own) return own;
    const label = el.labels && el.labels[0];
    return (label && label.textContent.replace(/\s+/g, " ").trim()) || correctionKey(el);
  }

  function renderSummary(box, changed) {
    const isList = box.tagName === "UL" || box.tagName === "OL";
    box.textContent = "";
    box.classList.toggle("has-corrections", changed.length > 0);
    if (!changed.length) {
      const empty = box.getAttribute("data-empty") || "";
      if (!isList) box.textContent = empty;
      else if (empty) box.appendChild(make("li", "corrections-empty", empty));
      return;
    }
    const list = isList ? box : box.appendChild(make("ul", "corrections-list"));
    changed.forEach(function (el) {
      const was = el.getAttribute("data-original"), now = el.value.trim();
      const li = make("li");
      li.setAttribute("data-field", correctionKey(el));
      li.append(make("span", "correction-label", correctionLabel(el)), ": ",
        make("span", "correction-old" + (was ? "" : " is-empty"), was || "(empty)"), " \u2192 ",
        make("span", "correction-new" + (now ? "" : " is-empty"), now || "(empty)"));
      list.appendChild(li);
    });
  }

  function syncCorrections(form) {
    const changed = corrections(form);
    const seen = Array.from(form.elements).find(function (el) { return el.name === "corrections_seen"; });
    if (seen) {
      const pairs = changed.map(function (el) { return [correctionKey(el), el.value.trim()]; });
      pairs.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0; });
      seen.value = pairs.length ? JSON.stringify(pairs) : "";
    }
    within(form, "[data-corrections-summary]").forEach(function (box) { renderSummary(box, changed); });
  }

  // An input's [data-was-for] shows what was read and the new value (old → new) beside
  // the field once it differs.
  function markCorrected(el) {
    const changed = isChanged(el);
    el.classList.toggle("corrected", changed);
    if (!el.id) return;
    within(document, "[data-was-for]").forEach(function (was) {
      if (was.getAttribute("data-was-for") !== el.id) return;
      was.hidden = !changed;
      const now = was.querySelector(".correction-new");
      if (now) {
        const v = el.value.trim();
        now.textContent = v || "(empty)";
        now.classList.toggle("is-empty", !v);
      }
    });
  }

  document.addEventListener("input", function (ev) {
    const el = ev.target;
    if (!(el instanceof HTMLInputElement) || !el.hasAttribute("data-original")) return;
    markCorrected(el);
    if (el.form) syncCorrections(el.form);
  });
  document.addEventListener("reset", function (ev) {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    setTimeout(function () { // the values go back after the event
      within(form, "input[data-original]").forEach(markCorrected);
      syncCorrections(form);
    }, 0);
  });

  // Start-up: the browser may have restored typed values (history navigation).
  function enhanceCorrections(scope) {
    const forms = [];
    within(scope, "input[data-original], [data-corrections-summary], input[name=corrections_seen]").forEach(function (el) {
      if (el.matches("input[data-original]")) markCorrected(el);
      const form = el.form || el.closest("form");
      if (form && forms.indexOf(form) < 0) forms.push(form);
    });
    forms.forEach(syncCorrections);
  }

  // ---------------------------------------------------------------------------
  // Decision bar (issue 12): a[data-decide-open="<form id>"] opens that form in place and
  // closes the others (one at a time, the escalation's <details> included);
  // [data-decide-close] and Escape inside the bar close it and give the focus back to
  // the button that opened it. Without JavaScript the links reach the forms by :target.
  // ---------------------------------------------------------------------------
  const Decide = (function () {
    function bar(el) { return el && el.closest ? el.closest(".decision-bar") : null; }

    function setOpen(root, id) {
      within(root, ".decide-form").forEach(function (f) { f.classList.toggle("open", f.id === id); });
      within(root, "[data-decide-open]").forEach(function (a) {
        a.setAttribute("aria-expanded", a.getAttribute("data-decide-open") === id ? "true" : "false");
      });
      if (id) within(root, "details.escalate[open]").forEach(function (d) { d.open = false; });
      root.classList.toggle("has-open", !!id || within(root, "details.escalate[open]").length > 0);
      if (location.hash && location.hash.length > 1 && history.replaceState) {
        const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
        if (target && root.contains(target)) history.replaceState(history.state, "", location.pathname + location.search);
      }
    }

    function close(root) {
      const open = within(root, ".decide-form.open")[0];
      const opener = open && root.querySelector('[data-decide-open="' + open.id + '"]');
      const esc = within(root, "details.escalate[open]")[0];
      setOpen(root, "");
      if (esc) {
        esc.open = false;
        const s = esc.querySelector("summary");
        if (s) s.focus();
      } else if (opener) {
        opener.focus();
      }
    }

    document.addEventListener("click", function (ev) {
      const t = ev.target;
      const openLink = t.closest && t.closest("[data-decide-open]");
      const closeLink = !openLink && t.closest && t.closest("[data-decide-close]");
      const root = bar(openLink || closeLink);
      if (!root) return;
      ev.preventDefault();
      if (root.hasAttribute("data-locked") && openLink && openLink.getAttribute("aria-disabled") === "true") return;
      if (openLink) setOpen(root, openLink.getAttribute("data-decide-open"));
      else close(root);
    });

    // Opening the escalation closes the accept and reject forms.
    document.addEventListener("toggle", function (ev) {
      const d = ev.target;
      if (!(d instanceof HTMLDetailsElement) || !d.classList.contains("escalate")) return;
      const root = bar(d);
      if (root && d.open) setOpen(root, "");
      if (root) root.classList.toggle("has-open", d.open || within(root, ".decide-form.open").length > 0);
    }, true);

    document.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape" || ev.defaultPrevented || Viewer.isOpen() || modalOpen()) return;
      const root = bar(ev.target && ev.target.nodeType === 1 ? ev.target : null);
      if (!root || !(within(root, ".decide-form.open").length || within(root, "details.escalate[open]").length)) return;
      ev.preventDefault();
      close(root);
    });

    return { setOpen: setOpen };
  })();

  // ---------------------------------------------------------------------------
  // Case timeline notes (issue 11). htmx does not swap error answers; a form with
  // data-swap-refused asks for its refusals (403, 409, 422: the form again, with the
  // message beside the field and the text kept) to be swapped like a success, without the
  // error banner. After such a form's answer is swapped in, focus goes back to the note
  // field (holding the refused text, or empty after a note was added), so a keyboard
  // user carries on where they were.
  // ---------------------------------------------------------------------------
  const SWAP_REFUSED = [403, 409, 422];
  document.addEventListener("htmx:beforeSwap", function (ev) {
    const d = ev.detail;
    const elt = d && d.requestConfig && d.requestConfig.elt;
    if (!d.xhr || SWAP_REFUSED.indexOf(d.xhr.status) < 0 || !elt || !elt.closest) return;
    if (!elt.closest("form[data-swap-refused]")) return;
    d.shouldSwap = true;
    d.isError = false;
  });
  document.addEventListener("htmx:afterSettle", function (ev) {
    const elt = ev.detail && ev.detail.requestConfig && ev.detail.requestConfig.elt;
    if (!elt || !elt.matches || !elt.matches("form[data-swap-refused]")) return;
    const field = document.querySelector("#note-form textarea");
    if (field) field.focus({ preventScroll: false });
  });

  // ---------------------------------------------------------------------------
  // Start-up, and again for every piece of content htmx adds.
  // ---------------------------------------------------------------------------
  function enhance(scope) {
    Viewer.enhance(scope);
    enhanceShortcuts(scope);
    startHeartbeats(scope);
    if (claimLost) within(scope, "[data-lock-on-claim-lost]").forEach(lockPanel);
    enhanceCorrections(scope);
    Idle.start(scope);
    autoSubmit(scope); // last: the page is ready
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  } else {
    enhance(document);
  }
  document.addEventListener("htmx:load", function (ev) { enhance(ev.target); });
})();
