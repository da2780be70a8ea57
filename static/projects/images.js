// Training Images: filters that apply on change, "My Tags" chips, the upload button label,
// selecting many images (or every image the filter matches) for a bulk action, and the
// keyboard shortcuts for tagging at speed.
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
      // The previews below name each file; here, how many.
      summary.textContent = n + " file" + (n === 1 ? "" : "s") + " chosen.";
      button.disabled = false;
    }
  }

  // Thumbnails of the chosen files, drawn from object URLs (CSP img-src allows blob:), each URL
  // revoked once its image has loaded; only the first PREVIEW_MAX, then "and N more".
  var PREVIEW_MAX = 24;
  var previews = document.getElementById("upload-previews");
  var previewUrls = [];

  function showPreviews() {
    if (!previews) return;
    // A new choice: the last one's URLs go, loaded or not (revoking twice is harmless).
    previewUrls.forEach(function (u) { URL.revokeObjectURL(u); });
    previewUrls = [];
    previews.textContent = "";
    var chosen = Array.prototype.slice.call(files.files);
    chosen.slice(0, PREVIEW_MAX).forEach(function (f) {
      var li = document.createElement("li");
      var img = document.createElement("img");
      var url = URL.createObjectURL(f);
      previewUrls.push(url);
      img.alt = "";  // the file's name below says what it is
      img.addEventListener("load", function () { URL.revokeObjectURL(url); });
      img.addEventListener("error", function () { URL.revokeObjectURL(url); li.classList.add("unreadable"); });
      img.src = url;
      var name = document.createElement("span");
      name.className = "upload-name";
      name.textContent = f.name;
      li.appendChild(img);
      li.appendChild(name);
      previews.appendChild(li);
    });
    if (chosen.length > PREVIEW_MAX) {
      var more = document.createElement("li");
      more.className = "upload-more";
      more.textContent = "and " + (chosen.length - PREVIEW_MAX) + " more";
      previews.appendChild(more);
    }
    previews.hidden = !chosen.length;
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
    files.addEventListener("change", showPreviews);
  }
  // A detection project's dialog has no My Tags: its tags come from the boxes drawn.
  if (files && button && tagInput) {
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
  }
  if (files && button) {
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
    var tags = chips ? Array.prototype.map.call(chips.querySelectorAll("input[name=tag]"),
      function (i) { return i.value; }) : [];
    var token = uploadForm.querySelector("input[name=csrfmiddlewaretoken]").value;

    function send(start) {
      if (start >= all.length) return Promise.resolve();
      var batch = all.slice(start, start + max);
      button.textContent = "Uploading " + (start + 1) + "–" + (start + batch.length) +
        " of " + all.length + "…";
      var data = new FormData();
      data.append("csrfmiddlewaretoken", token);
      tags.forEach(function (t) { data.append("tag", t); });
      if (tagInput) data.append("tag_input", tagInput.value);
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
  var selectMatching = document.getElementById("select-matching");
  var picks = Array.prototype.slice.call(document.querySelectorAll("input.pick"));
  var count = document.getElementById("selected-count");
  var bulk = document.getElementById("bulk");
  var scope = document.getElementById("bulk-scope");
  var matchingCount = selectMatching ? parseInt(selectMatching.dataset.count, 10) : 0;

  // Same grouping as the server's numbers (1,234), whatever the browser's own locale.
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  // "1 image", "70 images": as the server words its own counts (core.text.counted).
  function counted(n, noun) { return fmt(n) + " " + noun + (Number(n) === 1 ? "" : "s"); }
  function matching() { return !!scope && scope.value === "matching"; }
  function checked() { return picks.filter(function (p) { return p.checked; }); }

  function updateCount() {
    var n = checked().length;
    if (count) {
      count.textContent = matching() ? "All " + fmt(matchingCount) + " matching selected"
        : fmt(n) + " selected";
    }
    picks.forEach(function (p) { p.closest(".thumb").classList.toggle("selected", p.checked); });
    if (selectAll) selectAll.checked = n > 0 && n === picks.length;
    if (selectMatching) {
      selectMatching.textContent = matching() ? "Clear selection"
        : "Select all " + fmt(matchingCount) + " matching";
      selectMatching.setAttribute("aria-pressed", matching() ? "true" : "false");
    }
  }

  function setMatching(on) {
    if (scope) scope.value = on ? "matching" : "selected";
    picks.forEach(function (p) { p.checked = on; });
    updateCount();
  }

  picks.forEach(function (p) {
    p.addEventListener("change", function () {
      // Unticking one image means "not all of them" any more.
      if (!p.checked && matching()) scope.value = "selected";
      updateCount();
    });
  });
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      if (matching()) scope.value = "selected";
      picks.forEach(function (p) { p.checked = selectAll.checked; });
      updateCount();
    });
  }
  if (selectMatching) {
    selectMatching.addEventListener("click", function () { setMatching(!matching()); });
  }
  if (bulk) {
    bulk.addEventListener("submit", function (event) {
      var n = matching() ? matchingCount : checked().length;
      var action = document.getElementById("bulk-action").value;
      if (action === "delete" &&
          !window.confirm("Delete " + counted(n, "image") + "? This cannot be undone.")) {
        event.preventDefault();
      }
    });
  }
  updateCount();

  // --- Keyboard shortcuts --------------------------------------------------------------------
  var grid = document.querySelector(".image-grid");
  var tiles = grid ? Array.prototype.slice.call(grid.querySelectorAll(".thumb")) : [];
  var tagData = document.getElementById("shortcut-tags");
  var shortcutTags = tagData ? JSON.parse(tagData.textContent) : [];
  var help = document.getElementById("shortcuts");
  var status = document.getElementById("shortcut-status");
  var NOT_TYPING = ["checkbox", "radio", "button", "submit", "reset", "file", "image", "range", "color"];

  function say(text, isError) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  // A key pressed while writing in a field is text, never a command.
  function typing(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && NOT_TYPING.indexOf(el.type) === -1;
  }

  function currentTile() {
    var el = document.activeElement;
    return el && el.closest ? el.closest(".image-grid .thumb") : null;
  }

  function focusTile(tile) {
    if (tile) tile.querySelector("a").focus();
  }

  // Tiles per row, read from the layout so it follows the grid at every width.
  function columns() {
    var top = tiles[0].offsetTop;
    var n = 0;
    while (n < tiles.length && tiles[n].offsetTop === top) n++;
    return Math.max(n, 1);
  }

  function move(key) {
    var tile = currentTile();
    if (!tile) { focusTile(tiles[0]); return; }
    var cols = columns();
    var step = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -cols, ArrowDown: cols}[key];
    var next = tiles.indexOf(tile) + step;
    if (next >= 0 && next < tiles.length) focusTile(tiles[next]);
  }

  function toggleFocused() {
    var tile = currentTile();
    if (!tile) { say("Move to an image with the arrow keys first."); return; }
    var pick = tile.querySelector("input.pick");
    pick.checked = !pick.checked;
    pick.dispatchEvent(new Event("change"));
  }

  function redraw(body) {
    Object.keys(body.images).forEach(function (id) {
      var tile = grid.querySelector('[data-image-id="' + id + '"]');
      if (!tile) return;
      var chips = tile.querySelector(".chips");
      chips.textContent = "";
      var names = body.images[id].length ? body.images[id] : [null];
      names.forEach(function (name) {
        var chip = document.createElement("span");
        chip.className = name ? "chip" : "chip untagged";
        chip.textContent = name || "Untagged";
        chips.appendChild(chip);
      });
    });
    Object.keys(body.counts).forEach(function (key) {
      var el = document.querySelector('[data-count="' + key + '"]');
      if (el) el.textContent = fmt(body.counts[key]);
    });
    document.querySelectorAll("[data-tag-count]").forEach(function (el) {
      el.textContent = fmt(body.tag_counts[el.dataset.tagCount] || 0);
    });
    if (selectMatching) {
      matchingCount = body.matching;
      bulk.querySelector("input[name=expected]").value = body.matching;
      updateCount();
    }
    var panel = document.getElementById("dataset-health");
    if (panel && body.health_html) {
      var wasOpen = panel.querySelector("details.per-tag[open]");
      panel.outerHTML = body.health_html;
      if (wasOpen) document.querySelector("#dataset-health details.per-tag").open = true;
    }
  }

  function apply(action, name) {
    var label = "\u201c" + name + "\u201d";
    if (matching()) {
      // Possibly thousands of images: use the ordinary form, whose answer is a fresh page.
      var question = action === "tag"
        ? "Tag all " + fmt(matchingCount) + " matching images " + label + "?"
        : "Remove " + label + " from all " + fmt(matchingCount) + " matching images?";
      if (!window.confirm(question)) return;
      document.getElementById("bulk-action").value = action;
      document.getElementById("bulk-tag").value = name;
      bulk.submit();
      return;
    }
    var ids = checked().map(function (p) { return p.value; });
    if (!ids.length && currentTile()) ids = [currentTile().dataset.imageId];
    if (!ids.length) {
      say("Select images with x, or move to one with the arrow keys, then press the number.");
      return;
    }
    var data = new FormData();
    data.append("csrfmiddlewaretoken", bulk.querySelector("input[name=csrfmiddlewaretoken]").value);
    data.append("action", action);
    data.append("tag_name", name);
    ids.forEach(function (id) { data.append("images", id); });
    // The page's filter, so the answer can say how many images it matches now.
    bulk.querySelectorAll("input[name=filter_state], input[name=filter_tag]").forEach(function (i) {
      data.append(i.name, i.value);
    });
    say((action === "tag" ? "Tagging " : "Untagging ") + counted(ids.length, "image") + "…");
    // getAttribute: the form's own "action" field shadows the form.action property.
    fetch(bulk.getAttribute("action"), {
      method: "POST", body: data, credentials: "same-origin",
      headers: {"Accept": "application/json"}
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { say(body.errors.join(" "), true); return; }
        redraw(body);
        say(body.message);
      });
    }).catch(function (error) { say("Not saved: " + error, true); });
  }

  function toggleHelp() {
    help.open = !help.open;
    if (help.open) help.scrollIntoView({block: "nearest"});
  }

  document.addEventListener("keydown", function (event) {
    if (!grid || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || document.querySelector("dialog[open]")) return;
    var digit = /^(?:Digit|Numpad)([1-9])$/.exec(event.code || "");
    var inGrid = !!currentTile() || event.target === document.body;
    if (digit) {
      var n = parseInt(digit[1], 10);
      event.preventDefault();
      if (!document.getElementById("bulk-tag")) {
        // An Object Detection project: no tagging from the grid.
        say("Tags come from the boxes drawn on each image: open the image (Enter) to draw them.", true);
      } else if (n > shortcutTags.length) {
        say("There is no tag " + n + ": the project has " + shortcutTags.length +
          " numbered " + (shortcutTags.length === 1 ? "tag." : "tags."), true);
      } else {
        apply(event.shiftKey ? "untag" : "tag", shortcutTags[n - 1]);
      }
    } else if (event.key.indexOf("Arrow") === 0 && inGrid) {
      event.preventDefault();
      move(event.key);
    } else if ((event.key === "x" || event.key === "X") && !event.shiftKey) {
      event.preventDefault();
      toggleFocused();
    } else if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
    } else if (event.key === "Escape" && (checked().length || matching())) {
      setMatching(false);
      say("Selection cleared.");
    }
  });
})();
