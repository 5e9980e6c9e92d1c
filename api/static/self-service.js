/* The veteran's link pages (issue 14, 适老化): large text in one tap, remembered; what
   was typed kept as a draft in this browser until it is submitted; focus on the first
   field in error. Loaded in <head> (not deferred) so the remembered text size applies
   before the first paint; everything else waits for the document. The pages work
   without it (the toggle then reloads with ?text=large; no draft is kept). */
(function () {
  "use strict";
  var SIZE = "vetflow-text-size";
  var PREFIX = "vetflow-draft:";
  var MAX_AGE = 30 * 24 * 3600 * 1000; /* a draft older than 30 days is dropped */
  var root = document.documentElement;
  var store = null;
  try { store = window.localStorage; store.getItem(SIZE); } catch (e) { store = null; }

  function get(key) { try { return store ? store.getItem(key) : null; } catch (e) { return null; } }
  function put(key, value) { try { if (store) { store.setItem(key, value); } } catch (e) { /* full or denied */ } }
  function drop(key) { try { if (store) { store.removeItem(key); } } catch (e) { /* denied */ } }

  var size = get(SIZE);
  if (size === "large") { root.classList.add("large-text"); }
  else if (size === "normal") { root.classList.remove("large-text"); }
  else if (root.classList.contains("large-text")) { put(SIZE, "large"); }

  function readDraft(key) {
    var raw = get(PREFIX + key);
    if (!raw) { return null; }
    try {
      var draft = JSON.parse(raw);
      if (!draft || typeof draft.fields !== "object" || Date.now() - draft.t > MAX_AGE) {
        drop(PREFIX + key);
        return null;
      }
      return draft;
    } catch (e) { drop(PREFIX + key); return null; }
  }

  function purgeOld() {
    if (!store) { return; }
    var keys = [];
    for (var i = 0; i < store.length; i++) {
      var k = store.key(i);
      if (k && k.indexOf(PREFIX) === 0) { keys.push(k.slice(PREFIX.length)); }
    }
    keys.forEach(readDraft); /* reading drops an old or broken one */
  }

  function labelOf(field) {
    var label = field.id ? document.querySelector("label[for='" + field.id + "']") : null;
    var text = label ? label.textContent : field.name;
    var group = field.closest("fieldset.travel-row");
    if (group && group.querySelector("legend")) {
      text = group.querySelector("legend").textContent + " " + text;
    }
    if (field.type === "radio") {
      var legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
      return legend ? legend.textContent.replace(/\s+/g, " ").trim() : field.name;
    }
    return text.replace(/\s+/g, " ").trim();
  }

  function saveDraft(form, key) {
    var fields = {}, labels = {}, shown = {}, any = false;
    Array.prototype.forEach.call(form.elements, function (f) {
      if (!f.name || f.type === "hidden" || f.type === "submit" || f.type === "button") { return; }
      if (f.type === "radio") {
        if (!f.checked) { return; }
        shown[f.name] = f.closest("label") ? f.closest("label").textContent.trim() : f.value;
      } else if (f.type === "checkbox") {
        if (!f.checked) { return; }
      } else if (!f.value) { return; }
      fields[f.name] = f.type === "checkbox" ? "on" : f.value;
      labels[f.name] = labelOf(f);
      any = true;
    });
    if (any) {
      put(PREFIX + key, JSON.stringify({ t: Date.now(), fields: fields, labels: labels, shown: shown }));
    } else {
      drop(PREFIX + key);
    }
  }

  function restoreDraft(form, key) {
    var draft = readDraft(key);
    if (!draft) { return false; }
    var restored = false;
    Object.keys(draft.fields).forEach(function (name) {
      var value = draft.fields[name];
      var items = form.querySelectorAll("[name='" + name.replace(/'/g, "") + "']");
      Array.prototype.forEach.call(items, function (f) {
        if (f.type === "radio") {
          if (f.value === value && !f.checked) { f.checked = true; restored = true; }
        } else if (f.type === "checkbox") {
          if (!f.checked) { f.checked = true; restored = true; }
        } else if (f.value !== value) {
          f.value = value; restored = true;
        }
      });
    });
    return restored;
  }

  function showKept(box, key) {
    var draft = readDraft(key);
    if (!draft) { return; }
    var list = box.querySelector("dl");
    Object.keys(draft.fields).forEach(function (name) {
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = draft.labels[name] || name;
      dd.textContent = (draft.shown && draft.shown[name]) || (draft.fields[name] === "on" ? "✓" : draft.fields[name]);
      list.appendChild(dt);
      list.appendChild(dd);
    });
    box.hidden = false;
  }

  function focusFirstError() {
    if (!document.getElementById("form-errors")) { return; }
    var first = document.querySelector("form [aria-invalid='true']");
    if (first && first.tagName === "FIELDSET") { first = first.querySelector("input, textarea, select"); }
    if (first) { first.focus(); }
  }

  function wireToggle() {
    var form = document.getElementById("text-size-form");
    var button = document.getElementById("text-size");
    if (!form || !button) { return; }
    var sync = function () {
      var on = root.classList.contains("large-text");
      button.setAttribute("aria-pressed", on ? "true" : "false");
      form.elements.text.value = on ? "normal" : "large";
    };
    sync();
    form.addEventListener("submit", function (event) {
      if (!store) { return; } /* nothing to remember it in: reload with ?text= */
      event.preventDefault();
      var on = !root.classList.contains("large-text");
      root.classList.toggle("large-text", on);
      put(SIZE, on ? "large" : "normal");
      sync();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireToggle();
    purgeOld();
    Array.prototype.forEach.call(document.querySelectorAll("[data-draft-clear]"), function (el) {
      drop(PREFIX + el.getAttribute("data-draft-clear"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-draft-show]"), function (el) {
      showKept(el, el.getAttribute("data-draft-show"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("form[data-draft]"), function (form) {
      var key = form.getAttribute("data-draft");
      if (restoreDraft(form, key)) {
        var note = document.getElementById("draft-restored");
        if (note) { note.textContent = note.getAttribute("data-text"); note.hidden = false; }
      }
      var save = function () { saveDraft(form, key); };
      form.addEventListener("input", save);
      form.addEventListener("change", save);
    });
    focusFirstError();
  });
}());
