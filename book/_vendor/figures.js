/* Click to enlarge: a figure's image opens at full size in an overlay (book/_ext/figures.py).
   Plain JavaScript shipped with the book: no network, works from file://. */
(function () {
  "use strict";
  var overlay = null;

  function close() {
    if (overlay) { overlay.remove(); overlay = null; document.body.classList.remove("zoom-open"); }
  }

  function open(img) {
    close();
    overlay = document.createElement("div");
    overlay.className = "zoom-overlay";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", "Enlarged figure (click or press Escape to close)");
    var big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt || "";
    var hint = document.createElement("p");
    hint.className = "zoom-hint";
    hint.textContent = "Full size. Click or press Escape to close.";
    overlay.appendChild(hint);
    overlay.appendChild(big);
    overlay.addEventListener("click", close);
    document.body.appendChild(overlay);
    document.body.classList.add("zoom-open");
  }

  function enlargeable(img) {
    return img.closest("figure") && !img.closest("a") && !img.closest(".zoom-overlay");
  }

  function setup() {
    document.querySelectorAll("figure img").forEach(function (img) {
      if (!enlargeable(img) || img.classList.contains("zoomable")) { return; }
      img.classList.add("zoomable");
      img.setAttribute("tabindex", "0");
      img.setAttribute("title", "Click to enlarge");
      img.addEventListener("click", function () { open(img); });
      img.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(img); }
      });
    });
    document.addEventListener("keydown", function (event) { if (event.key === "Escape") { close(); } });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); } else { setup(); }
})();
