// chatkit-harness report: outcome filters, search, copy buttons, opening linked checks.
// The page reads fully without this script; it only adds the controls.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var checks = Array.prototype.slice.call(document.querySelectorAll("details.check"));
  var filters = Array.prototype.slice.call(document.querySelectorAll("button.filter"));
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var none = document.getElementById("none-shown");

  function apply() {
    var on = {};
    filters.forEach(function (b) {
      on[b.dataset.group] = b.getAttribute("aria-pressed") === "true";
    });
    var words = (search.value || "").toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    checks.forEach(function (c) {
      var text = c.dataset.search || "";
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      var visible = on[c.dataset.group] && match;
      c.hidden = !visible;
      if (visible) { count += 1; }
    });
    document.querySelectorAll("section.area").forEach(function (area) {
      area.hidden = !area.querySelector("details.check:not([hidden])");
    });
    shown.textContent = count + " of " + checks.length + " checks shown";
    none.hidden = count !== 0;
  }

  filters.forEach(function (b) {
    b.addEventListener("click", function () {
      var pressed = b.getAttribute("aria-pressed") === "true";
      b.setAttribute("aria-pressed", pressed ? "false" : "true");
      apply();
    });
  });
  search.addEventListener("input", apply);

  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var source = document.getElementById(b.dataset.copy);
      var text = source ? source.textContent : "";
      function done(ok) {
        b.textContent = ok ? "Copied" : "Select and copy";
        setTimeout(function () { b.textContent = "Copy"; }, 1500);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () {
          done(fallback(source));
        });
      } else {
        done(fallback(source));
      }
    });
  });

  function fallback(source) {
    if (!source) { return false; }
    var range = document.createRange();
    range.selectNodeContents(source);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  // Following a link to a check or a stream opens it (and the groups around it), even when
  // the filters had hidden it.
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) { return; }
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") { el.open = true; }
      if (el.hidden) { el.hidden = false; }
    }
    target.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  apply();
  reveal();
})();
