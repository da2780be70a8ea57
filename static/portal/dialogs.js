// Open <dialog>s from buttons and links, close them, and confirm destructive forms.
(function () {
  "use strict";
  function open(id, event) {
    var dialog = document.getElementById(id);
    if (!dialog || typeof dialog.showModal !== "function") return; // the link still works
    if (event) event.preventDefault();
    dialog.showModal();
    var first = dialog.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog], [data-open]");
    if (opener) open(opener.dataset.dialog || opener.dataset.open, event);
    var closer = event.target.closest("[data-close]");
    if (closer) closer.closest("dialog").close();
  });
  // Destructive forms ask first, in the portal's own dialog (not the browser's bare confirm()).
  // The question is the form's data-confirm; the confirm button repeats the form's own button.
  var asking = null;
  function confirmDialog() {
    var dialog = document.getElementById("confirm-dialog");
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.id = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-title");
    var form = document.createElement("form");
    form.method = "dialog";
    form.className = "dialog-form";
    var title = document.createElement("h2");
    title.id = "confirm-dialog-title";
    var actions = document.createElement("div");
    actions.className = "actions";
    var cancel = document.createElement("button");
    cancel.type = "submit";
    cancel.value = "cancel";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    var ok = document.createElement("button");
    ok.type = "submit";
    ok.value = "ok";
    ok.className = "danger";
    ok.id = "confirm-dialog-ok";
    actions.append(cancel, ok);
    form.append(title, actions);
    dialog.append(form);
    document.body.append(dialog);
    dialog.addEventListener("close", function () {
      var target = asking;
      asking = null;
      if (target && dialog.returnValue === "ok") target.submit();
    });
    return dialog;
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.dataset && form.dataset.confirm;
    if (!message) return;
    var dialog = confirmDialog();
    if (typeof dialog.showModal !== "function") {
      if (!window.confirm(message)) event.preventDefault(); // very old browsers only
      return;
    }
    event.preventDefault();
    asking = form;
    dialog.querySelector("h2").textContent = message;
    var button = form.querySelector("button[type=submit], button:not([type])");
    dialog.querySelector("#confirm-dialog-ok").textContent =
      (button && button.textContent.trim()) || "OK";
    dialog.returnValue = "";
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  });
})();
