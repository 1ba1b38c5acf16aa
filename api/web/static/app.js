/* termmap UI keyboard shortcuts. No framework, no inline script (the Content-Security-Policy forbids it).
 *
 * An element with data-shortcut="k" is that key's action: a button or link is clicked, a radio or checkbox
 * is checked and focused, a text field is focused. Rows marked data-row take j / k (next / previous) and
 * Enter or o (open the row's first link). "?" toggles the #shortcuts dialog, which lists each page's keys.
 * Keys are ignored while typing in a field (Esc leaves it) and when Ctrl, Alt or Meta is held.
 */
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select" || target.isContentEditable) return true;
    if (tag !== "input") return false;
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["radio", "checkbox", "button", "submit", "reset"].indexOf(type) < 0;
  }

  function visible(el) {
    return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  }

  function shortcutFor(key) {
    var found = document.querySelectorAll('[data-shortcut="' + (key === '"' ? '\\"' : key) + '"]');
    for (var i = 0; i < found.length; i++) {
      if (!found[i].disabled && visible(found[i])) return found[i];
    }
    return null;
  }

  function activate(el) {
    var tag = el.tagName.toLowerCase();
    var type = (el.getAttribute("type") || "").toLowerCase();
    if (tag === "textarea" || tag === "select" || (tag === "input" && type !== "radio" && type !== "checkbox")) {
      el.focus();
      if (el.select && tag === "input") el.select();
    } else if (tag === "input") {
      el.checked = true;
      el.focus();
      el.dispatchEvent(new Event("change", { bubbles: true }));
    } else {
      el.click();
    }
  }

  // --- rows: j / k / Enter / o -------------------------------------------------------------------
  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-rows] [data-row]"));
  var current = -1;

  function select(index) {
    if (!rows.length) return;
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (current >= 0 && rows[current]) rows[current].classList.remove("is-selected");
    current = index;
    var row = rows[current];
    row.classList.add("is-selected");
    var link = row.querySelector("a");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  rows.forEach(function (row, index) {
    row.addEventListener("focusin", function () {
      if (current !== index) {
        if (current >= 0 && rows[current]) rows[current].classList.remove("is-selected");
        current = index;
        row.classList.add("is-selected");
      }
    });
  });

  function openSelected() {
    if (current < 0) return false;
    var link = rows[current].querySelector("a");
    if (link) { link.click(); return true; }
    return false;
  }

  // --- the shortcuts dialog ----------------------------------------------------------------------
  var dialog = document.getElementById("shortcuts");

  function toggleHelp() {
    if (!dialog || typeof dialog.showModal !== "function") return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.querySelectorAll('[aria-controls="shortcuts"]').forEach(function (button) {
    button.addEventListener("click", function (event) { event.preventDefault(); toggleHelp(); });
  });

  // A decision pressed twice (a double key press) must not send the form twice.
  var posts = document.querySelectorAll('form[method="post"]');
  posts.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent === "1") { event.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  });
  window.addEventListener("pageshow", function () {  // back to a page kept in the history cache
    posts.forEach(function (form) { delete form.dataset.sent; });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var key = event.key;
    if (key === "Escape") {
      if (typing(event.target)) event.target.blur();
      return;
    }
    if (typing(event.target)) return;
    if (dialog && dialog.open && key !== "?") return;

    if (key === "?") { event.preventDefault(); toggleHelp(); return; }
    if (rows.length && (key === "j" || key === "k")) {
      event.preventDefault();
      select(current < 0 ? 0 : current + (key === "j" ? 1 : -1));
      return;
    }
    if (rows.length && key === "o") {
      if (openSelected()) event.preventDefault();
      return;
    }
    var target = shortcutFor(key);
    if (target) {
      event.preventDefault();
      activate(target);
    }
  });
})();
