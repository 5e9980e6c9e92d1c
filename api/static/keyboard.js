/* vetflow: keyboard use and announced form errors on the staff pages (issue 14).
   No framework; loaded by base.html after htmx. What it does:
   - after a submission that came back with errors, the focus moves to the error
     summary's heading, or to the form's general errors, or to the first field in error
     (WCAG 2.1 SC 3.3.1 Error Identification, 2.4.3 Focus Order; GB/T 37668-2019 §7.3.3);
   - a link of the error summary puts the focus in its field, not only the scroll;
   - a take-over confirmation takes the focus, and Escape inside it cancels (SC 2.1.1);
   - the inbox's auto-refresh (htmx, every 15 s) waits while the focus is inside the
     list, so it never takes the clerk's place away while they tab through it (SC 2.1.2
     No Keyboard Trap, 2.2.2 Pause, Stop, Hide, 2.4.3). */
(function () {
  "use strict";

  var CONTROLS = "input:not([type=hidden]), select, textarea, button, a[href]";

  function focusOn(el) {
    if (!el) return false;
    if (!el.matches(CONTROLS) && !el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus();
    return document.activeElement === el;
  }

  function focusFirstError() {
    var summary = document.querySelector("[data-error-summary] [tabindex]");
    var general = document.getElementById("form-errors");
    var field = document.querySelector("main [aria-invalid=true]");
    if (focusOn(summary) || focusOn(general) || focusOn(field)) return;
    var confirm = document.getElementById("confirm-takeover-button");
    if (confirm) confirm.focus();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-field-link]");
    if (!link) return;
    var box = document.getElementById("field-" + link.getAttribute("data-field-link"));
    if (!box) return;
    var control = box.matches(CONTROLS) ? box : box.querySelector(CONTROLS);
    if (!control) return;
    event.preventDefault();
    control.focus();
    (box.closest(".field") || box).scrollIntoView({ block: "center" });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var box = document.getElementById("confirm-takeover");
    if (!box || !box.contains(document.activeElement)) return;
    var cancel = box.querySelector("a[href]");
    if (cancel) {
      event.preventDefault();
      cancel.click();
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.id === "inbox-list" && elt.contains(document.activeElement)) {
      event.preventDefault();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusFirstError);
  } else {
    focusFirstError();
  }
})();
