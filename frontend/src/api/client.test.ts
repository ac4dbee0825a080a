import { describe, expect, it, vi } from 'vitest';
import { jsonError, mockFetch } from '../test/render';
import { ApiClient, ApiError, errorMessage, toQueryString } from './client';

describe('toQueryString', () => {
  it('repeats list values and skips empty ones', () => {
    expect(toQueryString({ state: ['queued', 'running'], type: '', tenant: undefined, limit: 50 })).toBe(
      '?state=queued&state=running&limit=50',
    );
    expect(toQueryString({})).toBe('');
  });
});

describe('ApiClient', () => {
  it('sends JSON with the cookie and parses the answer', async () => {
    const { calls, fetchMock } = mockFetch({ 'POST /jobs/api/tasks/bulk/retry': { changed: 2, ids: [1, 2] } });
    const api = new ApiClient({ apiBase: '/jobs/api' });
    const res = await api.post('/tasks/bulk/retry', { ids: [1, 2] });
    expect(res).toEqual({ changed: 2, ids: [1, 2] });
    expect(calls[0]?.body).toEqual({ ids: [1, 2] });
    const init = fetchMock.mock.calls[0]?.[1] as RequestInit;
    expect(init.credentials).toBe('same-origin');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
  });

  it('turns error bodies into ApiError', async () => {
    mockFetch({
      'POST /api/tasks': () =>
        new Response(
          JSON.stringify({ error: 'validation_error', message: 'bad', fields: [{ field: 'priority', message: 'too high' }] }),
          { status: 422 },
        ),
    });
    const api = new ApiClient({ apiBase: '/api' });
    const err = await api.post('/tasks', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect((err as ApiError).code).toBe('validation_error');
    expect(errorMessage(err)).toBe('priority: too high');
  });

  it('reports a lost session on 401, except for the login call', async () => {
    mockFetch({
      'GET /api/tasks': () => jsonError(401, 'unauthorized', 'no'),
      'POST /api/session': () => jsonError(401, 'unauthorized', 'bad key'),
    });
    const onUnauthorized = vi.fn();
    const api = new ApiClient({ apiBase: '/api', onUnauthorized });
    await expect(api.get('/tasks')).rejects.toBeInstanceOf(ApiError);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    await expect(api.post('/session', { key: 'x' })).rejects.toBeInstanceOf(ApiError);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('keeps the status line when the error body is not JSON', async () => {
    mockFetch({ 'GET /api/x': () => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }) });
    const err = (await new ApiClient({ apiBase: '/api' }).get('/x').catch((e: unknown) => e)) as ApiError;
    expect(err.message).toBe('502 Bad Gateway');
  });
});
