/** Plain HTTP key/value calls of the tests (no client library): a PUT's status, a GET's body. */

/** PUT `value` at `key` of `keyspace`; the status (redirects not followed). */
export async function putStatus(url: string, key: string, value: string, keyspace = 'orders'): Promise<number> {
  const res = await fetch(`${url}/v1/kv/${keyspace}/${key}`, { method: 'PUT', body: value, redirect: 'manual', signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status;
}

/** GET `key` of `keyspace`: its body on 200, else null. */
export async function getBody(url: string, key: string, keyspace = 'orders'): Promise<string | null> {
  const res = await fetch(`${url}/v1/kv/${keyspace}/${key}`, { signal: AbortSignal.timeout(2000) });
  const body = await res.text();
  return res.status === 200 ? body : null;
}
