/* geoconflict's page runtime (no framework; Leaflet only).  Everything that comes from data is
   shown with textContent: no field is ever parsed as HTML. */
var GC = (function () {
  var layers = {};
  var timelines = [];
  function txt(v) { return (v === null || v === undefined) ? '' : String(v); }
  function el(tag, cls, text) {
    var e = document.createElement(tag); if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; return e;
  }
  function popup(p, spec) {
    var d = el('div', 'gc-popup');
    if (spec.title) d.appendChild(el('div', 'gc-popup-title', txt(p[spec.title])));
    var t = document.createElement('table');
    spec.fields.forEach(function (f) {
      var v = p[f[0]]; if (v === null || v === undefined || v === '') return;
      var r = t.insertRow(); r.appendChild(el('th', null, f[1]));
      r.insertCell().textContent = txt(v);
    });
    d.appendChild(t); return d;
  }
  function styleOf(o, p) {
    var s = o.styles[p._k] || o.styles[Object.keys(o.styles)[0]] || {};
    var out = {}; for (var k in s) out[k] = s[k];
    if (p._w) out.weight = p._w;
    return out;
  }
  function panes(map) {
    [['gcBase', 250], ['gcZones', 300], ['gcRaster', 350], ['gcPoints', 450]].forEach(function (p) {
      if (!map.getPane(p[0])) { map.createPane(p[0]).style.zIndex = p[1]; }
    });
    map.getPane('gcBase').style.pointerEvents = 'none';
    map.getPane('gcRaster').style.pointerEvents = 'none';
    map.getPane('gcPoints').style.pointerEvents = 'none';
  }
  function image(map, url, bounds, opacity) {
    panes(map);
    return L.imageOverlay(url, bounds, {pane: 'gcRaster', opacity: opacity, interactive: false});
  }
  function layer(map, data, o) {
    panes(map);
    if (data && data.quant) return new Points(data, o);
    if (o.labels) return new Labels(data.labels, o);
    var g = L.geoJSON(data, {
      pane: o.pane || 'overlayPane',
      style: function (f) { return styleOf(o, f.properties); },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, styleOf(o, f.properties)); },
      onEachFeature: function (f, l) {
        if (o.popup) l.bindPopup(function () { return popup(f.properties, o.popup); }, {maxWidth: 380});
        if (o.tooltip) l.bindTooltip(function () { return el('span', null, txt(f.properties[o.tooltip])); }, {sticky: true});
      },
      interactive: o.interactive !== false
    });
    g.gcOptions = o;
    return g;
  }

  /* ---------------------------------------------------------------- packed points on a canvas */
  function b64bytes(s) {
    var bin = atob(s), n = bin.length, out = new Uint8Array(n);
    for (var i = 0; i < n; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function gunzip(s) {
    /* base64 decoded by the browser itself (a data: URL), then gunzipped as a stream */
    return fetch('data:application/octet-stream;base64,' + s).then(function (r) { return r.blob(); })
      .catch(function () { return new Blob([b64bytes(s)]); })
      .then(function (blob) { return new Response(blob.stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer(); });
  }
  var ARRAYS = {u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, f32: Float32Array, i32: Int32Array};
  function view(buf, at, type) { var A = ARRAYS[type]; return new A(buf, at[0], at[1] / A.BYTES_PER_ELEMENT); }
  function json(buf, at) { return JSON.parse(new TextDecoder().decode(new Uint8Array(buf, at[0], at[1]))); }
  function dayText(day0, d) {
    var t = Date.parse(day0 + 'T00:00:00Z') + d * 864e5;
    return new Date(t).toISOString().slice(0, 10);
  }

  var Points = L.Layer.extend({
    initialize: function (packed, o) {
      this.o = o; this.packed = packed; this.n = packed.n; this.gcPoints = true;
      this.filter = {from: -Infinity, to: Infinity, types: null, actor: ''};
      this.visible = 0; this.mask = new Uint8Array(this.n);
      var self = this;
      this.ready = gunzip(packed.data).then(function (buf) { self._unpack(buf); self._apply(); self._redraw(); self.fire('gcready'); return self; });
    },
    _unpack: function (buf) {
      var p = this.packed, q = p.quant, n = this.n;
      var x = view(buf, p.x, 'i32'), y = view(buf, p.y, 'i32');
      this.lon = new Float64Array(n); this.lat = new Float64Array(n);
      this.wx = new Float64Array(n); this.wy = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        var lon = x[i] / q, lat = y[i] / q, s = Math.sin(Math.max(-85.05, Math.min(85.05, lat)) * Math.PI / 180);
        this.lon[i] = lon; this.lat[i] = lat;
        this.wx[i] = (lon + 180) / 360 * 256;
        this.wy[i] = (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256;
      }
      if (p.day) { this.day = view(buf, p.day.at, p.day.type); this.day0 = p.day.day0; this.noDay = p.day.type === 'u32' ? 4294967295 : 65535; }
      this.cols = {};
      for (var name in p.columns) {
        var c = p.columns[name];
        if (c.kind === 'text') this.cols[name] = {kind: 'text', values: json(buf, c.at)};
        else if (c.kind === 'f32') this.cols[name] = {kind: 'f32', values: view(buf, c.at, 'f32')};
        else this.cols[name] = {kind: 'dict', values: view(buf, c.at, c.kind), dict: json(buf, c.dict),
                                 miss: c.kind === 'u8' ? 255 : (c.kind === 'u16' ? 65535 : 4294967295)};
      }
      var t = this.cols[this.o.type];
      this.typeCodes = t && t.kind === 'dict' ? t.values : new Uint8Array(n);
      this.typeNames = t && t.kind === 'dict' ? t.dict : ['incident'];
      var st = this.o.styles, keys = this.o.typeStyles || [];
      this.colours = this.typeNames.map(function (_, i) { var s = st[keys[i]] || st[Object.keys(st)[0]] || {}; return [s.fillColor || '#444', s.color || '#fff']; });
      this.colours.push(['#777', '#fff']);  // missing type
    },
    value: function (name, i) {
      if (name === 'date') return this.day && this.day[i] !== this.noDay ? dayText(this.day0, this.day[i]) : null;
      if (name === 'notes' && this.packed.notes !== undefined) return this.notes ? this.notes[i] : '…';
      var c = this.cols[name]; if (!c) return null;
      if (c.kind === 'text') return c.values[i];
      if (c.kind === 'f32') { var v = c.values[i]; return isNaN(v) ? null : Math.round(v * 1e4) / 1e4; }
      var k = c.values[i]; return k === c.miss ? null : c.dict[k];
    },
    record: function (i) {
      var out = {}, self = this;
      this.o.popup.fields.concat([[this.o.popup.title]]).forEach(function (f) { if (f[0]) out[f[0]] = self.value(f[0], i); });
      if (this.o.notesWhere) {
        var id = this.value('incident_id', i);
        out.notes = this.o.notesWhere + (id ? ', incident ' + id : '');
      }
      return out;
    },
    setFilter: function (f) {
      var changed = false;
      for (var k in f) { if (this.filter[k] !== f[k]) { this.filter[k] = f[k]; changed = true; } }
      if (changed && this.lon) { this._apply(); this._redraw(); }
    },
    _apply: function () {
      var f = this.filter, n = this.n, day = this.day, nd = this.noDay, count = 0;
      var types = f.types, tc = this.typeCodes, actorOk = null;
      if (f.actor) {
        var needle = f.actor.toLowerCase(), a1 = this.cols.actor1, a2 = this.cols.actor2;
        var hit = function (c) {
          if (!c) return null;
          if (c.kind !== 'dict') return function (i) { return txt(c.values[i]).toLowerCase().indexOf(needle) >= 0; };
          var ok = c.dict.map(function (w) { return w.toLowerCase().indexOf(needle) >= 0; });
          return function (i) { var k = c.values[i]; return k !== c.miss && ok[k]; };
        };
        var h1 = hit(a1), h2 = hit(a2);
        actorOk = function (i) { return (h1 && h1(i)) || (h2 && h2(i)); };
      }
      for (var i = 0; i < n; i++) {
        var on = 1;
        if (day) { var d = day[i]; if (d === nd ? (f.from !== -Infinity || f.to !== Infinity) : (d < f.from || d > f.to)) on = 0; }
        if (on && types && !types[tc[i]]) on = 0;
        if (on && actorOk && !actorOk(i)) on = 0;
        this.mask[i] = on; count += on;
      }
      this.visible = count;
      this.fire('gcfilter', {count: count});
    },
    onAdd: function (map) {
      this._map = map; panes(map);
      this.canvas = L.DomUtil.create('canvas', 'gc-points leaflet-zoom-hide');
      map.getPane('gcPoints').appendChild(this.canvas);
      map.on('moveend zoomend resize viewreset', this._redraw, this);
      map.on('click', this._click, this);
      this._redraw();
    },
    onRemove: function (map) {
      L.DomUtil.remove(this.canvas); this.canvas = null;
      map.off('moveend zoomend resize viewreset', this._redraw, this);
      map.off('click', this._click, this);
    },
    _radius: function () { var z = this._map.getZoom(); return z >= 12 ? 5 : z >= 9 ? 4 : z >= 7 ? 3 : 2; },
    _redraw: function () {
      if (!this._map || !this.canvas || !this.lon) return;
      var map = this._map, size = map.getSize(), ratio = window.devicePixelRatio || 1, c = this.canvas;
      c.width = size.x * ratio; c.height = size.y * ratio; c.style.width = size.x + 'px'; c.style.height = size.y + 'px';
      L.DomUtil.setPosition(c, map.containerPointToLayerPoint([0, 0]));
      var ctx = c.getContext('2d'); ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      var scale = Math.pow(2, map.getZoom()), min = map.getPixelBounds().min, r = this._radius();
      var n = this.n, wx = this.wx, wy = this.wy, mask = this.mask, tc = this.typeCodes, nt = this.typeNames.length;
      var sx = this.sx || (this.sx = new Float32Array(n)), sy = this.sy || (this.sy = new Float32Array(n));
      var paths = [];
      for (var k = 0; k <= nt; k++) paths.push(new Path2D());
      for (var i = 0; i < n; i++) {
        if (!mask[i]) continue;
        var px = wx[i] * scale - min.x, py = wy[i] * scale - min.y;
        sx[i] = px; sy[i] = py;
        if (px < -r || py < -r || px > size.x + r || py > size.y + r) continue;
        var code = tc[i] < nt ? tc[i] : nt, p = paths[code];
        if (r < 4) p.rect(px - r, py - r, 2 * r, 2 * r);  // zoomed out: squares draw several times faster
        else { p.moveTo(px + r, py); p.arc(px, py, r, 0, 2 * Math.PI); }
      }
      ctx.lineWidth = 1;
      for (k = 0; k <= nt; k++) {  // outlines only where points are big enough to be told apart
        ctx.fillStyle = this.colours[k][0]; ctx.globalAlpha = r >= 4 ? 0.9 : 0.75; ctx.fill(paths[k]);
        if (r >= 4) { ctx.strokeStyle = this.colours[k][1]; ctx.globalAlpha = 1; ctx.stroke(paths[k]); }
      }
    },
    nearest: function (cx, cy, tol) {
      var best = -1, bd = tol * tol, mask = this.mask, sx = this.sx, sy = this.sy;
      if (!sx) return -1;
      for (var i = this.n - 1; i >= 0; i--) {
        if (!mask[i]) continue;
        var dx = sx[i] - cx, dy = sy[i] - cy, d = dx * dx + dy * dy;
        if (d < bd) { bd = d; best = i; }
      }
      return best;
    },
    loadNotes: function () {
      /* The notes block is unpacked the first time a popup opens. */
      var self = this;
      if (!this.notesReady) {
        this.notesReady = this.packed.notes === undefined ? Promise.resolve(null) : gunzip(this.packed.notes).then(function (buf) {
          self.notes = JSON.parse(new TextDecoder().decode(new Uint8Array(buf))); return self.notes;
        });
      }
      return this.notesReady;
    },
    gcOpen: function (i) {
      var self = this, map = this._map;
      var show = function () {
        var content = popup(self.record(i), self.o.popup);
        self._popup = L.popup({maxWidth: 380}).setLatLng([self.lat[i], self.lon[i]]).setContent(content).openOn(map);
        return content;
      };
      this._popupIndex = i;
      if (this.packed.notes !== undefined && !this.notes) {
        this.loadNotes().then(function () { if (self._popup && self._popup.isOpen() && self._popupIndex === i) show(); });
      }
      return show();
    },
    _click: function (e) {
      var i = this.nearest(e.containerPoint.x, e.containerPoint.y, this._radius() + 3);
      if (i >= 0) this.gcOpen(i);
    }
  });

  /* ---------------------------------------------------------------- place names */
  var Labels = L.Layer.extend({
    /* Names as text (textContent), shown from their zoom level, placed greedily in rank order:
       a name that would overlap another, or a panel (title, legend, slider, layer list), waits
       for a closer zoom. */
    initialize: function (rows, o) { this.rows = rows; this.o = o; this.gcLabels = true; },
    onAdd: function (map) {
      this._map = map; panes(map);
      this.box = L.DomUtil.create('div', 'gc-labels leaflet-zoom-hide');
      map.getPane('gcPoints').appendChild(this.box);
      map.on('moveend zoomend resize viewreset', this._place, this);
      this._place();
    },
    onRemove: function (map) {
      L.DomUtil.remove(this.box); this.box = null;
      map.off('moveend zoomend resize viewreset', this._place, this);
    },
    _place: function () {
      if (!this._map || !this.box) return;
      var map = this._map, z = map.getZoom(), size = map.getSize(), rect = map.getContainer().getBoundingClientRect();
      L.DomUtil.setPosition(this.box, map.containerPointToLayerPoint([0, 0]));
      this.box.textContent = '';
      var taken = [];
      document.querySelectorAll('.gc-title, .gc-legend, .gc-slider, .leaflet-control-layers, .leaflet-control-zoom, .leaflet-control-scale').forEach(function (e) {
        var r = e.getBoundingClientRect(); if (r.width) taken.push([r.left - rect.left, r.top - rect.top, r.right - rect.left, r.bottom - rect.top]);
      });
      function free(b) { for (var k = 0; k < taken.length; k++) { var t = taken[k]; if (b[0] < t[2] && b[2] > t[0] && b[1] < t[3] && b[3] > t[1]) return false; } return true; }
      var shown = 0;
      for (var i = 0; i < this.rows.length; i++) {
        var r = this.rows[i]; if (z < r[3]) continue;
        var p = map.latLngToContainerPoint([r[0], r[1]]);
        if (p.x < 0 || p.y < 0 || p.x > size.x || p.y > size.y) continue;
        var big = r[3] === 0, w = r[2].length * (big ? 7.4 : 6.4) + 8, h = big ? 16 : 14, placed = null;
        var spots = [[6, -h / 2], [-w - 6, -h / 2], [-w / 2, -h - 5], [-w / 2, 5]];
        for (var k = 0; k < spots.length && !placed; k++) {
          var b = [p.x + spots[k][0], p.y + spots[k][1], p.x + spots[k][0] + w, p.y + spots[k][1] + h];
          if (b[0] >= 0 && b[1] >= 0 && b[2] <= size.x && b[3] <= size.y && free(b)) placed = b;
        }
        if (!placed) continue;
        taken.push(placed);
        var dot = el('div', 'gc-place-dot'); dot.style.left = (p.x - 3) + 'px'; dot.style.top = (p.y - 3) + 'px';
        var lab = el('div', 'gc-place' + (big ? ' gc-place-big' : ''), r[2]);
        lab.style.left = placed[0] + 'px'; lab.style.top = placed[1] + 'px';
        this.box.appendChild(dot); this.box.appendChild(lab); shown++;
      }
      this.shown = shown;
    }
  });

  /* ---------------------------------------------------------------- layers, legend, timeline */
  function register(name, id, lyr) { lyr.gcId = id; lyr.gcName = name; layers[name] = lyr; return lyr; }

  function timeline(map, t) {
    /* One day slider for the whole map: incidents up to the day (or the N days before it), control
       snapshots and front lines in force on the day, the URL fragment #date=YYYY-MM-DD. */
    var days = t.days, points = [], dated = [];
    Object.keys(layers).forEach(function (k) {
      var l = layers[k];
      if (l.gcPoints) points.push(l);
      else if (l.gcOptions && l.gcOptions.valid) dated.push(l);
    });
    var ctl = L.control({position: 'bottomleft'});
    var state = {day: days.length - 1, all: !t.start_on_day, window: t.window || 0};
    ctl.onAdd = function () {
      var d = L.DomUtil.create('div', 'gc-panel gc-slider');
      var lab = el('div', 'gc-count'), asof = el('div', 'gc-asof');
      var r = document.createElement('input'); r.type = 'range'; r.min = 0; r.max = days.length - 1; r.step = 1; r.value = state.day;
      r.setAttribute('aria-label', 'day');
      var row = el('div', 'gc-row');
      var all = document.createElement('label'); var cb = document.createElement('input'); cb.type = 'checkbox'; cb.checked = state.all;
      all.appendChild(cb); all.appendChild(document.createTextNode(' all days'));
      var win = document.createElement('select'); win.setAttribute('aria-label', 'days shown');
      var windows = [[0, 'up to the day'], [1, 'that day only'], [7, '7 days before'], [30, '30 days before']];
      if (state.window && !windows.some(function (w) { return w[0] === state.window; })) {
        windows.push([state.window, state.window + ' days before']);
      }
      windows.forEach(function (w) {
        var op = el('option', null, w[1]); op.value = w[0]; if (w[0] === state.window) op.selected = true; win.appendChild(op);
      });
      if (!points.length) win.style.display = 'none';
      row.appendChild(all); row.appendChild(win);
      d.appendChild(lab); d.appendChild(r); d.appendChild(row); d.appendChild(asof);
      var filters = null;
      points.forEach(function (p) { filters = filters || typeFilter(p, d); });
      function apply(fromHash) {
        var day = +r.value, text = days[day];
        state.day = day; state.all = cb.checked; state.window = +win.value;
        var lo = state.window > 0 ? day - state.window + 1 : -Infinity;
        points.forEach(function (p) {
          var off = p.day0 ? Math.round((Date.parse(days[0]) - Date.parse(p.day0)) / 864e5) : 0;
          p.setFilter(state.all ? {from: -Infinity, to: Infinity} : {from: lo + off, to: day + off});
        });
        var n = points.reduce(function (a, p) { return a + p.visible; }, 0);
        if (points.length) {
          lab.textContent = (state.all ? 'Incidents, all days (' + days[0] + ' to ' + days[days.length - 1] + ')'
            : state.window === 1 ? 'Incidents on ' + text
            : state.window > 1 ? 'Incidents ' + days[Math.max(0, day - state.window + 1)] + ' to ' + text
            : 'Incidents to ' + text) + ': ' + n.toLocaleString('en');
        } else lab.textContent = 'Day: ' + text;
        var notes = [];
        var groups = {};
        dated.forEach(function (l) { (groups[l.gcOptions.group] = groups[l.gcOptions.group] || []).push(l); });
        Object.keys(groups).forEach(function (g) {
          var chosen = null;
          groups[g].forEach(function (l) {
            var v = l.gcOptions.valid, from = v[0] || '0000-00-00', to = v[1] || '9999-99-99';
            var on = !state.all && from <= text && text <= to;
            if (state.all) on = l.gcOptions.latest;
            if (on) chosen = l;
            if (on && !map.hasLayer(l)) map.addLayer(l);
            if (!on && map.hasLayer(l)) map.removeLayer(l);
          });
          if (chosen) notes.push(g + ' on ' + (state.all ? 'the last snapshot' : text) + ' (snapshot from ' + (chosen.gcOptions.valid[0] || 'the start') + ')');
          else if (!state.all) notes.push(g + ': no snapshot in force on ' + text);
        });
        asof.textContent = notes.join('; ');
        document.querySelectorAll('.gc-legend .gc-asof-legend').forEach(function (e) { e.textContent = ''; });
        dated.forEach(function (l) {
          var s = document.querySelector('.gc-legend [data-gc-layer="' + l.gcId + '"] .gc-asof-legend');
          if (s && map.hasLayer(l)) s.textContent = state.all ? 'Last snapshot (from ' + (l.gcOptions.valid[0] || 'the start') + ')'
            : (l.gcOptions.asof || l.gcOptions.group) + ' on ' + text + ' (snapshot from ' + (l.gcOptions.valid[0] || 'the start') + ')';
        });
        if (!fromHash && !state.all && window.history && history.replaceState) history.replaceState(null, '', '#date=' + text);
      }
      function fromHash() {
        var m = /(?:^#|&)date=(\d{4}-\d{2}-\d{2})/.exec(location.hash || '');
        if (!m) return false;
        var i = days.indexOf(m[1]);
        if (i < 0) { i = m[1] < days[0] ? 0 : days.length - 1; }
        r.value = i; cb.checked = false; apply(true); return true;
      }
      r.addEventListener('input', function () { cb.checked = false; apply(false); });
      cb.addEventListener('change', function () { apply(false); });
      win.addEventListener('change', function () { apply(false); });
      window.addEventListener('hashchange', fromHash);
      L.DomEvent.disableClickPropagation(d); L.DomEvent.disableScrollPropagation(d);
      ctl.gcApply = apply; d.gcUpdate = function () { apply(true); };
      points.forEach(function (p) { p.on('gcready', function () { apply(true); }); });
      setTimeout(function () { if (!fromHash()) apply(true); }, 0);
      return d;
    };
    ctl.addTo(map); timelines.push(ctl); return ctl;
  }

  function typeFilter(p, panel) {
    /* Checkboxes per incident type and an actor search, under the slider. */
    var box = el('details', 'gc-filter'); box.appendChild(el('summary', null, 'Filter by type or actor'));
    var list = el('div', 'gc-types'); box.appendChild(list);
    var actor = document.createElement('input'); actor.type = 'search'; actor.placeholder = 'actor contains…';
    actor.setAttribute('aria-label', 'actor contains');
    function build() {
      var on = p.typeNames.map(function () { return true; }); on.push(true);
      p.typeNames.forEach(function (name, k) {
        var lab = document.createElement('label'); var cb = document.createElement('input'); cb.type = 'checkbox'; cb.checked = true;
        cb.setAttribute('data-gc-type', name);
        var sw = el('span', 'gc-sw gc-sw-pt'); sw.style.background = p.colours[k][0];
        lab.appendChild(cb); lab.appendChild(sw); lab.appendChild(document.createTextNode(' ' + name));
        cb.addEventListener('change', function () { on[k] = cb.checked; p.setFilter({types: on.slice()}); panel.gcUpdate(); });
        list.appendChild(lab);
      });
      if (p.cols.actor1 || p.cols.actor2) {
        box.appendChild(actor);
        actor.addEventListener('input', function () { p.setFilter({actor: actor.value.trim()}); panel.gcUpdate(); });
      }
    }
    p.ready.then(build);
    panel.appendChild(box);
    return box;
  }

  function legend(map, html) {
    var ctl = L.control({position: 'bottomright'});
    ctl.onAdd = function () {
      var d = L.DomUtil.create('div', 'gc-panel gc-legend'); d.innerHTML = html;
      L.DomEvent.disableClickPropagation(d); L.DomEvent.disableScrollPropagation(d); return d;
    };
    ctl.addTo(map);
    function toggle(e, on) {
      if (!e.layer || !e.layer.gcId) return;
      var s = ctl.getContainer().querySelector('[data-gc-layer="' + e.layer.gcId + '"]');
      if (s) s.style.display = on ? '' : 'none';
    }
    map.on('overlayadd layeradd', function (e) { toggle(e, true); });
    map.on('overlayremove layerremove', function (e) { toggle(e, false); });
    Object.keys(layers).forEach(function (k) { var l = layers[k]; if (!map.hasLayer(l)) toggle({layer: l}, false); });
    return ctl;
  }
  return {popup: popup, layer: layer, image: image, register: register, timeline: timeline, legend: legend,
          layers: layers, timelines: timelines, Points: Points, Labels: Labels};
})();
window.gcLayers = GC.layers;
