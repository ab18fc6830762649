/* artforge gallery: lightbox with zoom and pan, before/after slider with zoom, epoch timeline,
   curves, sortable tables, "show all", run comparison, copy buttons.
   Vanilla JS, no network. Text from the page goes in with textContent only. */
(function () {
  "use strict";

  /* ---- zoom and pan: one transform for one or more images -------------------------------- */
  function Zoom(box, imgs, level) {
    var z = { s: 1, x: 0, y: 0 };
    function apply() {
      imgs().forEach(function (img) {
        img.style.transformOrigin = "0 0";
        img.style.transform = z.s === 1 && !z.x && !z.y ? "" : "translate(" + z.x + "px," + z.y + "px) scale(" + z.s + ")";
      });
      var f = fit();
      if (level) level.textContent = z.s === 1 ? "fit" : f ? Math.round(z.s * f * 100) + "%" : "×" + z.s.toFixed(1);
      box.classList.toggle("zoomed", z.s !== 1);
    }
    function fit() {  /* screen pixels per image pixel when the image fits its box */
      var img = imgs()[0];
      if (!img || !img.naturalWidth || !img.offsetWidth) return 0;
      return Math.min(img.offsetWidth / img.naturalWidth, img.offsetHeight / img.naturalHeight);
    }
    function clamp() {  /* a zoomed image covers the box; a smaller one stays centred */
      if (Math.abs(z.s - 1) < 1e-6) { z.s = 1; z.x = 0; z.y = 0; return; }
      var r = box.getBoundingClientRect();
      var img = imgs()[0];
      if (!img) return;
      var ox = img.offsetLeft, oy = img.offsetTop, w = img.offsetWidth * z.s, h = img.offsetHeight * z.s;
      z.x = w >= r.width ? Math.min(-ox, Math.max(z.x, r.width - ox - w)) : (r.width - w) / 2 - ox;
      z.y = h >= r.height ? Math.min(-oy, Math.max(z.y, r.height - oy - h)) : (r.height - h) / 2 - oy;
    }
    function at(s, cx, cy) {  /* zoom to s keeping the point (cx, cy) of the box still */
      s = Math.max(0.01, Math.min(64, s));
      var img = imgs()[0];
      var ox = img ? img.offsetLeft : 0, oy = img ? img.offsetTop : 0;
      var px = (cx - ox - z.x) / z.s, py = (cy - oy - z.y) / z.s;
      z.x = cx - ox - px * s; z.y = cy - oy - py * s; z.s = s;
      clamp(); apply();
    }
    function centre() { var r = box.getBoundingClientRect(); return [r.width / 2, r.height / 2]; }
    var api = {
      reset: function () { z.s = 1; z.x = 0; z.y = 0; apply(); },
      by: function (f) { var c = centre(); at(z.s * f, c[0], c[1]); },
      actual: function () {  /* one image pixel per CSS pixel */
        var f = fit();
        if (!f) return;
        var c = centre();
        at(1 / f, c[0], c[1]);
      },
      pan: function (dx, dy) { z.x += dx; z.y += dy; clamp(); apply(); },
      scale: function () { return z.s; }
    };
    box.addEventListener("wheel", function (e) {
      if (!e.ctrlKey && !e.metaKey && !e.altKey && !box.classList.contains("wheel-zoom")) return;
      e.preventDefault();
      var r = box.getBoundingClientRect();
      at(z.s * Math.pow(1.0015, -e.deltaY), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    return api;
  }

  function zoomButtons(tools, zoom) {
    if (!tools) return;
    Array.prototype.forEach.call(tools.querySelectorAll("[data-zoom]"), function (b) {
      b.addEventListener("click", function () {
        var k = b.getAttribute("data-zoom");
        if (k === "in") zoom.by(2);
        else if (k === "out") zoom.by(0.5);
        else if (k === "1") zoom.actual();
        else zoom.reset();
      });
    });
  }

  /* ---- lightbox ------------------------------------------------------------------- */
  var dialog = document.getElementById("lightbox");
  var items = [];
  var index = 0;
  var lbZoom = null;

  function groupOf(link) {
    var g = link.getAttribute("data-group");
    return Array.prototype.slice.call(document.querySelectorAll('a.lb[data-group="' + CSS.escape(g) + '"]'));
  }

  function show(i) {
    if (!items.length) return;
    index = (i + items.length) % items.length;
    var a = items[index];
    var stage = dialog.querySelector(".lb-stage");
    var img = stage.querySelector("img") || stage.appendChild(document.createElement("img"));
    var thumb = a.querySelector("img");
    img.src = a.getAttribute("href");
    img.alt = thumb ? thumb.alt : "";
    img.className = thumb && thumb.classList.contains("px") ? "px" : "";
    img.draggable = false;
    if (lbZoom) lbZoom.reset();
    dialog.querySelector(".lb-title").textContent = a.getAttribute("data-caption") || "";
    var holder = a.closest("[data-prov]");
    dialog.querySelector(".prov").textContent = holder ? holder.getAttribute("data-prov") : "";
    dialog.querySelector(".lb-count").textContent = (index + 1) + " / " + items.length;
    dialog.querySelector(".lb-orig").setAttribute("href", a.getAttribute("href"));
    var step = a.closest("section.step");
    var provLink = dialog.querySelector(".lb-step");
    if (step) {
      provLink.setAttribute("href", "#prov-" + step.id.replace(/^step-/, ""));
      provLink.hidden = false;
    } else {
      provLink.hidden = true;
    }
    [index + 1, index - 1].forEach(function (j) {
      var n = items[(j + items.length) % items.length];
      if (n) { var pre = new Image(); pre.src = n.getAttribute("href"); }
    });
  }

  function open(link) {
    items = groupOf(link);
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    show(items.indexOf(link));
    dialog.querySelector(".lb-next").focus();
  }

  function close() {
    if (dialog.open) dialog.close();
    var a = items[index];
    if (a) a.focus();
  }

  if (dialog) {
    var stage = dialog.querySelector(".lb-stage");
    stage.classList.add("wheel-zoom");
    lbZoom = Zoom(stage, function () { return Array.prototype.slice.call(stage.querySelectorAll("img")); },
                  dialog.querySelector(".zlevel"));
    zoomButtons(dialog.querySelector(".zoom-tools"), lbZoom);
    document.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest("a.lb");
      if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      open(a);
    });
    dialog.querySelector(".lb-prev").addEventListener("click", function () { show(index - 1); });
    dialog.querySelector(".lb-next").addEventListener("click", function () { show(index + 1); });
    dialog.querySelector(".lb-close").addEventListener("click", close);
    dialog.querySelector(".lb-step").addEventListener("click", function () { close(); });
    dialog.addEventListener("click", function (e) {
      if (moved) { moved = false; return; }
      if (e.target === dialog || (e.target.classList.contains("lb-stage") && lbZoom.scale() === 1)) close();
    });
    dialog.addEventListener("cancel", function (e) { e.preventDefault(); close(); });
    document.addEventListener("keydown", function (e) {
      if (!dialog.open) return;
      if (e.key === "ArrowRight") { e.preventDefault(); show(index + 1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); show(index - 1); }
      else if (e.key === "Escape") { e.preventDefault(); close(); }
      else if (e.key === "Home") { e.preventDefault(); show(0); }
      else if (e.key === "End") { e.preventDefault(); show(items.length - 1); }
      else if (e.key === "+" || e.key === "=") { e.preventDefault(); lbZoom.by(2); }
      else if (e.key === "-") { e.preventDefault(); lbZoom.by(0.5); }
      else if (e.key === "1") { e.preventDefault(); lbZoom.actual(); }
      else if (e.key === "0") { e.preventDefault(); lbZoom.reset(); }
    });
    var x0 = null, last = null, moved = false;
    stage.addEventListener("dblclick", function (e) {
      var r = stage.getBoundingClientRect();
      if (lbZoom.scale() > 1) lbZoom.reset(); else lbZoom.by(2);
      e.preventDefault();
    });
    dialog.addEventListener("pointerdown", function (e) {
      x0 = e.clientX; last = [e.clientX, e.clientY]; moved = false;
    });
    dialog.addEventListener("pointermove", function (e) {
      if (!last || lbZoom.scale() === 1 || !stage.contains(e.target)) return;
      lbZoom.pan(e.clientX - last[0], e.clientY - last[1]);
      if (Math.abs(e.clientX - x0) > 3) moved = true;
      last = [e.clientX, e.clientY];
    });
    dialog.addEventListener("pointerup", function (e) {
      last = null;
      if (x0 === null) return;
      var dx = e.clientX - x0;
      x0 = null;
      if (lbZoom.scale() === 1 && e.pointerType !== "mouse" && Math.abs(dx) > 50) show(index + (dx < 0 ? 1 : -1));
    });
  }

  /* ---- before/after slider ---------------------------------------------------------- */
  Array.prototype.forEach.call(document.querySelectorAll(".cmp"), function (cmp) {
    var frame = cmp.querySelector(".cmp-frame");
    var range = cmp.querySelector(".cmp-range");
    function set() { frame.style.setProperty("--pos", range.value + "%"); }
    range.addEventListener("input", set);
    set();
    var before = cmp.querySelector(".cmp-before");
    var after = cmp.querySelector(".cmp-after img");
    var name = cmp.querySelector(".cmp-name");
    var zoom = Zoom(frame, function () { return [before, after]; }, cmp.querySelector(".zlevel"));
    zoomButtons(cmp.querySelector(".zoom-tools"), zoom);
    var pan = null;
    frame.addEventListener("pointerdown", function (e) {  /* Shift+drag (or a zoomed touch) pans */
      if (zoom.scale() > 1 && (e.shiftKey || e.pointerType === "touch" && !e.isPrimary)) {
        pan = [e.clientX, e.clientY]; e.preventDefault(); e.stopPropagation();
      }
    }, true);
    frame.addEventListener("pointermove", function (e) {
      if (!pan) return;
      zoom.pan(e.clientX - pan[0], e.clientY - pan[1]); pan = [e.clientX, e.clientY]; e.preventDefault();
    }, true);
    window.addEventListener("pointerup", function () { pan = null; });
    function pick(b) {
      before.src = b.getAttribute("data-before");
      after.src = b.getAttribute("data-after");
      before.alt = before.getAttribute("data-label") + ": " + b.getAttribute("data-name");
      after.alt = after.getAttribute("data-label") + ": " + b.getAttribute("data-name");
      range.setAttribute("aria-label", range.getAttribute("aria-label").replace(/, image .*$/, ", image " + b.getAttribute("data-name")));
      name.textContent = b.getAttribute("data-name");
      frame.style.aspectRatio = b.getAttribute("data-ratio");
      Array.prototype.forEach.call(cmp.querySelectorAll(".cmp-picks button"), function (o) {
        o.setAttribute("aria-pressed", o === b ? "true" : "false");
      });
    }
    cmp.pickName = function (n) {
      var b = cmp.querySelector('.cmp-picks button[data-name="' + CSS.escape(n) + '"]');
      if (b) pick(b);
    };
    Array.prototype.forEach.call(cmp.querySelectorAll(".cmp-picks button"), function (b) {
      b.addEventListener("click", function () {
        pick(b);
        /* the other sliders of the step show the same image */
        var step = cmp.closest("section.step") || document;
        Array.prototype.forEach.call(step.querySelectorAll(".cmp"), function (o) {
          if (o !== cmp && o.pickName) o.pickName(b.getAttribute("data-name"));
        });
      });
    });
  });

  /* ---- per-epoch sample timeline ------------------------------------------------------- */
  Array.prototype.forEach.call(document.querySelectorAll(".timeline"), function (tl) {
    var range = tl.querySelector(".tl-range");
    var img = tl.querySelector(".tl-view img");
    var link = tl.querySelector(".tl-view a");
    var label = tl.querySelector(".tl-label");
    var frames = tl.querySelectorAll(".strip a");
    function set(i) {
      var a = frames[i];
      if (!a) return;
      img.src = a.getAttribute("href");
      img.alt = a.querySelector("img").alt;
      link.setAttribute("href", a.getAttribute("href"));
      label.textContent = a.getAttribute("data-label");
      range.setAttribute("aria-valuetext", a.getAttribute("data-label") + " of " + frames.length);
      Array.prototype.forEach.call(frames, function (f, j) { f.classList.toggle("current", j === i); });
    }
    range.addEventListener("input", function () { set(Number(range.value)); });
    Array.prototype.forEach.call(frames, function (f, j) {
      f.addEventListener("mouseenter", function () { range.value = j; set(j); });
      f.addEventListener("focus", function () { range.value = j; set(j); });
    });
  });

  /* ---- open the provenance block a link points at ------------------------------------- */
  function openTarget() {
    if (!location.hash) return;
    var el = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (el && el.tagName === "DETAILS") el.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  /* ---- "show all N": the rest of a capped grid is in a <template> until asked for ---------- */
  Array.prototype.forEach.call(document.querySelectorAll("button.show-all"), function (b) {
    b.addEventListener("click", function () {
      var holder = document.getElementById(b.getAttribute("data-rest"));
      var grid = holder && holder.previousElementSibling;
      if (!holder || !grid) return;
      var data = JSON.parse(holder.textContent);
      var old = grid.querySelector("a.lb");
      var group = old ? old.getAttribute("data-group") : "";
      var label = old ? old.querySelector("img").alt.replace(/: [^:]*$/, "") : "";
      var firstNew = null;
      data.items.forEach(function (it) {
        var a = document.createElement("a");
        a.className = "lb";
        a.href = data.href + it[0];
        a.setAttribute("data-group", group);
        a.setAttribute("data-caption", b.getAttribute("data-caption") + " · " + it[4]);
        var img = document.createElement("img");
        img.src = data.thumb + it[1];
        img.alt = label + ": " + it[4];
        img.width = it[2]; img.height = it[3];
        img.loading = "lazy";
        if (b.getAttribute("data-px") === "1") img.className = "px";
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = it[4];
        a.appendChild(img); a.appendChild(name);
        grid.appendChild(a);
        if (!firstNew) firstNew = a;
      });
      holder.remove();
      b.remove();
      if (firstNew) firstNew.focus();
    });
  });

  /* ---- sortable tables: a click on a heading sorts by it (again: the other way) ----------- */
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.querySelectorAll("thead th");
    Array.prototype.forEach.call(table.querySelectorAll("button.sort"), function (b) {
      b.addEventListener("click", function () {
        var col = Number(b.getAttribute("data-col"));
        var th = b.closest("th");
        var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var cell = row.cells[col];
          var v = cell ? cell.getAttribute("data-sort") : "";
          if (v === null) v = cell.textContent;
          var n = parseFloat(v);
          return v !== "" && isFinite(n) && String(n) !== "NaN" && /^[-+0-9.eE]+$/.test(v.trim()) ? n : v;
        }
        rows.sort(function (a, b2) {
          var x = key(a), y = key(b2);
          var xe = x === "" || x === null, ye = y === "" || y === null;
          if (xe !== ye) return xe ? 1 : -1;  /* blanks last */
          var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
          return dir === "ascending" ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
        Array.prototype.forEach.call(heads, function (h) { h.setAttribute("aria-sort", h === th ? dir : "none"); });
      });
    });
  });

  /* ---- curves: raw series, optional bias-corrected smoothing, hover values, log/linear --- */
  var SVGNS = (function () {  /* the SVG namespace, from the parser (no URL in the page) */
    var d = document.createElement("div");
    d.innerHTML = "<svg></svg>";
    return d.firstChild.namespaceURI;
  })();
  var COLOURS = ["#3b9ae1", "#e8743b", "#2fa866", "#c9a227", "#9b6fd1", "#e0508a", "#2ab0b0", "#8a8a3a"];
  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v) {
    if (!isFinite(v)) return String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a < 0.001 || a >= 1e5)) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }
  function ticks(lo, hi, n, log) {
    if (log) {
      var out = [], a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
      var step = Math.max(1, Math.ceil((b - a) / n));
      for (var e = a; e <= b; e += step) out.push(Math.pow(10, e));
      return out;
    }
    var span = hi - lo || Math.abs(hi) || 1, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var st = [1, 2, 5, 10].map(function (m) { return m * mag; }).filter(function (s2) { return s2 >= raw; })[0];
    var t = [], v = Math.ceil(lo / st) * st;
    for (; v <= hi + st * 1e-9; v += st) t.push(Math.abs(v) < st * 1e-9 ? 0 : v);
    return t;
  }
  function smoothed(pts, w) {  /* EMA debiased as TensorBoard does: no pull towards the first value */
    if (!w) return pts;
    var acc = 0, k = 0;
    return pts.map(function (p) { acc = acc * w + (1 - w) * p[1]; k++; return [p[0], acc / (1 - Math.pow(w, k))]; });
  }
  function drawCurves(fig) {
    var data = JSON.parse(fig.querySelector(".curve-data").textContent);
    var holder = fig.querySelector(".curve-panels");
    var slider = fig.querySelector(".smooth"), out = fig.querySelector(".smooth-val"), logbox = fig.querySelector(".logy");
    var colour = {}, n = 0;
    data.panels.forEach(function (p) { p.names.forEach(function (name) { colour[name] = COLOURS[n++ % COLOURS.length]; }); });
    function render() {
      var w = Number(slider.value);
      out.textContent = w ? w.toFixed(2) : "off";
      slider.setAttribute("aria-valuetext", w ? "smoothing " + w.toFixed(2) : "off: raw values");
      holder.textContent = "";
      var width = Math.max(240, holder.clientWidth || 600);
      var narrow = width < 480;
      data.panels.forEach(function (panel) {
        var series = panel.names.map(function (name) {
          var s = data.series[name];
          return { name: name, label: s.label, raw: s.points, sm: smoothed(s.points, w), bad: s.bad, thin: s.thinned };
        }).filter(function (s) { return s.raw.length || s.bad !== undefined; });
        var all = [];
        series.forEach(function (s) { s.raw.forEach(function (p) { all.push(p); }); });
        if (!all.length) return;
        var canLog = all.every(function (p) { return p[1] > 0; });
        var log = logbox.checked && canLog;
        var xs = all.map(function (p) { return p[0]; }), ys = all.map(function (p) { return p[1]; });
        series.forEach(function (s) { if (s.bad !== undefined) xs.push(s.bad); });
        var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
        var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
        if (x1 === x0) x1 = x0 + 1;
        if (y1 === y0) { y1 += Math.abs(y1) * 0.05 || 1; y0 -= Math.abs(y0) * 0.05 || 1; if (log && y0 <= 0) y0 = y1 / 10; }
        var H = narrow ? 190 : 220, M = { l: narrow ? 46 : 56, r: 18, t: 10, b: 34 };
        var fy = function (v) { return log ? Math.log10(v) : v; };
        var X = function (v) { return M.l + (v - x0) / (x1 - x0) * (width - M.l - M.r); };
        var Y = function (v) { return M.t + (1 - (fy(v) - fy(y0)) / (fy(y1) - fy(y0))) * (H - M.t - M.b); };
        var wrap = document.createElement("div");
        wrap.className = "curve-panel";
        var legend = document.createElement("div");
        legend.className = "curve-legend";
        series.forEach(function (s) {
          var item = document.createElement("span");
          var sw = document.createElement("i");
          sw.style.background = colour[s.name];
          item.appendChild(sw);
          item.appendChild(document.createTextNode(s.label + (s.thin ? " (" + s.thin + ")" : "")));
          legend.appendChild(item);
        });
        wrap.appendChild(legend);
        var svg = el("svg", { width: width, height: H, viewBox: "0 0 " + width + " " + H, class: "curve-svg" });
        ticks(y0, y1, narrow ? 3 : 5, log).forEach(function (t) {
          if (t < y0 * (log ? 0.999 : 1) - 1e-12 || t > y1 * 1.001 + 1e-12) return;
          el("line", { x1: M.l, x2: width - M.r, y1: Y(t), y2: Y(t), class: "grid" }, svg);
          el("text", { x: M.l - 6, y: Y(t) + 4, "text-anchor": "end", class: "tick" }, svg).textContent = fmt(t);
        });
        ticks(x0, x1, narrow ? 3 : 6, false).forEach(function (t) {
          if (t < x0 || t > x1) return;
          el("line", { x1: X(t), x2: X(t), y1: H - M.b, y2: H - M.b + 4, class: "axis" }, svg);
          el("text", { x: X(t), y: H - M.b + 16, "text-anchor": "middle", class: "tick" }, svg).textContent = fmt(t);
        });
        el("text", { x: width - M.r, y: H - 4, "text-anchor": "end", class: "axis-label" }, svg).textContent = panel.x + (log ? " · log scale" : "");
        series.forEach(function (s) {
          function path(pts) { return pts.map(function (p, i) { return (i ? "L" : "M") + X(p[0]).toFixed(1) + " " + Y(p[1]).toFixed(1); }).join(""); }
          if (s.raw.length) {
            el("path", { d: path(s.raw), stroke: colour[s.name], class: w ? "raw faint" : "raw" }, svg);
            if (w) el("path", { d: path(s.sm), stroke: colour[s.name], class: "smooth-line" }, svg);
          }
          if (s.bad !== undefined) {
            el("line", { x1: X(s.bad), x2: X(s.bad), y1: M.t, y2: H - M.b, class: "bad" }, svg);
            el("text", { x: X(s.bad) - 4, y: M.t + 12, "text-anchor": "end", class: "bad-label" }, svg).textContent = s.label + ": non-finite from " + fmt(s.bad);
          }
        });
        if (logbox.checked && !canLog) {
          el("text", { x: M.l + 6, y: M.t + 12, class: "tick" }, svg).textContent = "log scale needs positive values: linear";
        }
        var cursor = el("line", { y1: M.t, y2: H - M.b, class: "cursor", visibility: "hidden" }, svg);
        var tip = document.createElement("div");
        tip.className = "curve-tip";
        tip.hidden = true;
        wrap.appendChild(svg);
        wrap.appendChild(tip);
        function hover(e) {
          var r = svg.getBoundingClientRect();
          var px = (e.clientX - r.left) * (width / r.width);
          var xv = x0 + (px - M.l) / (width - M.l - M.r) * (x1 - x0);
          var lines = [];
          var xAt = null;
          series.forEach(function (s) {
            if (!s.raw.length) return;
            var best = 0;
            for (var i = 1; i < s.raw.length; i++) if (Math.abs(s.raw[i][0] - xv) < Math.abs(s.raw[best][0] - xv)) best = i;
            if (xAt === null) xAt = s.raw[best][0];
            lines.push(s.label + ": " + fmt(s.raw[best][1]) + (w ? " (smoothed " + fmt(s.sm[best][1]) + ")" : ""));
          });
          if (xAt === null) return;
          cursor.setAttribute("x1", X(xAt)); cursor.setAttribute("x2", X(xAt)); cursor.setAttribute("visibility", "visible");
          tip.textContent = panel.x + " " + fmt(xAt) + "\n" + lines.join("\n");
          tip.hidden = false;
          var left = X(xAt) * (r.width / width);
          tip.style.left = Math.min(Math.max(0, left + 8), r.width - tip.offsetWidth) + "px";
        }
        svg.addEventListener("pointermove", hover);
        svg.addEventListener("pointerdown", hover);
        svg.addEventListener("pointerleave", function () { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); });
        holder.appendChild(wrap);
      });
    }
    slider.addEventListener("input", render);
    logbox.addEventListener("change", render);
    var lastW = 0;
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (Math.abs(holder.clientWidth - lastW) > 8) { lastW = holder.clientWidth; render(); }
      }).observe(holder);
    }
    lastW = holder.clientWidth;
    render();
  }
  Array.prototype.forEach.call(document.querySelectorAll("figure.curves"), drawCurves);

  /* ---- the index: the same image across runs --------------------------------------------- */
  Array.prototype.forEach.call(document.querySelectorAll(".across"), function (box) {
    var pick = box.querySelector("select");
    var data = JSON.parse(box.querySelector(".across-data").textContent);
    function set() {
      var item = data[Number(pick.value)];
      Array.prototype.forEach.call(box.querySelectorAll(".across-cell"), function (cell, i) {
        var src = item.images[i];
        var img = cell.querySelector("img"), a = cell.querySelector("a"), none = cell.querySelector(".none");
        if (src) { img.src = src; img.alt = cell.getAttribute("data-run") + ": " + item.label; a.href = src; }
        a.hidden = !src; none.hidden = !!src;
      });
    }
    pick.addEventListener("change", set);
    set();
  });

  /* ---- the index: any ticked runs side by side (metrics, best marked; parameters that differ) */
  Array.prototype.forEach.call(document.querySelectorAll("button.compare-chosen"), function (b) {
    var section = b.closest("section");
    var data = JSON.parse(section.querySelector(".runs-data").textContent);
    var out = section.querySelector(".chosen");
    function cell(tag, text, cls) {
      var c = document.createElement(tag);
      c.textContent = text;
      if (cls) c.className = cls;
      return c;
    }
    function table(rows, runs, best) {
      var wrap = document.createElement("div");
      wrap.className = "table-wrap";
      var t = document.createElement("table");
      t.className = "metrics";
      var head = document.createElement("tr");
      head.appendChild(cell("th", ""));
      runs.forEach(function (r) { head.appendChild(cell("th", r.dir)); });
      t.appendChild(document.createElement("thead")).appendChild(head);
      var body = t.appendChild(document.createElement("tbody"));
      rows.forEach(function (row) {
        var tr = body.appendChild(document.createElement("tr"));
        tr.appendChild(cell("th", row.label));
        row.cells.forEach(function (c, i) {
          var td = cell("td", c + (best && row.best === i ? " ✓" : ""), best ? "num" + (row.best === i ? " best" : "") : "diff");
          tr.appendChild(td);
        });
      });
      wrap.appendChild(t);
      return wrap;
    }
    b.addEventListener("click", function () {
      var ticked = Array.prototype.map.call(section.querySelectorAll("input.choose:checked"), function (i) { return i.value; });
      var runs = data.filter(function (r) { return ticked.indexOf(r.dir) >= 0; });
      out.textContent = "";
      if (runs.length < 2) { out.appendChild(cell("p", "Tick two runs or more.", "small muted")); return; }
      var keys = [];
      runs.forEach(function (r) { Object.keys(r.headline).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
      var metrics = keys.map(function (k) {
        var vals = runs.map(function (r) { return r.headline[k] || ["—", null, 0]; });
        var sign = (vals.filter(function (v) { return v[2]; })[0] || [0, 0, 0])[2];
        var best = -1;
        vals.forEach(function (v, i) {
          if (v[1] === null || !sign) return;
          if (best < 0 || sign * v[1] > sign * vals[best][1]) best = i;
        });
        return { label: k, cells: vals.map(function (v) { return v[0]; }), best: vals.filter(function (v) { return v[1] !== null; }).length > 1 ? best : -1 };
      });
      var pkeys = [];
      runs.forEach(function (r) { Object.keys(r.params).forEach(function (k) { if (pkeys.indexOf(k) < 0) pkeys.push(k); }); });
      var differ = pkeys.map(function (k) {
        return { label: k, cells: runs.map(function (r) { return k in r.params ? r.params[k] : "—"; }) };
      }).filter(function (row) { return row.cells.some(function (c) { return c !== row.cells[0]; }); });
      out.appendChild(cell("h3", "Headline metrics"));
      out.appendChild(metrics.length ? table(metrics, runs, true) : cell("p", "No scored metrics.", "small muted"));
      out.appendChild(cell("h3", "Parameters that differ"));
      out.appendChild(differ.length ? table(differ.slice(0, 60), runs, false) : cell("p", "None.", "small muted"));
    });
  });

  /* ---- copy buttons (clipboard may be unavailable on file://: select instead) ------------ */
  Array.prototype.forEach.call(document.querySelectorAll("button.copy"), function (b) {
    b.addEventListener("click", function () {
      var target = document.getElementById(b.getAttribute("data-copy"));
      if (!target) return;
      var text = target.textContent;
      var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
      var select = function () {
        var r = document.createRange();
        r.selectNodeContents(target);
        var s = window.getSelection();
        s.removeAllRanges();
        s.addRange(r);
        b.textContent = "Selected: press Ctrl+C";
      };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, select);
      else select();
    });
  });
})();
