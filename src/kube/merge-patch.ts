/**
 * A JSON merge patch (RFC 7386): the only patch type the agent sends. Without the header the
 * generated client sends a JSON Patch, which the API server refuses for these bodies.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

/** The Content-Type of a merge patch, for raw requests (kube/raw.ts). */
export const mergePatchContentType: string = PatchStrategy.MergePatch;

/** The options argument of a generated client's patch method that makes it a merge patch. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
