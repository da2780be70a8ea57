// The image page: Delete image's in-page confirmation (never a browser dialog), and ← / → to
// the previous and next image on a classification page. A detection page's region editor
// handles its own arrows (they nudge a selected region, else move between images), so this
// file leaves them to it there.
(function () {
  "use strict";

  // --- Delete image ---------------------------------------------------------------------------
  var box = document.querySelector("[data-delete-image]");
  if (box) {
    var open = box.querySelector("[data-delete-open]");
    var confirmForm = box.querySelector("#delete-image-confirm");
    var show = function (on) {
      confirmForm.hidden = !on;
      open.setAttribute("aria-expanded", on ? "true" : "false");
      (on ? confirmForm.querySelector("button[type=submit]") : open).focus();
    };
    open.addEventListener("click", function () { show(confirmForm.hidden); });
    box.querySelector("[data-delete-cancel]").addEventListener("click", function () { show(false); });
    confirmForm.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); show(false); }
    });
    confirmForm.addEventListener("submit", function () {
      confirmForm.querySelector("button[type=submit]").disabled = true;  // one delete per click
    });
  }

  // --- ← / → between images (classification) --------------------------------------------------
  if (document.querySelector("[data-region-editor]")) return;
  var tagForm = document.querySelector(".image-detail form");
  var status = document.getElementById("pager-status");

  // Typing, or a control whose arrows mean something (radio buttons move the choice).
  function usesArrows(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable || /^(TEXTAREA|SELECT)$/.test(el.tagName)) return true;
    return el.tagName === "INPUT" && el.type !== "checkbox" && el.type !== "submit" && el.type !== "button";
  }

  // Ticks changed or a tag typed and not saved yet: leaving would lose them.
  function unsaved() {
    if (!tagForm) return false;
    var changed = Array.prototype.some.call(
      tagForm.querySelectorAll("input[type=checkbox], input[type=radio]"),
      function (i) { return i.checked !== i.defaultChecked; });
    var typed = tagForm.querySelector("input[name=new_tag]");
    return changed || (!!typed && typed.value.trim() !== "");
  }

  document.addEventListener("keydown", function (e) {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (usesArrows(e.target) || document.querySelector("dialog[open]")) return;
    var link = document.querySelector(".image-pager a[rel=" + (e.key === "ArrowLeft" ? "prev" : "next") + "]");
    if (!link) return;
    e.preventDefault();
    if (unsaved()) {
      // Ticked but not saved: save, then go (as Save and next does), rather than lose them.
      var then = document.createElement("input");
      then.type = "hidden";
      then.name = "then";
      then.value = e.key === "ArrowLeft" ? "previous" : "next";
      tagForm.appendChild(then);
      if (status) status.textContent = "Saving the tags…";
      tagForm.submit();
      return;
    }
    window.location.href = link.href;
  });
})();
