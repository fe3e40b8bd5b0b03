/**
 * Medians of benchmark runs. `median` returns a value one run measured (for an even count the
 * upper of the two middle ones); `medianAveraged` is the textbook median, the mean of the two
 * middle values for an even count. They agree for an odd number of runs.
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

export function medianAveraged(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}
