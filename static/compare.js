// compare.js: the comparison tools of the process page (issue 12, item 2). No inline
// scripts or style attributes (CSP): the look is compare.css, driven by classes and by
// custom properties set through the CSSOM (element.style.setProperty), which the CSP allows.
//
// DOM contract (views/compare.templ):
//   [data-compare="faces"] data-lang    the face comparison; its custom properties
//                                       --cmp-scale --cmp-x --cmp-y (linked zoom and pan),
//                                       --cmp-brightness --cmp-contrast --cmp-opacity
//     [data-cmp-stage]                  the two panes; class cmp-overlay / cmp-blink by mode
//     [data-cmp-pane=portrait|selfie]   one image each; class is-off while blinked away
//     [data-cmp=zoom-in|zoom-out|reset-view|reset|pause]   buttons
//     [data-cmp-mode=side|overlay|blink]                   mode toggles (aria-pressed)
//     [data-cmp-input=opacity|brightness|contrast]         sliders; [data-cmp-field=opacity]
//     [data-cmp-zoom]                   the zoom level as text
//   [data-compare="video"] data-lang    the video player around video#liveness-video
//     [data-cmp-rate="<rate>"]          speed toggles (aria-pressed)
//     [data-cmp=frame-back|frame-forward|loop-start|loop-end|loop|loop-clear]
//     [data-cmp-range=none|set|from|to] the loop range as text
// Keys (listed under "?" by views.CompareShortcuts): + - 0 o b, arrows on the focused
// faces; p < > , . [ ] l for the video. Never in a text field, with Ctrl/Meta/Alt, or
// while a dialog (the help, the image viewer) is open.
(function () {
  "use strict";

  const ZOOM_STEP = 1.25, ZOOM_MIN = 1, ZOOM_MAX = 8, PAN = 40, BLINK_MS = 700, FRAME = 1 / 30;
  const SPEEDS = [0.25, 0.5, 1, 1.5, 2];

  function within(root, selector) {
    const found = Array.from((root || document).querySelectorAll(selector));
    if (root && root.nodeType === 1 && root.matches(selector)) found.unshift(root);
    return found;
  }

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  function visible(el) {
    if (!el.isConnected || el.closest("[inert]")) return false;
    if (typeof el.checkVisibility === "function") return el.checkVisibility({ visibilityProperty: true });
    return el.getClientRects().length > 0;
  }

  function setPressed(el, on) { if (el) el.setAttribute("aria-pressed", on ? "true" : "false"); }

  // ---------------------------------------------------------------------------
  // Faces: linked zoom and pan, modes, brightness and contrast
  // ---------------------------------------------------------------------------
  const faces = new WeakMap(); // root → state

  function initFaces(root) {
    if (faces.has(root)) return;
    const stage = root.querySelector("[data-cmp-stage]");
    const s = {
      root: root, stage: stage, scale: 1, x: 0, y: 0, mode: "side",
      timer: 0, paused: false, drag: null,
      two: within(root, "[data-cmp-pane]").length === 2
    };
    faces.set(root, s);
    if (!stage) return; // no image at all: only the note

    root.addEventListener("click", function (ev) {
      const b = ev.target.closest("button");
      if (!b || !root.contains(b) || b.disabled) return;
      const mode = b.getAttribute("data-cmp-mode");
      if (mode) { setMode(s, mode === s.mode && mode !== "side" ? "side" : mode); return; }
      switch (b.getAttribute("data-cmp")) {
        case "zoom-in": zoomAt(s, ZOOM_STEP, 0, 0); break;
        case "zoom-out": zoomAt(s, 1 / ZOOM_STEP, 0, 0); break;
        case "reset-view": resetView(s); break;
        case "reset": resetAll(s); break;
        case "pause": setPaused(s, !s.paused); break;
      }
    });
    root.addEventListener("input", function (ev) {
      const name = ev.target.getAttribute && ev.target.getAttribute("data-cmp-input");
      if (name) setFilter(s, name, ev.target.value);
    });

    stage.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      let dy = ev.deltaY;
      if (ev.deltaMode === 1) dy *= 33; // lines
      else if (ev.deltaMode === 2) dy *= 400; // pages
      const p = pointIn(s, ev);
      zoomAt(s, Math.exp(-clamp(dy, -200, 200) * 0.0025), p.x, p.y);
    }, { passive: false });
    stage.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) return;
      s.drag = { id: ev.pointerId, sx: ev.clientX, sy: ev.clientY, x: s.x, y: s.y };
      try { stage.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic pointer */ }
      root.classList.add("is-dragging");
    });
    stage.addEventListener("pointermove", function (ev) {
      const d = s.drag;
      if (!d || d.id !== ev.pointerId) return;
      s.x = d.x + ev.clientX - d.sx;
      s.y = d.y + ev.clientY - d.sy;
      apply(s);
    });
    function endDrag(ev) {
      if (!s.drag || s.drag.id !== ev.pointerId) return;
      s.drag = null;
      root.classList.remove("is-dragging");
    }
    stage.addEventListener("pointerup", endDrag);
    stage.addEventListener("pointercancel", endDrag);
    stage.addEventListener("lostpointercapture", endDrag);
    stage.addEventListener("dblclick", function (ev) {
      const p = pointIn(s, ev);
      if (s.scale > ZOOM_MIN) resetView(s);
      else zoomAt(s, 2, p.x, p.y);
    });
    // Arrows move the view like scrolling: Right shows more of the right side.
    stage.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const n = PAN * (ev.shiftKey ? 3 : 1);
      switch (ev.key) {
        case "ArrowLeft": pan(s, n, 0); break;
        case "ArrowRight": pan(s, -n, 0); break;
        case "ArrowUp": pan(s, 0, n); break;
        case "ArrowDown": pan(s, 0, -n); break;
        default: return;
      }
      ev.preventDefault();
    });
    apply(s);
  }

  // The first frame's size: both frames have the same in every mode.
  function frameSize(s) {
    const f = s.stage && s.stage.querySelector(".cmp-frame");
    return f ? { w: f.clientWidth, h: f.clientHeight } : { w: 0, h: 0 };
  }

  // The pointer relative to the centre of the frame it is over (or the first frame).
  function pointIn(s, ev) {
    const f = (ev.target.closest && ev.target.closest(".cmp-frame")) || s.stage.querySelector(".cmp-frame");
    if (!f) return { x: 0, y: 0 };
    const r = f.getBoundingClientRect();
    return { x: ev.clientX - (r.left + r.width / 2), y: ev.clientY - (r.top + r.height / 2) };
  }

  function apply(s) {
    const size = frameSize(s);
    const mx = (s.scale - 1) * size.w / 2, my = (s.scale - 1) * size.h / 2;
    s.x = clamp(s.x, -mx, mx);
    s.y = clamp(s.y, -my, my);
    const st = s.root.style;
    st.setProperty("--cmp-scale", String(s.scale));
    st.setProperty("--cmp-x", s.x.toFixed(1) + "px");
    st.setProperty("--cmp-y", s.y.toFixed(1) + "px");
    const out = s.root.querySelector("[data-cmp-zoom]");
    if (out) out.textContent = Math.round(s.scale * 100) + " %";
  }

  // Zooms by factor keeping the point (px, py), relative to the frame's centre, in place.
  function zoomAt(s, factor, px, py) {
    if (!s.stage) return false;
    const next = clamp(s.scale * factor, ZOOM_MIN, ZOOM_MAX);
    const k = next / s.scale;
    s.x = px - (px - s.x) * k;
    s.y = py - (py - s.y) * k;
    s.scale = next;
    apply(s);
    return true;
  }

  function pan(s, dx, dy) { s.x += dx; s.y += dy; apply(s); }

  function resetView(s) {
    if (!s.stage) return false;
    s.scale = 1; s.x = 0; s.y = 0;
    apply(s);
    return true;
  }

  const FILTERS = { brightness: "--cmp-brightness", contrast: "--cmp-contrast", opacity: "--cmp-opacity" };

  function setFilter(s, name, value) {
    const prop = FILTERS[name];
    const n = parseFloat(value);
    if (!prop || !isFinite(n)) return;
    s.root.style.setProperty(prop, String(n / 100));
  }

  function resetAll(s) {
    within(s.root, "[data-cmp-input]").forEach(function (input) {
      input.value = input.defaultValue;
      setFilter(s, input.getAttribute("data-cmp-input"), input.value);
    });
    setMode(s, "side");
    resetView(s);
  }

  function setMode(s, mode) {
    if (!s.stage) return false;
    if (mode !== "side" && !s.two) return false; // overlay and blink need both faces
    s.mode = mode;
    s.root.setAttribute("data-mode", mode);
    s.stage.classList.toggle("cmp-overlay", mode === "overlay");
    s.stage.classList.toggle("cmp-blink", mode === "blink");
    within(s.root, "[data-cmp-mode]").forEach(function (b) { setPressed(b, b.getAttribute("data-cmp-mode") === mode); });
    const field = s.root.querySelector("[data-cmp-field=opacity]");
    if (field) field.hidden = mode !== "overlay";
    const pause = s.root.querySelector("[data-cmp=pause]");
    if (pause) pause.hidden = mode !== "blink";
    stopBlink(s);
    s.paused = false;
    setPressed(pause, false);
    within(s.stage, "[data-cmp-pane]").forEach(function (p) { p.classList.remove("is-off"); });
    if (mode === "blink") {
      showPane(s, "portrait");
      startBlink(s);
    }
    apply(s); // the frame's size changes with the layout
    return true;
  }

  function showPane(s, which) {
    s.showing = which;
    within(s.stage, "[data-cmp-pane]").forEach(function (p) {
      p.classList.toggle("is-off", p.getAttribute("data-cmp-pane") !== which);
    });
  }

  function startBlink(s) {
    stopBlink(s);
    s.timer = setInterval(function () {
      if (!s.root.isConnected || s.mode !== "blink") { stopBlink(s); return; }
      showPane(s, s.showing === "portrait" ? "selfie" : "portrait");
    }, BLINK_MS);
  }

  function stopBlink(s) {
    if (s.timer) clearInterval(s.timer);
    s.timer = 0;
  }

  function setPaused(s, paused) {
    if (s.mode !== "blink") return;
    s.paused = paused;
    setPressed(s.root.querySelector("[data-cmp=pause]"), paused);
    if (paused) stopBlink(s);
    else startBlink(s);
  }

  // ---------------------------------------------------------------------------
  // Video: speed, frame step, loop of a range
  // ---------------------------------------------------------------------------
  const videos = new WeakMap(); // root → state

  function initVideo(root) {
    const video = root.querySelector("video");
    if (videos.has(root) || !video) return;
    const s = { root: root, video: video, start: null, end: null, loop: false, watching: false };
    videos.set(root, s);

    root.addEventListener("click", function (ev) {
      const b = ev.target.closest("button");
      if (!b || !root.contains(b) || b.disabled) return;
      const rate = b.getAttribute("data-cmp-rate");
      if (rate) { setRate(s, parseFloat(rate)); return; }
      switch (b.getAttribute("data-cmp")) {
        case "frame-back": frameStep(s, -1); break;
        case "frame-forward": frameStep(s, 1); break;
        case "loop-start": setStart(s); break;
        case "loop-end": setEnd(s); break;
        case "loop": setLoop(s, !s.loop); break;
        case "loop-clear": clearRange(s); break;
      }
    });
    video.addEventListener("ratechange", function () { showRate(s); });
    video.addEventListener("loadedmetadata", function () { showRange(s); });
    video.addEventListener("durationchange", function () { showRange(s); });
    video.addEventListener("play", function () { watch(s); });
    video.addEventListener("timeupdate", function () { checkLoop(s); });
    video.addEventListener("ended", function () {
      if (!s.loop) return;
      video.currentTime = from(s);
      const p = video.play();
      if (p && p.catch) p.catch(function () { /* stays paused */ });
    });
    showRate(s);
    showRange(s);
  }

  function setRate(s, rate) {
    if (!isFinite(rate) || rate <= 0) return;
    s.video.playbackRate = rate;
    s.video.defaultPlaybackRate = rate; // kept when the video reloads
    showRate(s);
  }

  // One step slower (-1) or faster (+1) in SPEEDS, from the nearest one.
  function stepRate(s, dir) {
    const cur = s.video.playbackRate;
    let i = 0;
    SPEEDS.forEach(function (r, j) { if (Math.abs(r - cur) < Math.abs(SPEEDS[i] - cur)) i = j; });
    setRate(s, SPEEDS[clamp(i + dir, 0, SPEEDS.length - 1)]);
  }

  function showRate(s) {
    const cur = s.video.playbackRate;
    within(s.root, "[data-cmp-rate]").forEach(function (b) {
      setPressed(b, Math.abs(parseFloat(b.getAttribute("data-cmp-rate")) - cur) < 1e-6);
    });
  }

  function duration(s) {
    const d = s.video.duration;
    return isFinite(d) && d > 0 ? d : null;
  }

  function frameStep(s, dir) {
    const v = s.video;
    v.pause();
    const d = duration(s);
    v.currentTime = clamp(v.currentTime + dir * FRAME, 0, d === null ? Infinity : d);
  }

  function from(s) { return s.start === null ? 0 : s.start; }
  function to(s) { return s.end === null ? duration(s) : s.end; }

  function setStart(s) {
    const t = s.video.currentTime;
    s.start = t;
    if (s.end !== null && s.end <= t) s.end = null;
    showRange(s);
  }

  function setEnd(s) {
    const t = s.video.currentTime;
    if (t <= 0) return; // a range cannot end at the very start
    s.end = t;
    if (s.start !== null && s.start >= t) s.start = null;
    showRange(s);
  }

  function clearRange(s) {
    s.start = null;
    s.end = null;
    showRange(s);
  }

  function setLoop(s, on) {
    s.loop = on;
    setPressed(s.root.querySelector("[data-cmp=loop]"), on);
    if (!on) return;
    const v = s.video, end = to(s);
    if (v.currentTime < from(s) || (end !== null && v.currentTime >= end)) v.currentTime = from(s);
    watch(s);
  }

  // Back to the range's start once playback reaches its end. timeupdate comes only a
  // few times a second, so while the video plays each animation frame checks too.
  function checkLoop(s) {
    if (!s.loop || s.end === null) return;
    const v = s.video;
    if (v.currentTime >= s.end) {
      v.currentTime = from(s);
      s.root.dispatchEvent(new CustomEvent("compare:looped", { bubbles: true }));
    }
  }

  function watch(s) {
    if (s.watching) return;
    s.watching = true;
    const tick = function () {
      if (!s.loop || s.video.paused || !s.root.isConnected) { s.watching = false; return; }
      checkLoop(s);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  function formatTime(s, t) {
    const lang = s.root.getAttribute("data-lang") || document.documentElement.lang || "en";
    let text;
    try {
      text = t.toLocaleString(lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    } catch (e) {
      text = t.toFixed(2);
    }
    return text + "\u00a0s";
  }

  function showRange(s) {
    const none = s.root.querySelector("[data-cmp-range=none]");
    const set = s.root.querySelector("[data-cmp-range=set]");
    const any = s.start !== null || s.end !== null;
    if (none) none.hidden = any;
    if (set) set.hidden = !any;
    if (!any) return;
    const end = to(s);
    s.root.querySelector("[data-cmp-range=from]").textContent = formatTime(s, from(s));
    s.root.querySelector("[data-cmp-range=to]").textContent = end === null ? "\u2026" : formatTime(s, end);
  }

  function togglePlay(s) {
    const v = s.video;
    if (v.paused) {
      const p = v.play();
      if (p && p.catch) p.catch(function () { /* blocked or no source: stays paused */ });
    } else {
      v.pause();
    }
  }

  // ---------------------------------------------------------------------------
  // Keyboard shortcuts: one listener; acts only when the page has the tools.
  // ---------------------------------------------------------------------------
  const NOT_TEXT = ["checkbox", "radio", "button", "submit", "reset", "image", "range", "color", "file"];
  function isTextEntry(el) {
    if (!el || el.nodeType !== 1) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && NOT_TEXT.indexOf((el.type || "text").toLowerCase()) < 0;
  }

  // Ctrl, Meta and Alt belong to the browser; AltGr (Ctrl+Alt on Windows) types
  // characters such as [ and ] on many keyboards, so it does not count.
  function commandKey(ev) {
    if (ev.getModifierState && ev.getModifierState("AltGraph")) return ev.metaKey;
    return ev.ctrlKey || ev.metaKey || ev.altKey;
  }

  function dialogOpen(target) {
    if (target.closest("dialog, [role=dialog], [role=alertdialog]")) return true;
    if (within(document, "dialog[open]").some(function (d) {
      try { return d.matches(":modal"); } catch (e) { return true; }
    })) return true;
    return within(document, "[aria-modal=true]").some(function (d) { return !d.hidden && visible(d); });
  }

  function first(map, selector) {
    const el = within(document, selector).find(function (e) { return map.has(e) && visible(e); });
    return el ? map.get(el) : null;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.isComposing || commandKey(ev)) return;
    const t = ev.target && ev.target.nodeType === 1 ? ev.target : document.body;
    if (isTextEntry(t)) return;
    const f = first(faces, "[data-compare=faces]");
    const v = first(videos, "[data-compare=video]");
    if (!f && !v) return;
    if (dialogOpen(t)) return;
    const raw = ev.key || "";
    const key = raw.length === 1 && !ev.shiftKey ? raw.toLowerCase() : raw;
    let done = false;
    if (f) {
      switch (key) {
        case "+": case "=": done = zoomAt(f, ZOOM_STEP, 0, 0); break;
        case "-": case "_": done = zoomAt(f, 1 / ZOOM_STEP, 0, 0); break;
        case "0": done = resetView(f); break;
        case "o": done = setMode(f, f.mode === "overlay" ? "side" : "overlay"); break;
        case "b": done = setMode(f, f.mode === "blink" ? "side" : "blink"); break;
      }
    }
    if (!done && v) {
      done = true;
      switch (key) {
        case "p": togglePlay(v); break;
        case "<": stepRate(v, -1); break;
        case ">": stepRate(v, 1); break;
        case ",": frameStep(v, -1); break;
        case ".": frameStep(v, 1); break;
        case "[": setStart(v); break;
        case "]": setEnd(v); break;
        case "l": setLoop(v, !v.loop); break;
        default: done = false;
      }
    }
    if (done) ev.preventDefault();
  });

  // ---------------------------------------------------------------------------
  // Start-up: the page as loaded, and whatever htmx swaps in later.
  // ---------------------------------------------------------------------------
  function init(scope) {
    within(scope, "[data-compare=faces]").forEach(initFaces);
    within(scope, "[data-compare=video]").forEach(initVideo);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
  document.addEventListener("htmx:load", function (ev) {
    if (ev.target && ev.target.nodeType === 1) init(ev.target);
  });
  // Images settle their size late: keep the pan inside the frames.
  window.addEventListener("resize", function () {
    within(document, "[data-compare=faces]").forEach(function (root) {
      const s = faces.get(root);
      if (s && s.stage) apply(s);
    });
  });
})();
