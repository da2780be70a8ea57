// The Probability Threshold slider: every precision and recall on the page (overall, per tag,
// the dots on the precision–recall curves) is re-read from the per-threshold table the server
// embedded, so moving it costs no request. And the Copy buttons of the Prediction URL panel.
(function () {
  "use strict";

  var percent = window.cvPercent;  // static/portal/percent.js

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element) element.textContent = text;
  }

  function plusMinus(value) {
    return value === null || value === undefined ? "" : "± " + percent(value);
  }

  function setupThreshold() {
    var source = document.getElementById("threshold-table");
    var slider = document.getElementById("threshold");
    if (!source || !slider) return;
    var table = JSON.parse(source.textContent);
    var rows = document.querySelectorAll("#tag-performance tr[data-tag-index]");
    var dots = document.querySelectorAll("circle[data-tag-index]");

    // The slider moves in whole percents; the table's own thresholds say which row each is.
    function rowFor(value) {
      var wanted = value / 100;
      for (var i = 0; i < table.thresholds.length; i++) {
        if (Math.abs(table.thresholds[i] - wanted) < 1e-9) return i;
      }
      return 0;
    }

    function show(value) {
      var index = rowFor(value);
      var overall = table.overall;
      setText("threshold-value", Math.round(table.thresholds[index] * 100) + "%");
      setText("overall-precision", percent(overall.precision[index]));
      setText("overall-recall", percent(overall.recall[index]));
      setText("overall-precision-std", plusMinus(overall.precision_std[index]));
      setText("overall-recall-std", plusMinus(overall.recall_std[index]));
      rows.forEach(function (row) {
        var tag = table.tags[Number(row.dataset.tagIndex)];
        row.querySelector(".tag-precision").textContent = percent(tag.precision[index]);
        row.querySelector(".tag-recall").textContent = percent(tag.recall[index]);
      });
      dots.forEach(function (dot) {
        var tag = table.tags[Number(dot.dataset.tagIndex)];
        var p = tag.precision[index], r = tag.recall[index];
        // Nothing predicted at this threshold: precision is undefined, so no point to mark.
        if (p === null || r === null) {
          dot.setAttribute("visibility", "hidden");
          return;
        }
        dot.setAttribute("cx", (r * 100).toFixed(1));
        dot.setAttribute("cy", (100 - p * 100).toFixed(1));
        dot.removeAttribute("visibility");
      });
    }

    slider.addEventListener("input", function () { show(Number(slider.value)); });
    show(Number(slider.value));
  }

  function setupCopy() {
    var status = document.getElementById("copy-status");
    // The live region tells a screen reader; the button itself tells whoever clicked it.
    function say(text, button, label) {
      if (status) status.textContent = text;
      button.textContent = label;
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    }
    function selectText(element) {
      var range = document.createRange();
      range.selectNodeContents(element);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-copy]");
      if (!button) return;
      var element = document.getElementById(button.dataset.copy);
      var text = element.textContent;
      // The clipboard API needs a secure context (HTTPS or localhost); elsewhere select the
      // text so Ctrl+C (or the phone's Copy) takes it.
      var fallback = function () {
        selectText(element);
        say("Selected: press Ctrl+C (⌘C on a Mac) to copy.", button, "Selected");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () {
          say("Copied.", button, "Copied");
        }, fallback);
      } else {
        fallback();
      }
    });
  }

  setupThreshold();
  setupCopy();
})();
