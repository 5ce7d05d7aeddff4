/** Human-readable bytes. */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

/** Human-readable count with thousands separators. */
export function formatCount (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}
