// Copy buttons: <button data-copy-target="ID"> copies the text of the element with that id.
(function () {
  "use strict";
  // base.html loads this for new keys and a page may load it too: one listener, not two.
  if (window.copyButtonsReady) return;
  window.copyButtonsReady = true;
  var SHOWN_MS = 1500;

  // The Clipboard API needs a secure context, and a self-hosted portal is often plain http
  // on a LAN address: there the text is selected and copied the old way, and if even that is
  // refused it stays selected, so Ctrl+C or the context menu still copies it.
  function selectAndCopy(element, button) {
    select(element);
    try {
      if (document.execCommand("copy")) confirmCopied(button);
    } catch (error) {
      // Selected is the best we can do.
    }
  }

  function select(element) {
    if (isField(element)) {
      element.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function isField(element) {
    return element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement;
  }

  function confirmCopied(button) {
    if (!button.dataset.copyLabel) button.dataset.copyLabel = button.textContent;
    button.textContent = "Copied";
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(function () {
      button.textContent = button.dataset.copyLabel;
    }, SHOWN_MS);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy-target]");
    if (!button) return;
    var target = document.getElementById(button.dataset.copyTarget);
    if (!target) return;
    event.preventDefault(); // a copy button inside a form must not submit it
    var text = isField(target) ? target.value : target.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { confirmCopied(button); },
        function () { selectAndCopy(target, button); }
      );
    } else {
      selectAndCopy(target, button);
    }
  });
})();
