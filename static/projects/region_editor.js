// The region editor (templates/projects/_region_editor.html): draw boxes on a photo with the
// mouse, a pen or a finger (pointer events), tag them from My Tags, move, resize, delete,
// undo, zoom, accept suggested boxes, and label by keyboard. Boxes are kept normalised to the
// photo (0–1, origin top-left) at full float precision, computed from the photo's rendered
// rectangle, so what the server stores is exactly what was drawn at any zoom or screen size.
// Mounts on every [data-region-editor]; window.RegionEditor.mount(root) mounts one more.
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var MIN_BOX_PX = 4;       // a shorter drag is a click, not a box
  var MIN_SIDE_PX = 3;      // resizing never turns a box inside out
  var HANDLE_PX = 10;       // drawn handle; its hit area is larger, for fingers
  var HANDLE_HIT_PX = 24;
  var DOUBLE_CLICK_MS = 500;
  var NUDGE_PX = 1;         // arrow keys move by screen pixels, Shift by ten
  var ZOOMS = [1, 1.5, 2, 3, 4, 6];
  var MIN_STAGE_PX = 240;   // a short window still gets a photo worth drawing on
  var HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
  var LAST_TAG = "regionEditor.lastTag";  // sessionStorage: the tag chosen last, any image

  // Labelling runs of one kind of object: the picker offers the tag chosen last first, so
  // Enter repeats it. Storage may be off (private windows); then it offers the first tag.
  function lastTag(name) {
    try {
      if (name === undefined) return window.sessionStorage.getItem(LAST_TAG);
      window.sessionStorage.setItem(LAST_TAG, name);
    } catch (err) { /* no storage: no memory */ }
    return null;
  }

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  function copyBox(b) {
    return {tag_id: b.tag_id || null, tag_name: b.tag_name || "",
      left: b.left, top: b.top, width: b.width, height: b.height};
  }

  function svgEl(name, attrs, parent) {
    var el = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(el);
    return el;
  }

  function jsonFrom(id) {
    var el = id && document.getElementById(id);
    return el ? JSON.parse(el.textContent) : [];
  }

  // Keys typed into a field are text, never shortcuts.
  function isTyping(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function Editor(root) {
    this.root = root;
    this.q = function (sel) { return root.querySelector(sel); };
    this.stage = this.q(".re-stage");
    this.canvas = this.q(".re-canvas");
    this.img = this.q(".re-canvas img");
    this.svg = this.q(".re-svg");
    this.picker = this.q(".re-picker");
    this.tagInput = this.q(".re-tag-input");
    this.tagList = this.q(".re-tag-list");
    this.status = this.q(".re-status");
    this.autosave = root.dataset.autosave !== "false";
    this.regions = jsonFrom(root.dataset.regionsId).map(copyBox);
    this.tags = jsonFrom(root.dataset.tagsId);
    this.selected = -1;
    this.undoStack = [];
    this.pending = null;     // {index, isNew, before}: the region whose tag the picker chooses
    this.highlight = 0;      // the picker's highlighted tag
    this.proposals = [];
    this.proposal = -1;      // the suggested box shown (hovered, or cycled with p)
    this.proposalWanted = 0; // p pressed before the proposals arrived
    this.drafts = [];
    this.drag = null;
    this.zoom = 0;
    this.inflight = null;
    this.dirty = false;
    this.lastOk = true;
    this.bind();
    this.fetchExtras();
    this.layout();
  }

  Editor.prototype.bind = function () {
    var self = this;
    var on = function (el, type, fn, opts) { el.addEventListener(type, fn.bind(self), opts); };
    on(this.svg, "pointerdown", this.onPointerDown);
    on(this.svg, "pointermove", this.onPointerMove);
    on(this.svg, "pointerup", this.onPointerUp);
    on(this.svg, "pointercancel", this.onPointerCancel);
    on(this.svg, "pointerleave", function () { if (!this.drag) this.showProposal(-1); });
    // Ctrl + wheel zooms, as in image viewers; a plain wheel still scrolls.
    on(this.stage, "wheel", this.onWheel, {passive: false});
    on(this.stage, "scroll", function () { if (this.pending) this.placePicker(); });
    on(this.root, "click", this.onClick);
    on(this.tagInput, "input", function () { this.highlight = 0; this.fillTagList(); });
    on(this.tagInput, "keydown", this.onPickerKey);
    on(this.tagList, "pointerdown", function (e) { e.preventDefault(); });  // keep the focus
    on(document, "keydown", this.onKey);
    // Laid out again in the next frame when the window or the stage's width changes (the
    // page's scrollbar, a sidebar): resizing inside an observer's callback would loop.
    var width = 0, later = function () {
      window.requestAnimationFrame(function () { self.layout(); });
    };
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (self.stage.offsetWidth === width) return;
        width = self.stage.offsetWidth;
        later();
      }).observe(this.stage);
    }
    on(window, "resize", later);
    if (!this.img.complete) on(this.img, "load", this.layout);
  };

  // Proposals and drafts are asked for once; the editor works without them.
  Editor.prototype.fetchExtras = function () {
    var self = this;
    var get = function (url) {
      return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : {}; });
    };
    if (this.root.dataset.proposalsUrl) {
      this.root.dataset.proposals = "loading";
      get(this.root.dataset.proposalsUrl).then(function (data) {
        self.proposals = data.proposals || [];
      }).catch(function () { /* suggestions are optional */ }).then(function () {
        self.root.dataset.proposals = "ready";
        // p pressed while they were on their way: show the first now.
        if (self.proposalWanted) self.cycleProposal(self.proposalWanted);
        self.proposalWanted = 0;
      });
    }
    if (this.root.dataset.draftsUrl) {
      get(this.root.dataset.draftsUrl).then(function (data) {
        self.drafts = (data.drafts || []).map(function (d) {
          var box = copyBox(d);
          box.probability = d.probability;
          return box;
        });
        self.render();
      }).catch(function () { self.setStatus("The suggested objects could not be loaded.", true); });
    }
  };

  // --- Geometry --------------------------------------------------------------------------------

  // The photo's rendered rectangle: every normalised coordinate is measured against it.
  Editor.prototype.rect = function () { return this.img.getBoundingClientRect(); };

  Editor.prototype.pointFrom = function (e) {
    var r = this.rect();
    return {x: clamp((e.clientX - r.left) / r.width, 0, 1),
      y: clamp((e.clientY - r.top) / r.height, 0, 1)};
  };

  // Fit the photo to the stage's width and the window's height, times the zoom; the stage
  // scrolls when zoomed, so the page itself never gets wider than the screen.
  Editor.prototype.layout = function () {
    var natW = this.img.naturalWidth || parseFloat(this.img.getAttribute("width")) || 4;
    var natH = this.img.naturalHeight || parseFloat(this.img.getAttribute("height")) || 3;
    // The stage's width without its borders, scrollbars or not: the zoom changes neither.
    var avail = this.stage.offsetWidth - this.stage.clientLeft * 2;
    // As tall as the window leaves below the toolbar, so a laptop shows the whole photo
    // without scrolling the page; the stage is as tall, and scrolls when zoomed.
    var top = this.stage.getBoundingClientRect().top + window.scrollY;
    var maxH = Math.max(MIN_STAGE_PX, window.innerHeight - top - 12);
    this.stage.style.maxHeight = maxH + this.stage.clientTop * 2 + "px";
    this.fitWidth = Math.floor(Math.min(avail, maxH * natW / natH));
    this.canvas.style.width = this.fitWidth * ZOOMS[this.zoom] + "px";
    this.q(".re-zoom-level").textContent = Math.round(ZOOMS[this.zoom] * 100) + "%";
    this.render();
    if (this.pending) this.placePicker();
  };

  Editor.prototype.setZoom = function (level, clientX, clientY) {
    level = clamp(level, 0, ZOOMS.length - 1);
    if (level === this.zoom) return;
    var s = this.stage.getBoundingClientRect();
    var ax = clientX === undefined ? s.left + s.width / 2 : clientX;
    var ay = clientY === undefined ? s.top + s.height / 2 : clientY;
    var r = this.rect();
    var fx = (ax - r.left) / r.width, fy = (ay - r.top) / r.height;
    this.zoom = level;
    this.layout();
    // Keep the point under the pointer (or the stage's centre) where it was.
    var r2 = this.rect();
    this.stage.scrollLeft += r2.left + fx * r2.width - ax;
    this.stage.scrollTop += r2.top + fy * r2.height - ay;
  };

  Editor.prototype.onWheel = function (e) {
    if (!e.ctrlKey) return;
    e.preventDefault();
    this.setZoom(this.zoom + (e.deltaY < 0 ? 1 : -1), e.clientX, e.clientY);
  };

  // --- Drawing ---------------------------------------------------------------------------------

  Editor.prototype.render = function () {
    var r = this.rect(), w = r.width, h = r.height;
    var svg = this.svg;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var px = function (b) {
      return {x: b.left * w, y: b.top * h, width: b.width * w, height: b.height * h};
    };
    if (this.proposal >= 0 && this.proposals[this.proposal]) {
      var p = px(this.proposals[this.proposal]);
      svgEl("rect", Object.assign({"class": "re-proposal"}, p), svg);
    }
    this.drafts.forEach(function (d, i) {
      var g = svgEl("g", {"class": "re-draft"}, svg);
      svgEl("rect", Object.assign({"data-draft": i}, px(d)), g);
      this.label(g, px(d), d.tag_name + " " + Math.round((d.probability || 0) * 100) + "%");
    }, this);
    this.regions.forEach(function (b, i) {
      var g = svgEl("g", {"class": "re-region" + (i === this.selected ? " selected" : "")}, svg);
      svgEl("rect", Object.assign({"data-index": i}, px(b)), g);
      this.label(g, px(b), b.tag_name || "…");
    }, this);
    if (this.drag && this.drag.mode === "draw" && this.drag.box) {
      svgEl("rect", Object.assign({"class": "re-drawing"}, px(this.drag.box)), svg);
    }
    if (this.selected >= 0 && this.regions[this.selected]) {
      this.renderHandles(px(this.regions[this.selected]));
    }
    this.renderList();
  };

  Editor.prototype.label = function (g, p, text) {
    var t = svgEl("text", {x: p.x + 3, y: p.y + 14, "class": "re-label"}, g);
    t.textContent = text;
  };

  // Eight handles on the selected box: corners resize both ways, edges one.
  Editor.prototype.renderHandles = function (p) {
    var g = svgEl("g", {"class": "re-handles"}, this.svg);
    HANDLES.forEach(function (dir) {
      var cx = p.x + (/w/.test(dir) ? 0 : /e/.test(dir) ? p.width : p.width / 2);
      var cy = p.y + (/n/.test(dir) ? 0 : /s/.test(dir) ? p.height : p.height / 2);
      var hit = HANDLE_HIT_PX, size = HANDLE_PX;
      svgEl("rect", {x: cx - hit / 2, y: cy - hit / 2, width: hit, height: hit,
        "class": "re-handle-hit re-h-" + dir, "data-handle": dir}, g);
      svgEl("rect", {x: cx - size / 2, y: cy - size / 2, width: size, height: size,
        "class": "re-handle", "data-handle": dir}, g);
    });
  };

  // The list under the photo: one button a region, for selecting without the mouse too.
  Editor.prototype.renderList = function () {
    var list = this.q(".re-regions");
    list.textContent = "";
    this.regions.forEach(function (b, i) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.dataset.select = i;
      button.setAttribute("aria-pressed", i === this.selected ? "true" : "false");
      button.textContent = b.tag_name || "Untagged";
      li.appendChild(button);
      list.appendChild(li);
    }, this);
    this.q(".re-empty").hidden = this.regions.length > 0;
    this.q("[data-action=undo]").disabled = this.undoStack.length === 0;
    this.q("[data-action=delete]").disabled = this.selected < 0;
    this.renderDrafts();
  };

  Editor.prototype.renderDrafts = function () {
    var box = this.q(".re-drafts");
    var list = this.q(".re-draft-list");
    box.hidden = this.drafts.length === 0;
    list.textContent = "";
    this.drafts.forEach(function (d, i) {
      var li = document.createElement("li");
      li.appendChild(document.createTextNode(
        d.tag_name + " " + Math.round((d.probability || 0) * 100) + "% "));
      [["accept-draft", "Accept"], ["discard-draft", "Discard"]].forEach(function (a) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "secondary";
        b.dataset.action = a[0];
        b.dataset.draft = i;
        b.textContent = a[1];
        b.setAttribute("aria-label", a[1] + " " + d.tag_name + " " + (i + 1));
        li.appendChild(b);
      });
      list.appendChild(li);
    });
  };

  // --- Pointer ---------------------------------------------------------------------------------

  Editor.prototype.onPointerDown = function (e) {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    this.stage.focus({preventScroll: true});
    var data = Object.assign({}, e.target.dataset), start = this.pointFrom(e);
    // A click away from the tag picker closes it: a new box without a tag goes.
    if (this.pending) this.closePicker(false);
    var index = data.index === undefined ? -1 : parseInt(data.index, 10);
    var base = {pointer: e.pointerId, start: start, before: this.snapshot(), moved: false,
      sx: e.clientX, sy: e.clientY};
    if (data.handle && this.selected >= 0) {
      this.drag = Object.assign(base, {mode: "resize", handle: data.handle,
        orig: copyBox(this.regions[this.selected])});
    } else if (index >= 0 && index < this.regions.length) {
      this.select(index);
      this.drag = Object.assign(base, {mode: "move", orig: copyBox(this.regions[this.selected])});
    } else if (data.draft !== undefined) {
      this.drag = Object.assign(base, {mode: "draft", draft: parseInt(data.draft, 10)});
    } else {
      this.drag = Object.assign(base, {mode: "draw", proposal: this.proposal, box: null});
    }
    this.svg.setPointerCapture(e.pointerId);
  };

  Editor.prototype.onPointerMove = function (e) {
    var d = this.drag;
    if (!d) {
      if (e.pointerType !== "touch") this.hoverProposal(this.pointFrom(e));  // a pen hovers too
      return;
    }
    if (e.pointerId !== d.pointer) return;
    var far = Math.abs(e.clientX - d.sx) >= MIN_BOX_PX || Math.abs(e.clientY - d.sy) >= MIN_BOX_PX;
    d.moved = d.moved || far;
    if (!d.moved) return;
    var p = this.pointFrom(e);
    if (d.mode === "draw") {
      this.proposal = -1;
      d.box = {left: Math.min(d.start.x, p.x), top: Math.min(d.start.y, p.y),
        width: Math.abs(p.x - d.start.x), height: Math.abs(p.y - d.start.y)};
    } else if (d.mode === "move") {
      var o = d.orig, b = this.regions[this.selected];
      b.left = clamp(o.left + p.x - d.start.x, 0, 1 - o.width);
      b.top = clamp(o.top + p.y - d.start.y, 0, 1 - o.height);
    } else if (d.mode === "resize") {
      this.resizeTo(d, p);
    }
    this.render();
  };

  // Moves the dragged edges to the pointer; the others stay exactly where they were.
  Editor.prototype.resizeTo = function (d, p) {
    var o = d.orig, r = this.rect();
    var minW = MIN_SIDE_PX / r.width, minH = MIN_SIDE_PX / r.height;
    var x0 = o.left, y0 = o.top, x1 = o.left + o.width, y1 = o.top + o.height;
    if (/w/.test(d.handle)) x0 = Math.min(p.x, x1 - minW);
    if (/e/.test(d.handle)) x1 = Math.max(p.x, x0 + minW);
    if (/n/.test(d.handle)) y0 = Math.min(p.y, y1 - minH);
    if (/s/.test(d.handle)) y1 = Math.max(p.y, y0 + minH);
    var b = this.regions[this.selected];
    b.left = clamp(x0, 0, 1);
    b.top = clamp(y0, 0, 1);
    b.width = Math.min(x1, 1) - b.left;
    b.height = Math.min(y1, 1) - b.top;
  };

  Editor.prototype.onPointerUp = function (e) {
    var d = this.drag;
    if (!d || e.pointerId !== d.pointer) return;
    this.drag = null;
    if (this.svg.hasPointerCapture(e.pointerId)) this.svg.releasePointerCapture(e.pointerId);
    var r = this.rect();
    if (d.mode === "draw") {
      var big = d.box && d.box.width * r.width >= MIN_BOX_PX && d.box.height * r.height >= MIN_BOX_PX;
      if (big) {
        this.addRegion(d.box, d.before);
      } else if (!d.moved && d.proposal >= 0) {
        this.keepProposal(d.proposal);
      } else {
        this.select(-1);
      }
    } else if (d.mode === "draft") {
      if (!d.moved) this.acceptDraft(d.draft);
    } else if (d.moved) {
      this.commit(d.before);
    } else if (d.mode === "move") {
      this.clickedRegion();
    }
    this.render();
  };

  // A double click (or tap) on a region changes its tag, as t or Enter does. Counted here:
  // each press redraws the boxes, so the browser's own click and dblclick never fire on them.
  Editor.prototype.clickedRegion = function () {
    var now = Date.now(), last = this.lastClick;
    this.lastClick = {index: this.selected, at: now};
    if (last && last.index === this.selected && now - last.at < DOUBLE_CLICK_MS) {
      this.lastClick = null;
      this.openPicker(this.selected, false);
    }
  };

  Editor.prototype.onPointerCancel = function () {
    var d = this.drag;
    this.drag = null;
    if (d && (d.mode === "move" || d.mode === "resize")) this.regions = d.before;
    this.render();
  };

  // The smallest suggested box under the pointer, shown faintly, unless a region is there.
  Editor.prototype.hoverProposal = function (p) {
    var best = -1, area = Infinity;
    var inside = function (b) {
      return p.x >= b.left && p.x <= b.left + b.width && p.y >= b.top && p.y <= b.top + b.height;
    };
    if (!this.regions.some(inside)) {
      this.proposals.forEach(function (b, i) {
        if (inside(b) && b.width * b.height < area) { best = i; area = b.width * b.height; }
      });
    }
    this.showProposal(best);
  };

  Editor.prototype.showProposal = function (i) {
    if (i === this.proposal) return;
    this.proposal = i;
    this.render();
  };

  // --- Regions ---------------------------------------------------------------------------------

  Editor.prototype.snapshot = function () { return this.regions.map(copyBox); };

  Editor.prototype.select = function (i) {
    this.selected = i >= 0 && i < this.regions.length ? i : -1;
    this.render();
  };

  // A new box is not a change yet: it becomes one when its tag is chosen (Escape drops it).
  Editor.prototype.addRegion = function (box, before) {
    this.regions.push(copyBox(box));
    this.selected = this.regions.length - 1;
    this.render();
    this.openPicker(this.selected, true, before);
  };

  Editor.prototype.keepProposal = function (i) {
    var p = this.proposals[i];
    this.proposal = -1;
    if (p) this.addRegion(p, this.snapshot());
  };

  Editor.prototype.acceptDraft = function (i) {
    var d = this.drafts[i];
    if (!d) return;
    var before = this.snapshot();
    this.drafts.splice(i, 1);
    this.regions.push(copyBox(d));
    this.commit(before);
  };

  Editor.prototype.deleteSelected = function () {
    if (this.selected < 0) return;
    var before = this.snapshot();
    this.regions.splice(this.selected, 1);
    this.selected = -1;
    this.commit(before);
  };

  Editor.prototype.nudge = function (dx, dy) {
    var b = this.regions[this.selected], r = this.rect();
    if (!b) return;
    var before = this.snapshot();
    b.left = clamp(b.left + dx / r.width, 0, 1 - b.width);
    b.top = clamp(b.top + dy / r.height, 0, 1 - b.height);
    this.commit(before);
  };

  Editor.prototype.undo = function () {
    if (this.pending) this.closePicker(false);
    var before = this.undoStack.pop();
    if (!before) return;
    this.regions = before;
    this.selected = Math.min(this.selected, this.regions.length - 1);
    this.changed();
  };

  // Every finished change: undoable, then saved (autosave) or marked unsaved.
  Editor.prototype.commit = function (before) {
    this.undoStack.push(before);
    if (this.undoStack.length > 200) this.undoStack.shift();
    this.changed();
  };

  Editor.prototype.changed = function () {
    this.render();
    if (this.autosave) {
      this.save();
    } else {
      this.setStatus("Unsaved changes");
    }
  };

  Editor.prototype.setTag = function (i, tag) {
    var b = this.regions[i];
    if (!b || (b.tag_name === tag.name && b.tag_id === tag.id)) return;
    var before = this.snapshot();
    b.tag_id = tag.id;
    b.tag_name = tag.name;
    lastTag(tag.name);
    this.commit(before);
  };

  // --- Tag picker ------------------------------------------------------------------------------

  Editor.prototype.openPicker = function (i, isNew, before) {
    this.pending = {index: i, isNew: isNew, before: before || this.snapshot()};
    this.picker.hidden = false;
    this.tagInput.value = "";
    var last = lastTag();
    this.highlight = Math.max(0, this.tags.findIndex(function (t) { return t.name === last; }));
    this.fillTagList();
    this.placePicker();
    this.tagInput.focus({preventScroll: true});
  };

  // Beside the box: below it when there is room, else above; never past the editor's sides.
  Editor.prototype.placePicker = function () {
    var b = this.regions[this.pending.index];
    if (!b) return;
    var r = this.rect(), root = this.root.getBoundingClientRect();
    var s = this.stage.getBoundingClientRect();
    var x = r.left + b.left * r.width - root.left;
    var bottom = Math.min(r.top + (b.top + b.height) * r.height, s.bottom) - root.top;
    var width = this.picker.offsetWidth;
    this.picker.style.left = clamp(x, 0, Math.max(0, root.width - width)) + "px";
    this.picker.style.top = Math.max(0, bottom + 6) + "px";
  };

  Editor.prototype.filteredTags = function () {
    var text = this.tagInput.value.trim().toLowerCase();
    return this.tags.filter(function (t) { return t.name.toLowerCase().indexOf(text) !== -1; });
  };

  Editor.prototype.fillTagList = function () {
    var list = this.tagList, shown = this.filteredTags(), id = this.tagInput.id;
    list.textContent = "";
    this.highlight = clamp(this.highlight, 0, Math.max(0, shown.length - 1));
    shown.forEach(function (t, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.id = id + "-option-" + i;
      li.setAttribute("aria-selected", i === this.highlight ? "true" : "false");
      var n = this.tags.indexOf(t);
      li.textContent = t.name;
      if (n < 9) {
        var key = document.createElement("kbd");
        key.textContent = String(n + 1);
        key.setAttribute("aria-hidden", "true");
        li.appendChild(key);
      }
      li.addEventListener("click", this.chooseTag.bind(this, t));
      list.appendChild(li);
    }, this);
    list.hidden = shown.length === 0;
    this.tagInput.setAttribute("aria-expanded", shown.length ? "true" : "false");
    if (shown.length) {
      this.tagInput.setAttribute("aria-activedescendant", id + "-option-" + this.highlight);
    } else {
      this.tagInput.removeAttribute("aria-activedescendant");
    }
  };

  Editor.prototype.onPickerKey = function (e) {
    var shown = this.filteredTags();
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      var step = e.key === "ArrowDown" ? 1 : -1;
      this.highlight = (this.highlight + step + shown.length) % Math.max(1, shown.length);
      this.fillTagList();
    } else if (e.key === "Enter") {
      e.preventDefault();
      // A typed name that no tag contains is a new tag; otherwise the highlighted one.
      if (shown.length) this.chooseTag(shown[this.highlight]); else this.chooseTyped();
    } else if (e.key === "Escape") {
      e.preventDefault();
      this.closePicker(false);
    }
    e.stopPropagation();  // the editor's shortcuts pause while typing a tag
  };

  // The typed name: an existing tag when one has that name (ignoring case), else a new tag,
  // created by the server on the next save.
  Editor.prototype.chooseTyped = function () {
    var name = this.tagInput.value.trim().replace(/\s+/g, " ");
    if (!name) {
      this.setStatus("Type a tag name, or pick one from the list.", true);
      this.tagInput.focus();
      return;
    }
    var same = this.tags.filter(function (t) { return t.name.toLowerCase() === name.toLowerCase(); });
    var tag = same[0];
    if (!tag) {
      tag = {id: null, name: name};
      this.tags.push(tag);
    }
    this.chooseTag(tag);
  };

  Editor.prototype.chooseTag = function (tag) {
    var p = this.pending;
    if (!p) return;
    var b = this.regions[p.index];
    this.pending = null;
    this.picker.hidden = true;
    b.tag_id = tag.id;
    b.tag_name = tag.name;
    lastTag(tag.name);
    this.commit(p.before);
    this.stage.focus({preventScroll: true});
  };

  // Closing without a tag drops a new box; an existing region keeps the tag it had.
  Editor.prototype.closePicker = function (refocus) {
    var p = this.pending;
    if (!p) return;
    this.pending = null;
    this.picker.hidden = true;
    if (p.isNew) {
      this.regions = p.before;
      this.selected = -1;
    }
    this.render();
    if (refocus !== false || this.picker.contains(document.activeElement)) {
      this.stage.focus({preventScroll: true});
    }
  };

  // --- Saving ----------------------------------------------------------------------------------

  Editor.prototype.setStatus = function (text, isError) {
    this.status.textContent = text;
    this.status.classList.toggle("error", !!isError);
  };

  // One save in flight at a time; changes made meanwhile are sent by one more save after it.
  // The promise answers whether everything is saved.
  Editor.prototype.save = function () {
    this.dirty = true;
    if (!this.inflight) this.inflight = this.saveLoop();
    return this.inflight;
  };

  Editor.prototype.saveLoop = async function () {
    var ok = true;
    while (this.dirty) {
      this.dirty = false;
      ok = await this.post();
    }
    this.inflight = null;
    this.lastOk = ok;
    return ok;
  };

  Editor.prototype.post = async function () {
    var token = this.q("input[name=csrfmiddlewaretoken]").value;
    var regions = this.regions.filter(function (b) { return b.tag_id || b.tag_name; });
    var body = JSON.stringify({regions: regions.map(copyBox)});
    this.setStatus("Saving…");
    try {
      var response = await fetch(this.root.dataset.saveUrl, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json",
          "X-CSRFToken": token},
        // A save still goes when the user leaves at once (a tab, Train); browsers allow
        // that for bodies under 64 KiB.
        keepalive: body.length < 60000,
        body: body
      });
      var data = await response.json().catch(function () { return {}; });
      if (!response.ok) throw new Error(data.error || "The save failed (" + response.status + ").");
      this.saved(data);
      return true;
    } catch (err) {
      var offline = err instanceof TypeError;
      this.setStatus(offline ? "Not saved: the server can't be reached. Press s to retry."
        : "Not saved: " + err.message, true);
      return false;
    }
  };

  // The server's tags give new tags their ids, so a region typed as "spoon" keeps its tag.
  Editor.prototype.saved = function (data) {
    if (data.tags) {
      this.tags = data.tags;
      var ids = {};
      this.tags.forEach(function (t) { ids[t.name.toLowerCase()] = t.id; });
      this.regions.forEach(function (b) {
        if (!b.tag_id && ids[b.tag_name.toLowerCase()]) b.tag_id = ids[b.tag_name.toLowerCase()];
      });
    }
    if (!this.dirty) this.setStatus("Saved");
    if (data.redirect && !this.autosave) window.location.assign(data.redirect);
  };

  // Next and Previous wait for the save; a failed save keeps the user here, told why.
  Editor.prototype.go = async function (which) {
    var url = this.root.dataset[which + "Url"];
    if (!url) return;
    if (this.pending) {
      if (this.tagInput.value.trim()) this.chooseTyped(); else this.closePicker(false);
    }
    var ok = this.inflight ? await this.inflight : this.lastOk;
    if (!ok && this.autosave) ok = await this.save();
    if (ok || !this.autosave) window.location.assign(url);
  };

  // --- Buttons and keys ------------------------------------------------------------------------

  Editor.prototype.onClick = function (e) {
    var b = e.target.closest("button");
    if (!b || !this.root.contains(b)) return;
    if (b.dataset.select !== undefined) {
      this.select(parseInt(b.dataset.select, 10));
      return;
    }
    var actions = {
      previous: function () { this.go("previous"); },
      next: function () { this.go("next"); },
      undo: this.undo,
      "delete": this.deleteSelected,
      "zoom-in": function () { this.setZoom(this.zoom + 1); },
      "zoom-out": function () { this.setZoom(this.zoom - 1); },
      save: this.save,
      "add-tag": this.chooseTyped,
      "accept-draft": function () { this.acceptDraft(parseInt(b.dataset.draft, 10)); },
      "discard-draft": function () { this.drafts.splice(parseInt(b.dataset.draft, 10), 1); this.render(); },
      "accept-drafts": function () { while (this.drafts.length) this.acceptDraft(0); },
      "discard-drafts": function () { this.drafts = []; this.render(); }
    };
    var fn = actions[b.dataset.action];
    if (fn) fn.call(this);
  };

  // Shortcuts act when the focus is on the photo, the page itself, or one of the editor's
  // buttons; never while typing, and never for another editor on the page.
  Editor.prototype.ownsKey = function (e) {
    var t = e.target;
    if (isTyping(t) || e.altKey) return false;
    if (t === this.stage || this.root.contains(t)) return true;
    var first = document.querySelector("[data-region-editor]") === this.root;
    return first && (t === document.body || t === document.documentElement);
  };

  Editor.prototype.onKey = function (e) {
    if (e.defaultPrevented || !this.ownsKey(e)) return;
    var onStage = e.target === this.stage || e.target === document.body;
    if (this.pending && e.key === "Escape") {  // the picker's button had the focus
      e.preventDefault();
      this.closePicker();
      return;
    }
    if (e.ctrlKey || e.metaKey) {
      var k = e.key.toLowerCase();
      if (k === "z") this.undo(); else if (k === "s") this.save(); else return;
      e.preventDefault();
      return;
    }
    if (this.regionKey(e, onStage) || this.pageKey(e, onStage)) e.preventDefault();
  };

  // Keys about the regions; true when the key was used.
  Editor.prototype.regionKey = function (e, onStage) {
    var key = e.key, step = (e.shiftKey ? 10 : 1) * NUDGE_PX;
    var arrows = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step]};
    if (arrows[key] && this.selected >= 0) {
      this.nudge(arrows[key][0], arrows[key][1]);
    } else if (key === "n" || key === "N" || (key === "Tab" && onStage && this.cycles(e.shiftKey))) {
      this.cycle(e.shiftKey || key === "N" ? -1 : 1);
    } else if (/^[1-9]$/.test(key) && this.selected >= 0 && this.tags[+key - 1]) {
      this.setTag(this.selected, this.tags[+key - 1]);
    } else if ((key === "Delete" || key === "Backspace") && this.selected >= 0) {
      this.deleteSelected();
    } else if (key === "p" || key === "P") {
      this.cycleProposal(key === "P" ? -1 : 1);
    } else if (key === "Enter" && onStage && this.proposal >= 0) {
      this.keepProposal(this.proposal);
    } else if ((key === "Enter" && onStage || key === "t") && this.selected >= 0) {
      this.openPicker(this.selected, false);
    } else if (key === "Escape" && (this.proposal >= 0 || this.selected >= 0)) {
      if (this.proposal >= 0) this.setStatus("");
      this.proposal = -1;
      this.select(-1);
    } else {
      return false;
    }
    return true;
  };

  // Keys about the page: save, next, previous, zoom, the shortcuts list.
  Editor.prototype.pageKey = function (e) {
    var key = e.key;
    if (key === "s") {
      this.save();
    } else if (key === "PageDown" || key === ".") {
      this.go("next");
    } else if (key === "PageUp" || key === ",") {
      this.go("previous");
    } else if (key === "+" || key === "=") {
      this.setZoom(this.zoom + 1);
    } else if (key === "-" || key === "−") {
      this.setZoom(this.zoom - 1);
    } else if (key === "?") {
      var help = this.q("details.shortcuts");
      help.open = !help.open;
    } else {
      return false;
    }
    return true;
  };

  // Tab walks the regions from the photo, then leaves it as usual after the last one.
  Editor.prototype.cycles = function (backwards) {
    if (!this.regions.length) return false;
    if (backwards) return this.selected !== 0;
    return this.selected < this.regions.length - 1;
  };

  Editor.prototype.cycle = function (step) {
    var n = this.regions.length;
    if (!n) return;
    var from = this.selected < 0 ? (step > 0 ? -1 : n) : this.selected;
    this.select(((from + step) % n + n) % n);
    this.proposal = -1;
    this.render();
  };

  // p walks the suggested boxes, largest confidence first; Enter keeps the one shown.
  Editor.prototype.cycleProposal = function (step) {
    var n = this.proposals.length;
    if (this.root.dataset.proposals === "loading") {
      this.proposalWanted = step;
      this.setStatus("Finding suggested boxes…");
      return;
    }
    if (!n) {
      this.setStatus("No suggested boxes for this photo.");
      return;
    }
    this.selected = -1;
    this.proposal = ((this.proposal < 0 ? (step > 0 ? -1 : n) : this.proposal) + step + n) % n;
    this.render();
    this.setStatus("Suggested box " + (this.proposal + 1) + " of " + n + ": Enter keeps it.");
  };

  function mount(root) {
    if (root.regionEditor) return root.regionEditor;
    root.regionEditor = new Editor(root);
    return root.regionEditor;
  }

  window.RegionEditor = {mount: mount};
  document.querySelectorAll("[data-region-editor]").forEach(mount);
})();
