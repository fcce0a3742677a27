/** waitFor without vitest imports: usable from tests and from plain `node` scripts (benchmarks). */
/** Polls `probe` until it returns a value other than undefined/false, or throws on timeout. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
  }
  throw new Error(
    `timed out after ${options.timeoutMs ?? 60_000} ms waiting for ${options.what ?? 'condition'}` +
      (lastError ? `: ${lastError instanceof Error ? lastError.message : String(lastError)}` : ''),
  );
}
