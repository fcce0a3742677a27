/**
 * A JSON request to the API server through the pooled, authenticated dispatcher, without
 * client-node's model (de)serialisation. For the hot path of bulk node actions only: the
 * generated client turns every answer into model objects (a Node is deserialised field by
 * field, with Date conversions), which cost the agent more CPU per cordon than the rest of
 * the action's handling. Failures are thrown as ApiException, like the generated client's,
 * so statusCode()/isConflict()/isNotFound() read them the same way.
 */
import { ApiException, HttpMethod, RequestContext } from '@kubernetes/client-node';
import { type Dispatcher, fetch } from 'undici';
import type { KubeClients } from './clients.ts';

export async function kubeJson<T>(
  clients: KubeClients,
  request: {
    method: 'POST' | 'PATCH' | 'PUT';
    path: string;
    body: unknown;
    /** Default application/json; merge patches: application/merge-patch+json. */
    contentType?: string;
    signal?: AbortSignal;
  },
): Promise<T> {
  const url = new URL(clients.server + request.path);
  const ctx = new RequestContext(url.toString(), HttpMethod[request.method]);
  await clients.auth.applySecurityAuthentication(ctx);
  const res = await fetch(url, {
    method: request.method,
    headers: {
      ...ctx.getHeaders(),
      'content-type': request.contentType ?? 'application/json',
      accept: 'application/json',
    },
    body: JSON.stringify(request.body),
    dispatcher: ctx.getDispatcher() as Dispatcher | undefined,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text (an error page from a proxy)
  }
  if (res.status < 200 || res.status >= 300) {
    const headers: Record<string, string> = {};
    res.headers.forEach((value, key) => {
      headers[key] = value;
    });
    throw new ApiException(
      res.status,
      `HTTP ${res.status} from ${request.method} ${request.path}`,
      parsed,
      headers,
    );
  }
  return parsed as T;
}
