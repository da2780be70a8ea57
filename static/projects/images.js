// Training Images: filters that apply on change, "My Tags" chips, the upload button label,
// and selecting many images for a bulk action.
(function () {
  "use strict";

  document.querySelectorAll("[data-autosubmit]").forEach(function (input) {
    input.addEventListener("change", function () { input.form.submit(); });
  });

  // --- Upload dialog -------------------------------------------------------------------------
  var files = document.getElementById("id_files");
  var button = document.getElementById("upload-button");
  var summary = document.getElementById("file-summary");
  var chips = document.getElementById("tag-chips");
  var tagInput = document.getElementById("id_tag_input");
  var uploadForm = document.getElementById("upload-form");

  function updateButton() {
    var n = files.files.length;
    var max = parseInt(button.dataset.max, 10);
    button.textContent = n ? "Upload " + n + " file" + (n === 1 ? "" : "s") : "Upload files";
    if (n > max) {
      summary.textContent = n + " files: they go up in batches of " + max + ".";
      button.disabled = false;
    } else if (n) {
      var names = Array.prototype.slice.call(files.files, 0, 5).map(function (f) { return f.name; });
      summary.textContent = names.join(", ") + (n > 5 ? " and " + (n - 5) + " more" : "");
      button.disabled = false;
    }
  }

  function chipNames() {
    return Array.prototype.map.call(chips.querySelectorAll("input[name=tag]"), function (i) {
      return i.value.toLowerCase();
    });
  }

  function addChip(name) {
    name = name.trim().replace(/\s+/g, " ");
    if (!name || chipNames().indexOf(name.toLowerCase()) !== -1) return;
    var chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = name;
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "tag";
    hidden.value = name;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.setAttribute("aria-label", "Remove tag " + name);
    remove.textContent = "×";
    remove.addEventListener("click", function () { chip.remove(); tagInput.focus(); });
    chip.appendChild(hidden);
    chip.appendChild(remove);
    chips.appendChild(chip);
  }

  if (files && button) {
    files.addEventListener("change", updateButton);
    tagInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === ",") {
        event.preventDefault();
        addChip(tagInput.value);
        tagInput.value = "";
      } else if (event.key === "Backspace" && !tagInput.value) {
        var last = chips.lastElementChild;
        if (last) last.remove();
      }
    });
    uploadForm.addEventListener("submit", function (event) {
      var max = parseInt(button.dataset.max, 10);
      button.disabled = true;
      button.textContent = "Uploading…";
      if (files.files.length > max) {
        event.preventDefault();
        uploadInBatches(Array.prototype.slice.call(files.files), max);
      }
    });
  }

  // More files than one batch holds: send them batch by batch, then show one summary.
  function uploadInBatches(all, max) {
    var results = [];
    var tags = Array.prototype.map.call(chips.querySelectorAll("input[name=tag]"), function (i) {
      return i.value;
    });
    var token = uploadForm.querySelector("input[name=csrfmiddlewaretoken]").value;

    function send(start) {
      if (start >= all.length) return Promise.resolve();
      var batch = all.slice(start, start + max);
      button.textContent = "Uploading " + (start + 1) + "–" + (start + batch.length) +
        " of " + all.length + "…";
      var data = new FormData();
      data.append("csrfmiddlewaretoken", token);
      tags.forEach(function (t) { data.append("tag", t); });
      data.append("tag_input", tagInput.value);
      batch.forEach(function (f) { data.append("files", f, f.name); });
      return fetch(uploadForm.action, {
        method: "POST", body: data, credentials: "same-origin",
        headers: {"Accept": "application/json"}
      }).then(function (response) {
        return response.json().then(function (body) {
          if (body.errors && body.errors.length) {
            batch.forEach(function (f) {
              results.push({name: f.name, status: "ErrorSource", message: body.errors.join(" ")});
            });
          }
          results = results.concat(body.results || []);
        });
      }).catch(function (error) {
        batch.forEach(function (f) {
          results.push({name: f.name, status: "ErrorSource", message: String(error)});
        });
      }).then(function () { return send(start + max); });
    }

    send(0).then(function () { showSummary(results); });
  }

  function showSummary(results) {
    var added = results.filter(function (r) { return r.status === "OK"; }).length;
    var failed = results.filter(function (r) { return r.status.indexOf("OK") !== 0; });
    var box = document.createElement("div");
    box.className = "dialog-form";
    var heading = document.createElement("h2");
    heading.id = "upload-summary";
    heading.textContent = added + " of " + results.length + " files uploaded";
    box.appendChild(heading);
    if (failed.length) {
      var table = document.createElement("table");
      table.className = "results";
      failed.forEach(function (r) {
        var row = table.insertRow();
        [r.name, r.status, r.message].forEach(function (text) {
          row.insertCell().textContent = text;
        });
      });
      box.appendChild(table);
    }
    var actions = document.createElement("div");
    actions.className = "actions";
    var done = document.createElement("a");
    done.className = "button primary";
    done.href = window.location.pathname;
    done.textContent = "Done";
    actions.appendChild(done);
    box.appendChild(actions);
    uploadForm.replaceWith(box);
  }

  // --- Selecting images ----------------------------------------------------------------------
  var selectAll = document.getElementById("select-all");
  var picks = document.querySelectorAll("input.pick");
  var count = document.getElementById("selected-count");
  var bulk = document.getElementById("bulk");

  function updateCount() {
    var n = document.querySelectorAll("input.pick:checked").length;
    if (count) count.textContent = n + " selected";
    picks.forEach(function (p) { p.closest(".thumb").classList.toggle("selected", p.checked); });
  }
  picks.forEach(function (p) { p.addEventListener("change", updateCount); });
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      picks.forEach(function (p) { p.checked = selectAll.checked; });
      updateCount();
    });
  }
  if (bulk) {
    bulk.addEventListener("submit", function (event) {
      var n = document.querySelectorAll("input.pick:checked").length;
      var action = document.getElementById("bulk-action").value;
      if (action === "delete" && !window.confirm("Delete " + n + " image(s)? This cannot be undone.")) {
        event.preventDefault();
      }
    });
  }
})();
