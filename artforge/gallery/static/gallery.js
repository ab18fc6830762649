/* artforge gallery: lightbox, before/after slider, epoch timeline, copy buttons.
   Vanilla JS, no network. Text from the page goes in with textContent only. */
(function () {
  "use strict";

  /* ---- lightbox ------------------------------------------------------------------- */
  var dialog = document.getElementById("lightbox");
  var items = [];
  var index = 0;

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
      if (e.target === dialog || e.target.classList.contains("lb-stage")) close();
    });
    dialog.addEventListener("cancel", function (e) { e.preventDefault(); close(); });
    document.addEventListener("keydown", function (e) {
      if (!dialog.open) return;
      if (e.key === "ArrowRight") { e.preventDefault(); show(index + 1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); show(index - 1); }
      else if (e.key === "Escape") { e.preventDefault(); close(); }
      else if (e.key === "Home") { e.preventDefault(); show(0); }
      else if (e.key === "End") { e.preventDefault(); show(items.length - 1); }
    });
    var x0 = null;
    dialog.addEventListener("pointerdown", function (e) { x0 = e.clientX; });
    dialog.addEventListener("pointerup", function (e) {
      if (x0 === null) return;
      var dx = e.clientX - x0;
      x0 = null;
      if (e.pointerType !== "mouse" && Math.abs(dx) > 50) show(index + (dx < 0 ? 1 : -1));
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
    Array.prototype.forEach.call(cmp.querySelectorAll(".cmp-picks button"), function (b) {
      b.addEventListener("click", function () {
        before.src = b.getAttribute("data-before");
        after.src = b.getAttribute("data-after");
        before.alt = "Before: " + b.getAttribute("data-name");
        after.alt = "After: " + b.getAttribute("data-name");
        name.textContent = b.getAttribute("data-name");
        frame.style.aspectRatio = b.getAttribute("data-ratio");
        Array.prototype.forEach.call(cmp.querySelectorAll(".cmp-picks button"), function (o) {
          o.setAttribute("aria-pressed", o === b ? "true" : "false");
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
