/**
 * Bounds on what the agent takes from the control plane, checked before anything else looks
 * at an envelope: its nesting depth and its size. A payload nested thousands of levels deep
 * parses (V8's JSON.parse is iterative) but makes JSON.stringify, zod and the journal throw
 * RangeError; a huge one costs memory and disk for nothing. Such an envelope is refused with
 * the reason, never handed on (docs/security.md).
 */

/** Deepest nesting of arrays and objects an envelope may have. Real actions use at most 6. */
export const maxEnvelopeDepth = 32;

/**
 * Largest envelope, as JSON. It must fit in one AgentAction (etcd refuses requests over
 * 1.5 MiB; the object adds metadata and status), and no action needs more: patch_node's
 * annotations are bounded by Kubernetes at 256 KiB in total.
 */
export const maxEnvelopeBytes = 1024 * 1024;

/**
 * Depth of the deepest array or object in `value` (a scalar is 0), walked without recursion so
 * that any depth is measured safely. Stops early once past `limit`, returning limit + 1.
 */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node !== 'object' || node === null) continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, here]);
    }
  }
  return deepest;
}

/** Why an envelope is out of bounds, or undefined when it is within them. */
export function envelopeOutOfBounds(
  input: unknown,
  limits: { maxDepth: number; maxBytes: number } = { maxDepth: maxEnvelopeDepth, maxBytes: maxEnvelopeBytes },
): string | undefined {
  const depth = jsonDepth(input, limits.maxDepth);
  if (depth > limits.maxDepth) {
    return `action nested too deeply: more than ${limits.maxDepth} levels of arrays and objects`;
  }
  // Safe now: the depth is bounded.
  const bytes = Buffer.byteLength(JSON.stringify(input ?? null));
  if (bytes > limits.maxBytes) {
    return `action too large: ${bytes} bytes of JSON; an action must fit in one AgentAction (at most ${limits.maxBytes} bytes)`;
  }
  return undefined;
}
