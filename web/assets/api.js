// Talks to the gateway as the signed-in person: the session cookie goes
// along by itself (same origin); state-changing requests carry the
// session's CSRF token in X-CSRF-Token.

let csrfToken = '';
let onUnauthenticated = () => {};

export function setCsrfToken(token) { csrfToken = token || ''; }
export function setUnauthenticatedHandler(handler) { onUnauthenticated = handler; }

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function request(method, path, body, { quiet401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'network', 'The gateway cannot be reached: ' + error.message);
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const problem = (data && data.error) || {};
    const error = new ApiError(response.status, problem.code || 'http_' + response.status,
      problem.message || response.statusText || 'request failed');
    if (response.status === 401 && !quiet401) onUnauthenticated(error);
    throw error;
  }
  return data;
}

export const get = (path, options) => request('GET', path, undefined, options);
export const post = (path, body, options) => request('POST', path, body, options);

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? '?' + text : '';
}

// Every page of a list, up to `max` items.
export async function listReviews(params, max = 1000) {
  const reviews = [];
  let cursor;
  do {
    const page = await get('/v1/reviews' + query({ ...params, limit: 200, cursor }));
    reviews.push(...page.reviews);
    cursor = page.next_cursor;
  } while (cursor && reviews.length < max);
  return reviews;
}
