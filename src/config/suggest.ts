/** "did you mean" for mistyped keys, flags and variables: the closest name by edit distance. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j] as number;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(above + 1, (prev[j - 1] as number) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return prev[b.length] as number;
}

/**
 * The candidate closest to `input`, compared case- and separator-insensitively, when close
 * enough to be a plausible typo (or when one contains the other, e.g. pollwait ->
 * pollWaitSeconds).
 */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_.]/g, '');
  const needle = norm(input);
  if (needle === '') return undefined;
  let best: { name: string; score: number } | undefined;
  for (const name of candidates) {
    const hay = norm(name);
    const score = hay.startsWith(needle) || needle.startsWith(hay) ? 0.5 : distance(needle, hay);
    if (!best || score < best.score) best = { name, score };
  }
  if (!best) return undefined;
  return best.score <= Math.max(2, Math.floor(needle.length / 3)) ? best.name : undefined;
}

export function didYouMean(input: string, candidates: readonly string[]): string {
  const match = closest(input, candidates);
  return match ? ` (did you mean ${match}?)` : '';
}
