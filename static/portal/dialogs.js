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
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
