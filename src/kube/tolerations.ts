/**
 * Kubernetes' toleration matching (k8s.io/api/core/v1 Toleration.ToleratesTaint), pure: which
 * pods a NoExecute taint would evict. A toleration with tolerationSeconds only delays the
 * eviction, so for "would this taint evict the pod" it does not count as tolerating.
 */
export interface TaintLike {
  key: string;
  value?: string | undefined;
  effect: string;
}

export interface TolerationLike {
  key?: string | undefined;
  operator?: string | undefined;
  value?: string | undefined;
  effect?: string | undefined;
  tolerationSeconds?: number | undefined;
}

export function toleratesTaint(toleration: TolerationLike, taint: TaintLike): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  const operator = toleration.operator ?? 'Equal';
  // An empty key with Exists matches every taint.
  if (toleration.key ? toleration.key !== taint.key : operator !== 'Exists') return false;
  if (operator === 'Exists') return true;
  return operator === 'Equal' && (toleration.value ?? '') === (taint.value ?? '');
}

/** Whether a NoExecute `taint` would (sooner or later) evict a pod with these tolerations. */
export function evictedBy(tolerations: readonly TolerationLike[], taint: TaintLike): boolean {
  return !tolerations.some((t) => toleratesTaint(t, taint) && t.tolerationSeconds === undefined);
}
