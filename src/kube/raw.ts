/**
 * The one raw request to the API server: through the pooled, authenticated dispatcher and
 * without client-node's model (de)serialisation. Used where the generated client costs too
 * much (it turns every answer into model objects; a Node is deserialised field by field, with
 * Date conversions, which cost more CPU per cordon than the rest of the action's handling) or
 * cannot do the job (streaming watches, paginated lists of trimmed objects). Every failure is
 * thrown as ApiException, like the generated client's, so statusCode(), isNotFound(),
 * isRetryableKubeError() and apiErrorMessage() read every API error the same way.
 */
import { ApiException, HttpMethod, RequestContext } from '@kubernetes/client-node';
import { type Dispatcher, fetch } from 'undici';
import type { KubeClients } from './clients.ts';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT';
  path: string;
  query?: Record<string, string>;
  /** JSON-serialised; none for GET. */
  body?: unknown;
  /** Default application/json; merge patches: mergePatchContentType (merge-patch.ts). */
  contentType?: string;
  signal?: AbortSignal;
}

export type KubeResponse = Awaited<ReturnType<typeof fetch>>;

/** Sends the request; the caller reads the answer (a watch streams it). */
export async function kubeFetch(clients: KubeClients, request: KubeRequest): Promise<KubeResponse> {
  const url = new URL(clients.server + request.path);
  for (const [k, v] of Object.entries(request.query ?? {})) url.searchParams.set(k, v);
  const ctx = new RequestContext(url.toString(), HttpMethod[request.method]);
  await clients.auth.applySecurityAuthentication(ctx);
  const hasBody = request.body !== undefined;
  return fetch(url, {
    method: request.method,
    headers: {
      ...ctx.getHeaders(),
      ...(hasBody ? { 'content-type': request.contentType ?? 'application/json' } : {}),
      accept: 'application/json',
    },
    ...(hasBody ? { body: JSON.stringify(request.body) } : {}),
    dispatcher: ctx.getDispatcher() as Dispatcher | undefined,
    ...(request.signal ? { signal: request.signal } : {}),
  });
}

/** The error for an answer that is not 2xx, with the body (a Status, as JSON) and headers. */
export async function kubeResponseError(
  res: KubeResponse,
  request: KubeRequest,
): Promise<ApiException<unknown>> {
  const text = res.body ? await res.text() : '';
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text (an error page from a proxy)
  }
  const headers: Record<string, string> = {};
  res.headers.forEach((value, key) => {
    headers[key] = value;
  });
  return new ApiException(
    res.status,
    `HTTP ${res.status} from ${request.method} ${request.path}`,
    body,
    headers,
  );
}

/** Sends the request and parses the JSON answer; throws ApiException for anything but 2xx. */
export async function kubeJson<T>(clients: KubeClients, request: KubeRequest): Promise<T> {
  const res = await kubeFetch(clients, request);
  if (res.status < 200 || res.status >= 300) throw await kubeResponseError(res, request);
  const text = await res.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}
