// A detector's Performance tab: the Probability Threshold and Overlap Threshold sliders
// recompute every figure (per tag and overall precision, recall, AP, mAP and their spread
// across folds) and re-draw the images' boxes in the browser, from the out-of-fold detections
// the server embedded (#detection-data), so moving them costs no request.
//
// The figures are engine/detection_metrics.py's `evaluate` and training/selectors.py's
// `iteration_detection_performance`, ported step by step (same order of operations, numpy's
// pairwise summation, stable ranking) so that they equal the server's at every position:
// tests/browser/test_detection_performance.py holds them to it.
(function () {
  "use strict";

  var PAIRWISE_BLOCK = 128;

  // --- engine/boxes.py -----------------------------------------------------------------------

  function corners(left, top, width, height) {
    return [left, top, left + width, top + height];
  }

  // IoU of two x1, y1, x2, y2 boxes, as `iou` computes it for one of `others`.
  function iou(box, other) {
    var x = Math.max(box[0], other[0]), y = Math.max(box[1], other[1]);
    var x2 = Math.min(box[2], other[2]), y2 = Math.min(box[3], other[3]);
    var overlap = Math.max(0, x2 - x) * Math.max(0, y2 - y);
    var area = Math.max(0, (box[2] - box[0]) * (box[3] - box[1]));
    var areas = Math.max(other[2] - other[0], 0) * Math.max(other[3] - other[1], 0);
    var union = area + areas - overlap;
    return union > 0 ? overlap / union : 0;
  }

  // numpy's float64 sum of a contiguous array: pairwise, in blocks of eight.
  function pairwiseSum(a, start, n) {
    var i, result;
    if (n < 8) {
      result = 0;
      for (i = 0; i < n; i++) result += a[start + i];
      return result;
    }
    if (n <= PAIRWISE_BLOCK) {
      var r = a.slice(start, start + 8);
      for (i = 8; i < n - (n % 8); i += 8) {
        for (var j = 0; j < 8; j++) r[j] += a[start + i + j];
      }
      result = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) result += a[start + i];
      return result;
    }
    var half = Math.floor(n / 2);
    half -= half % 8;
    return pairwiseSum(a, start, half) + pairwiseSum(a, start + half, n - half);
  }

  // --- engine/detection_metrics.py -----------------------------------------------------------

  // One tag's detections over all images, most probable first (a stable sort, as Python's),
  // each matched to the unmatched truth box of its image it overlaps most.
  function rankTag(images, tag, overlap) {
    var boxes = images.map(function (image) {
      return image.regions.filter(function (b) { return b[0] === tag; })
        .map(function (b) { return corners(b[1], b[2], b[3], b[4]); });
    });
    var found = [];
    images.forEach(function (image, index) {
      image.detections.forEach(function (d) {
        if (d[0] === tag) found.push({ p: d[1], image: index, box: corners(d[2], d[3], d[4], d[5]) });
      });
    });
    found.sort(function (a, b) { return b.p - a.p; });
    var used = boxes.map(function (b) { return b.map(function () { return false; }); });
    var hits = found.map(function (f) {
      var truth = boxes[f.image];
      if (!truth.length) return false;
      var best = 0, bestOverlap = -Infinity;
      for (var k = 0; k < truth.length; k++) {
        var value = used[f.image][k] ? -1 : iou(f.box, truth[k]);
        if (value > bestOverlap) { best = k; bestOverlap = value; }
      }
      if (bestOverlap >= overlap) {
        used[f.image][best] = true;
        return true;
      }
      return false;
    });
    var truthCount = boxes.reduce(function (sum, b) { return sum + b.length; }, 0);
    return { probabilities: found.map(function (f) { return f.p; }), hits: hits, truthCount: truthCount };
  }

  function averagePrecision(hits, truthCount) {
    if (truthCount === 0 || !hits.length) return 0;
    var n = hits.length, tp = 0, recall = [], precision = [];
    for (var i = 0; i < n; i++) {
      tp += hits[i] ? 1 : 0;
      recall.push(tp / truthCount);
      precision.push(tp / (i + 1));
    }
    var envelope = new Array(n);
    var best = -Infinity;
    for (i = n - 1; i >= 0; i--) {
      best = Math.max(best, precision[i]);
      envelope[i] = best;
    }
    var terms = [];
    for (i = 0; i < n; i++) terms.push((recall[i] - (i ? recall[i - 1] : 0)) * envelope[i]);
    return pairwiseSum(terms, 0, n);
  }

  function evaluate(images, tagCount, threshold, overlap) {
    var perTag = [], totalHits = 0, totalFound = 0, totalTruth = 0;
    for (var tag = 0; tag < tagCount; tag++) {
      var ranked = rankTag(images, tag, overlap);
      var hits = 0, found = 0;
      ranked.probabilities.forEach(function (p, i) {
        if (p >= threshold) {
          found += 1;
          if (ranked.hits[i]) hits += 1;
        }
      });
      perTag.push({
        precision: found ? hits / found : 0,
        recall: ranked.truthCount ? hits / ranked.truthCount : 0,
        average_precision: averagePrecision(ranked.hits, ranked.truthCount),
        truthCount: ranked.truthCount,
      });
      totalHits += hits;
      totalFound += found;
      totalTruth += ranked.truthCount;
    }
    var aps = perTag.filter(function (t) { return t.truthCount > 0; })
      .map(function (t) { return t.average_precision; });
    var apSum = 0;
    aps.forEach(function (ap) { apSum += ap; });
    return {
      perTag: perTag,
      precision: totalFound ? totalHits / totalFound : 0,
      recall: totalTruth ? totalHits / totalTruth : 0,
      mean_average_precision: aps.length ? apSum / aps.length : 0,
    };
  }

  // --- training/selectors.py -----------------------------------------------------------------

  // Population standard deviation across folds, 0 for one.
  function spread(values) {
    if (values.length < 2) return 0;
    var sum = 0;
    values.forEach(function (v) { sum += v; });
    var mean = sum / values.length, squares = 0;
    values.forEach(function (v) { squares += Math.pow(v - mean, 2); });
    return Math.pow(squares / values.length, 0.5);
  }

  // `iteration_detection_performance`: {tags: [...], overall: {...}} at these thresholds.
  function performance(data, threshold, overlap) {
    var count = data.tags.length;
    var whole = evaluate(data.images, count, threshold, overlap);
    var folds = new Map();
    data.images.forEach(function (image) {
      var fold = image.fold === null || image.fold === undefined ? 0 : image.fold;
      if (!folds.has(fold)) folds.set(fold, []);
      folds.get(fold).push(image);
    });
    var parts = [];
    folds.forEach(function (images) { parts.push(evaluate(images, count, threshold, overlap)); });
    return {
      tags: whole.perTag.map(function (figures, t) {
        return {
          precision: figures.precision,
          recall: figures.recall,
          average_precision: figures.average_precision,
          precision_std: spread(parts.map(function (p) { return p.perTag[t].precision; })),
          recall_std: spread(parts.map(function (p) { return p.perTag[t].recall; })),
        };
      }),
      overall: {
        precision: whole.precision,
        recall: whole.recall,
        average_precision: whole.mean_average_precision,
        precision_std: spread(parts.map(function (p) { return p.precision; })),
        recall_std: spread(parts.map(function (p) { return p.recall; })),
      },
    };
  }

  // `image_matches`: which truth boxes are found and which detections at or above the
  // threshold hit one, detections taken most probable first (`ranked`: already sorted).
  function imageMatches(regions, ranked, threshold, overlap) {
    var found = regions.map(function () { return false; });
    var hits = ranked.map(function () { return false; });
    for (var i = 0; i < ranked.length; i++) {
      var d = ranked[i];
      if (d[1] < threshold) break;
      var box = corners(d[2], d[3], d[4], d[5]), best = -1, bestOverlap = -Infinity;
      for (var k = 0; k < regions.length; k++) {
        if (regions[k][0] !== d[0]) continue;
        var r = regions[k];
        var value = found[k] ? -1 : iou(box, corners(r[1], r[2], r[3], r[4]));
        if (value > bestOverlap) { best = k; bestOverlap = value; }
      }
      if (best >= 0 && bestOverlap >= overlap) {
        found[best] = true;
        hits[i] = true;
      }
    }
    return { found: found, hits: hits };
  }

  // --- The page ------------------------------------------------------------------------------

  var percent = window.cvPercent;  // static/portal/percent.js

  function setFigure(element, value) {
    if (!element) return;
    element.textContent = percent(value);
    element.dataset.value = String(value);
  }

  function showFigures(numbers) {
    var overall = numbers.overall;
    setFigure(document.getElementById("overall-precision"), overall.precision);
    setFigure(document.getElementById("overall-recall"), overall.recall);
    setFigure(document.getElementById("overall-map"), overall.average_precision);
    document.getElementById("overall-precision-std").textContent = "± " + percent(overall.precision_std);
    document.getElementById("overall-recall-std").textContent = "± " + percent(overall.recall_std);
    document.querySelectorAll("#tag-performance tr[data-tag-index]").forEach(function (row) {
      var tag = numbers.tags[Number(row.dataset.tagIndex)];
      setFigure(row.querySelector(".tag-precision"), tag.precision);
      setFigure(row.querySelector(".tag-recall"), tag.recall);
      setFigure(row.querySelector(".tag-ap"), tag.average_precision);
    });
  }

  function byProbability(detections) {
    return detections.slice().sort(function (a, b) { return b[1] - a[1]; });
  }

  // Re-draw the images: the partial drew each one's truth boxes then its detections (most
  // probable first); only their kinds and whether they show change with the sliders.
  function showImages(data, threshold, overlap) {
    var mistakes = 0;
    var counts = data.images.map(function (image) {
      var ranked = byProbability(image.detections);
      var matched = imageMatches(image.regions, ranked, threshold, overlap);
      var missed = matched.found.filter(function (f) { return !f; }).length;
      var wrong = ranked.filter(function (d, i) { return d[1] >= threshold && !matched.hits[i]; }).length;
      if (missed + wrong) mistakes += 1;
      return { ranked: ranked, matched: matched, missed: missed, wrong: wrong };
    });
    document.querySelectorAll("#detection-images li[data-image-index]").forEach(function (item) {
      var outcome = counts[Number(item.dataset.imageIndex)];
      var regions = outcome.matched.found.length;
      item.querySelectorAll("g.box").forEach(function (g, i) {
        var kind;
        if (i < regions) {
          kind = outcome.matched.found[i] ? "region" : "missed";
        } else {
          var d = outcome.ranked[i - regions];
          kind = outcome.matched.hits[i - regions] ? "found" : "false";
          g.toggleAttribute("hidden", d[1] < threshold); // an SVG element has no .hidden
        }
        g.setAttribute("class", "box box-" + kind);
      });
      item.querySelector(".missed-count").textContent = outcome.missed;
      item.querySelector(".false-count").textContent = outcome.wrong;
      item.hidden = outcome.missed + outcome.wrong === 0;
    });
    var count = document.getElementById("mistake-count");
    if (count) count.textContent = mistakes;
    var none = document.getElementById("no-mistakes");
    if (none) none.hidden = mistakes > 0;
  }

  function setup() {
    var source = document.getElementById("detection-data");
    var threshold = document.getElementById("threshold");
    var overlap = document.getElementById("overlap");
    if (!source || !threshold || !overlap) return;
    var data = JSON.parse(source.textContent);
    var apply = document.getElementById("apply-thresholds");
    if (apply) apply.closest(".actions").hidden = true; // the sliders apply themselves
    function update() {
      var t = Number(threshold.value) / 100, o = Number(overlap.value) / 100;
      document.getElementById("threshold-value").textContent = threshold.value + "%";
      document.getElementById("overlap-value").textContent = overlap.value + "%";
      showFigures(performance(data, t, o));
      showImages(data, t, o);
    }
    threshold.addEventListener("input", update);
    overlap.addEventListener("input", update);
    update();
  }

  window.DetectionPerformance = { performance: performance, imageMatches: imageMatches };
  setup();
})();
