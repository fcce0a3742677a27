/**
 * Inputs the HibernationSchedule spec tests and the sync payload tests share (test-only: no
 * agent code imports this file).
 */
import type { z } from 'zod';

export const weeknights = [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '19:00', to: '07:00' }];
export const base = { timezone: 'Europe/Berlin', namespaceSelector: { matchLabels: { env: 'dev' } } };

/** The issue messages of a failed parse, or [] when it succeeds. */
export function messages(schema: z.ZodType, input: unknown): string[] {
  const result = schema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}
