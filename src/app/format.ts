// Small display helpers shared by panels (numbers, bytes, shapes). Pure functions.

const nf = new Intl.NumberFormat('en-US');

export function formatInt(n: number): string {
  return Number.isFinite(n) ? nf.format(n) : String(n);
}

/** 4294967296 → "4 GiB"; values below 1 KiB stay in bytes. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** A limit's value, with a byte size for limits measured in bytes. */
export function formatLimit(name: string, n: number | undefined): string {
  if (n === undefined) return '—';
  const bytes = /Size$/.test(name); // maxBufferSize, maxStorageBufferBindingSize, ...
  return bytes && n >= 1024 ? `${formatInt(n)} (${formatBytes(n)})` : formatInt(n);
}

/** A tensor shape of any form an API returns: [a, b], {M, N, K} or a string. */
export function formatShape(shape: unknown): string {
  if (Array.isArray(shape)) return shape.join(' × ');
  if (shape && typeof shape === 'object')
    return Object.entries(shape as Record<string, unknown>)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(', ');
  return String(shape ?? '—');
}

export function formatError(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  return x.toExponential(2);
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}
