var GC = (function () {
  var layers = {};
  function txt(v) { return (v === null || v === undefined) ? '' : String(v); }
  function popup(p, spec) {
    var d = document.createElement('div'); d.className = 'gc-popup';
    if (spec.title) { var h = document.createElement('div'); h.className = 'gc-popup-title'; h.textContent = txt(p[spec.title]); d.appendChild(h); }
    var t = document.createElement('table');
    spec.fields.forEach(function (f) {
      var v = p[f[0]]; if (v === null || v === undefined || v === '') return;
      var r = t.insertRow(); var th = document.createElement('th'); th.textContent = f[1]; r.appendChild(th);
      var td = r.insertCell(); td.textContent = txt(v);
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
    [['gcBase', 250], ['gcZones', 300], ['gcRaster', 350]].forEach(function (p) {
      if (!map.getPane(p[0])) { map.createPane(p[0]).style.zIndex = p[1]; }
    });
    map.getPane('gcBase').style.pointerEvents = 'none';
    map.getPane('gcRaster').style.pointerEvents = 'none';
  }
  function image(map, url, bounds, opacity) {
    panes(map);
    return L.imageOverlay(url, bounds, {pane: 'gcRaster', opacity: opacity, interactive: false});
  }
  function layer(map, data, o) {
    panes(map);
    var g = L.geoJSON(data, {
      pane: o.pane || 'overlayPane',
      style: function (f) { return styleOf(o, f.properties); },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, styleOf(o, f.properties)); },
      onEachFeature: function (f, l) {
        if (o.popup) l.bindPopup(function () { return popup(f.properties, o.popup); }, {maxWidth: 380});
        if (o.tooltip) l.bindTooltip(function () { var e = document.createElement('span'); e.textContent = txt(f.properties[o.tooltip]); return e; }, {sticky: true});
      },
      interactive: o.interactive !== false
    });
    if (!o.cluster) return g;
    if (map.options.maxZoom === undefined) map.options.maxZoom = 18;
    var c = L.markerClusterGroup({showCoverageOnHover: false, maxClusterRadius: 40, disableClusteringAtZoom: 13, chunkedLoading: true});
    c.gcAll = g.getLayers(); c.addLayers(c.gcAll);
    return c;
  }
  function register(name, id, lyr) { lyr.gcId = id; layers[name] = lyr; return lyr; }
  function slider(map, c, days) {
    var ctl = L.control({position: 'bottomleft'});
    ctl.onAdd = function () {
      var d = L.DomUtil.create('div', 'gc-panel gc-slider');
      var lab = document.createElement('div');
      var r = document.createElement('input'); r.type = 'range'; r.min = 0; r.max = days.length - 1; r.step = 1; r.value = 0;
      r.setAttribute('aria-label', 'incident day');
      var all = document.createElement('label'); var cb = document.createElement('input'); cb.type = 'checkbox'; cb.checked = true;
      all.appendChild(cb); all.appendChild(document.createTextNode(' all days'));
      function apply() {
        var day = +r.value;
        var keep = cb.checked ? c.gcAll : c.gcAll.filter(function (m) { return m.feature.properties._d === day; });
        c.clearLayers(); c.addLayers(keep);
        lab.textContent = (cb.checked ? 'Incidents, all days (' + days[0] + ' to ' + days[days.length - 1] + ')'
                                      : 'Incidents on ' + days[day]) + ': ' + keep.length;
      }
      r.addEventListener('input', function () { cb.checked = false; apply(); });
      cb.addEventListener('change', apply);
      d.appendChild(lab); d.appendChild(r); d.appendChild(all);
      L.DomEvent.disableClickPropagation(d); L.DomEvent.disableScrollPropagation(d);
      apply(); return d;
    };
    ctl.addTo(map); c.gcSlider = ctl; return ctl;
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
    map.on('overlayadd', function (e) { toggle(e, true); });
    map.on('overlayremove', function (e) { toggle(e, false); });
    Object.keys(layers).forEach(function (k) { var l = layers[k]; if (!map.hasLayer(l)) toggle({layer: l}, false); });
    return ctl;
  }
  return {popup: popup, layer: layer, image: image, register: register, slider: slider, legend: legend, layers: layers};
})();
window.gcLayers = GC.layers;
