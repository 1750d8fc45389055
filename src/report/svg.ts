// Small helpers shared by the report's charts: HTML escaping and number formatting.

export const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export const fmt = (n: number | null | undefined, digits = 4) =>
  n === null || n === undefined || Number.isNaN(n)
    ? '–'
    : Math.abs(n) >= 1e5
      ? n.toExponential(3)
      : Number(n.toFixed(digits)).toString();

/** Pixel coordinates to one decimal: enough for a crisp chart, short in the page. */
export const px = (v: number) => v.toFixed(1);
