// Layout problems on a Streamlit page, as sentences: chart texts that overlap, are clipped, cut short or in
// scientific notation; metric values and labels cut by CSS; the Classroom lesson below the fold.
// Used by tests/test_browser.py (page.evaluate); an empty list means the page reads whole.
() => {
  const problems = [];
  const main = document.querySelector('[data-testid=stMain]');
  // A text's drawn outline on screen: the corners of its own box through its screen transform (rotated ticks stay rotated).
  const outline = t => {
    const b = t.getBBox(), m = t.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]].map(
      ([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  const axes = p => p.map((q, i) => { const r = p[(i + 1) % p.length]; return [q[1] - r[1], r[0] - q[0]]; });
  const apart = (p, q) => axes(p).concat(axes(q)).some(([ax, ay]) => {
    const pr = s => s.map(([x, y]) => x * ax + y * ay), a = pr(p), b = pr(q), n = Math.hypot(ax, ay) || 1;
    return (Math.min(...b) - Math.max(...a)) / n > -2 || (Math.min(...a) - Math.max(...b)) / n > -2;  // font boxes pad the glyphs
  });
  main.querySelectorAll('.js-plotly-plot').forEach((plot, i) => {
    const frame = plot.getBoundingClientRect();
    const name = ((plot.querySelector('.gtitle') || {}).textContent || `chart ${i + 1}`).slice(0, 60);
    const texts = [...plot.querySelectorAll('svg.main-svg text')].filter(t =>
      t.textContent.trim() && !t.closest('.hoverlayer') && getComputedStyle(t).visibility !== 'hidden'
      && getComputedStyle(t).display !== 'none' && t.getBBox().width > 0);
    const shapes = texts.map(outline);
    texts.forEach((t, k) => {
      const s = t.textContent.trim();
      if (shapes[k].some(([x, y]) => x < frame.left - 2 || x > frame.right + 2 || y < frame.top - 2 || y > frame.bottom + 2))
        problems.push(`${name}: "${s}" is clipped at the chart's edge`);
      if (/…|\.\.\.$/.test(s)) problems.push(`${name}: "${s}" is cut short`);
      if (/\d[eE][+-]?\d/.test(s)) problems.push(`${name}: "${s}" is in scientific notation`);
      for (let j = 0; j < k; j++)
        if (!apart(shapes[k], shapes[j])) problems.push(`${name}: "${s}" overlaps "${texts[j].textContent.trim()}"`);
    });
  });
  // Text cut by CSS (an ellipsis or a hidden overflow): metric values, metric labels, widget labels.
  main.querySelectorAll('[data-testid=stMetricValue], [data-testid=stMetricValue] *, [data-testid=stMetricLabel] *, '
                        + '[data-testid=stWidgetLabel] *, [data-testid=stMetricDelta] *, label *').forEach(e => {
    if (e.textContent.trim() && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0 && getComputedStyle(e).overflowX !== 'visible')
      problems.push(`"${e.textContent.trim().slice(0, 60)}" is cut (${e.scrollWidth} px in ${e.clientWidth} px)`);
  });
  const values = [...main.querySelectorAll('[data-testid=stMetricValue]')];
  values.forEach((a, k) => values.slice(0, k).forEach(b => {
    const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
    if (Math.min(p.right, q.right) - Math.max(p.left, q.left) > 1 && Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top) > 1)
      problems.push(`metric "${a.textContent}" overlaps "${b.textContent}"`);
  }));
  // The Classroom's lesson without scrolling: its chart, the three numbers and both generated texts.
  if (document.querySelector('.st-key-class_button')) {
    const must = [...main.querySelectorAll('[data-testid=stMetric], [data-testid=stCode]')];
    const chart = main.querySelector('.js-plotly-plot'); if (chart) must.push(chart);
    must.forEach(e => { const b = e.getBoundingClientRect();
      if (b.bottom > window.innerHeight + 1) problems.push(`"${e.innerText.trim().slice(0, 40)}" is below the fold (${Math.round(b.bottom)} px > ${window.innerHeight} px)`); });
  }
  return [...new Set(problems)];
}
