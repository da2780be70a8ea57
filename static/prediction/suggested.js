(function () {
  "use strict";
  // Confirm stays disabled until a suggestion is ticked; "Select all" ticks every one.
  function update() {
    var button = document.getElementById("confirm-button");
    if (!button) return;
    var boxes = document.querySelectorAll('input[name="confirm"]');
    var ticked = document.querySelectorAll('input[name="confirm"]:checked').length;
    button.disabled = ticked === 0;
    document.getElementById("confirm-count").textContent = ticked ? ticked + " selected" : "";
    document.getElementById("confirm-all").checked = ticked > 0 && ticked === boxes.length;
  }
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (all) {
      document.querySelectorAll('input[name="' + all.dataset.selectAll + '"]').forEach(function (box) { box.checked = all.checked; });
    }
    update();
  });
  window.addEventListener("pageshow", update); // boxes the browser restored on Back
  update();
})();
