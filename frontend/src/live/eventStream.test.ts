import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeEventSource, FakeVisibility } from '../test/fakeEventSource';
import { backoffDelay, DEFAULT_BACKOFF, EventStreamClient, withLastEventId, type LiveStatus } from './eventStream';

function setup(overrides: { random?: () => number } = {}) {
  const visibility = new FakeVisibility();
  const statuses: LiveStatus[] = [];
  const onTask = vi.fn();
  const onReset = vi.fn();
  const onReopen = vi.fn();
  const onClosed = vi.fn();
  const client = new EventStreamClient({
    url: '/prefix/api/sse/events',
    eventSourceFactory: FakeEventSource.factory,
    visibility,
    random: overrides.random ?? (() => 0.5),
    onStatus: (s) => statuses.push(s),
    onTask,
    onReset,
    onReopen,
    onClosed,
  });
  return { client, visibility, statuses, onTask, onReset, onReopen, onClosed };
}

describe('EventStreamClient', () => {
  beforeEach(() => {
    FakeEventSource.reset();
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('opens exactly one stream and reports live once open', () => {
    const { client, statuses } = setup();
    client.start();
    client.start();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(FakeEventSource.latest().url).toBe('/prefix/api/sse/events');
    FakeEventSource.latest().open();
    expect(client.status).toBe('live');
    expect(statuses).toEqual(['live']);
  });

  it('passes task events on with their id and remembers the last id', () => {
    const { client, onTask } = setup();
    client.start();
    const es = FakeEventSource.latest();
    es.open();
    const event = { id: 7, tenant: 'acme', type: 'email', state: 'running', attempt: 1, at: '2026-01-01T00:00:00Z' };
    es.emit('task', event, '1700000000000-0');
    expect(onTask).toHaveBeenCalledWith(event, '1700000000000-0');
    expect(client.lastEventId).toBe('1700000000000-0');
  });

  it('drops malformed frames without throwing', () => {
    const { client, onTask } = setup();
    client.start();
    FakeEventSource.latest().emit('task', '{not json', '5');
    FakeEventSource.latest().emit('task', { hello: 'world' }, '6');
    expect(onTask).not.toHaveBeenCalled();
  });

  it('calls onReset for a reset event', () => {
    const { client, onReset } = setup();
    client.start();
    FakeEventSource.latest().open();
    FakeEventSource.latest().emit('reset', {}, '99');
    expect(onReset).toHaveBeenCalledTimes(1);
    expect(client.lastEventId).toBe('99');
  });

  it('leaves a CONNECTING error to the browser and reports reconnecting, then polling', () => {
    const { client } = setup();
    client.start();
    const es = FakeEventSource.latest();
    es.open();
    es.failAndRetry();
    expect(client.status).toBe('reconnecting');
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(es.closed).toBe(false);
    es.failAndRetry();
    es.failAndRetry();
    expect(client.status).toBe('polling');
    es.open();
    expect(client.status).toBe('live');
  });

  it('reconnects by itself with jittered exponential backoff once the browser gives up', () => {
    const { client, onClosed } = setup({ random: () => 0 });
    client.start();
    FakeEventSource.latest().open();

    FakeEventSource.latest().failClosed();
    expect(onClosed).toHaveBeenCalledTimes(1);
    expect(client.status).toBe('reconnecting');
    expect(FakeEventSource.instances).toHaveLength(1);
    // random() = 0: half of the 1 s step.
    vi.advanceTimersByTime(499);
    expect(FakeEventSource.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.instances).toHaveLength(2);

    FakeEventSource.latest().failClosed();
    vi.advanceTimersByTime(999);
    expect(FakeEventSource.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.instances).toHaveLength(3);

    FakeEventSource.latest().failClosed();
    expect(client.status).toBe('polling');
    vi.advanceTimersByTime(2000);
    expect(FakeEventSource.instances).toHaveLength(4);

    FakeEventSource.latest().open();
    expect(client.status).toBe('live');
    // A success resets the backoff.
    FakeEventSource.latest().failClosed();
    vi.advanceTimersByTime(500);
    expect(FakeEventSource.instances).toHaveLength(5);
  });

  it('reconnects at once on request, cancelling the pending backoff, and resets it', () => {
    const { client } = setup({ random: () => 1 });
    client.start();
    FakeEventSource.latest().open();
    for (let i = 0; i < 5; i += 1) {
      FakeEventSource.latest().failClosed();
      vi.runOnlyPendingTimers();
    }
    FakeEventSource.latest().failClosed();
    expect(client.status).toBe('polling');
    const before = FakeEventSource.instances.length;
    client.reconnectNow();
    expect(FakeEventSource.instances).toHaveLength(before + 1);
    // The backoff timer it replaced never fires a second stream.
    vi.advanceTimersByTime(60_000);
    expect(FakeEventSource.instances).toHaveLength(before + 1);
    // A failure after the manual reconnect waits the first step again, not the long one.
    FakeEventSource.latest().failClosed();
    vi.advanceTimersByTime(1000);
    expect(FakeEventSource.instances).toHaveLength(before + 2);
  });

  it('ignores a reconnect request while live', () => {
    const { client } = setup();
    client.start();
    FakeEventSource.latest().open();
    client.reconnectNow();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(client.status).toBe('live');
  });

  it('caps the backoff and spreads it with jitter', () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(500);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 1)).toBe(1000);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.5)).toBe(6000);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 1)).toBe(30_000);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 0)).toBe(15_000);
  });

  it('sends the last seen id as last_event_id on its own reconnects', () => {
    const { client } = setup();
    client.start();
    const first = FakeEventSource.latest();
    first.open();
    first.emit('task', { id: 1, state: 'queued' }, '42-0');
    first.emit('task', { id: 2, state: 'queued' }, '43-0');
    first.failClosed();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs);
    expect(FakeEventSource.latest().url).toBe('/prefix/api/sse/events?last_event_id=43-0');
  });

  it('appends last_event_id to a url that already has a query', () => {
    expect(withLastEventId('/api/sse/events?kind=task', '5-1')).toBe('/api/sse/events?kind=task&last_event_id=5-1');
    expect(withLastEventId('/api/sse/events', null)).toBe('/api/sse/events');
    expect(withLastEventId('/api/sse/events', 'a b')).toBe('/api/sse/events?last_event_id=a%20b');
  });

  it('ignores events from a stream it already replaced', () => {
    const { client, onTask } = setup();
    client.start();
    const old = FakeEventSource.latest();
    old.open();
    old.failClosed();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs);
    old.emit('task', { id: 1, state: 'queued' }, '1');
    expect(onTask).not.toHaveBeenCalled();
  });

  it('asks for a refetch when the stream opens again after a gap', () => {
    const { client, onReopen } = setup();
    client.start();
    FakeEventSource.latest().open();
    expect(onReopen).not.toHaveBeenCalled();
    FakeEventSource.latest().failAndRetry();
    FakeEventSource.latest().open();
    expect(onReopen).toHaveBeenCalledTimes(1);
  });

  it('pauses while the tab is hidden and resumes from the last id', () => {
    const { client, visibility } = setup();
    client.start();
    const first = FakeEventSource.latest();
    first.open();
    first.emit('task', { id: 3, state: 'running' }, '77-0');

    visibility.set('hidden');
    expect(client.status).toBe('paused');
    expect(first.closed).toBe(true);

    visibility.set('visible');
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(FakeEventSource.latest().url).toContain('last_event_id=77-0');
    expect(client.status).toBe('connecting');
    FakeEventSource.latest().open();
    expect(client.status).toBe('live');
  });

  it('cancels a pending reconnect when the tab is hidden', () => {
    const { client, visibility } = setup();
    client.start();
    FakeEventSource.latest().failClosed();
    visibility.set('hidden');
    vi.advanceTimersByTime(60_000);
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(client.status).toBe('paused');
  });

  it('starts paused in a hidden tab', () => {
    const { client, visibility } = setup();
    visibility.visibilityState = 'hidden';
    client.start();
    expect(FakeEventSource.instances).toHaveLength(0);
    expect(client.status).toBe('paused');
  });

  it('reports a stream that never opens as reconnecting, so queries poll', () => {
    const { client } = setup();
    client.start();
    vi.advanceTimersByTime(9999);
    expect(client.status).toBe('connecting');
    vi.advanceTimersByTime(1);
    expect(client.status).toBe('reconnecting');
    FakeEventSource.latest().open();
    expect(client.status).toBe('live');
  });

  it('closes everything on stop', () => {
    const { client, visibility } = setup();
    client.start();
    const es = FakeEventSource.latest();
    es.failClosed();
    client.stop();
    vi.advanceTimersByTime(60_000);
    visibility.set('hidden');
    visibility.set('visible');
    expect(FakeEventSource.instances).toHaveLength(1);
  });
});
