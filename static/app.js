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
//
// Sections: helpers · copy buttons · error banner · evidence viewer · queue selection ·
// keyboard shortcuts · focus after activation · claim heartbeat and release · video seek ·
// start-up.
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
  // claim is gone: stop, say so, and fire "portal:claim-lost". Other failures are
  // transient: try again at the next beat.
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
    409: "<strong>This process is no longer claimed by you.</strong> Another reviewer may have taken it; reload the page before deciding.",
    401: "<strong>Your session has ended.</strong> Sign in again to continue."
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
        banner(isErrorFragment(res.headers.get("Content-Type"), text) ? text : LOST[res.status], true);
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

  // Release on pagehide, also when the page goes into the back-forward cache
  // (event.persisted): a page that is kept there may never be shown again, and holding
  // the claim until it expires would block colleagues. If the agent does come back, the
  // immediate heartbeat above gets 409 and says so. pagehide (not unload) keeps the
  // page eligible for that cache.
  // Submitting a form of the page (deciding, or a release button) is not leaving the
  // process: the server ends or keeps the claim itself, and a form returned with an
  // error must still find the claim held.
  let submitting = false;
  document.addEventListener("submit", function (ev) {
    if (!ev.defaultPrevented && !(ev.target.getAttribute && ev.target.hasAttribute("hx-post"))) submitting = true;
  });
  window.addEventListener("pageshow", function () { submitting = false; });
  window.addEventListener("pagehide", function () {
    if (submitting) return;
    within(document, "[data-release-url]").forEach(function (el) {
      const url = el.getAttribute("data-release-url");
      let queued = false;
      try { queued = !!(navigator.sendBeacon && navigator.sendBeacon(url)); } catch (e) { queued = false; }
      if (!queued) {
        fetch(url, { method: "POST", credentials: "same-origin", keepalive: true }).catch(function () {});
      }
    });
  });

  // A lost claim matters more than the picture being looked at.
  document.addEventListener("portal:claim-lost", function () { Viewer.close(); });

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
  // so the agent sees which extracted fields they changed before accepting.
  // ---------------------------------------------------------------------------
  document.addEventListener("input", function (ev) {
    const el = ev.target;
    if (!(el instanceof HTMLInputElement) || !el.hasAttribute("data-original")) return;
    el.classList.toggle("corrected", el.value.trim() !== el.getAttribute("data-original"));
  });

  // ---------------------------------------------------------------------------
  // Start-up, and again for every piece of content htmx adds.
  // ---------------------------------------------------------------------------
  function enhance(scope) {
    Viewer.enhance(scope);
    enhanceShortcuts(scope);
    startHeartbeats(scope);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  } else {
    enhance(document);
  }
  document.addEventListener("htmx:load", function (ev) { enhance(ev.target); });
})();
