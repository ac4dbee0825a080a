/**
 * One EventSource per tab on `${apiBase}/sse/events`, with the recovery a browser does not do.
 *
 * - While the browser retries on its own (readyState CONNECTING after an error) it resends
 *   Last-Event-ID itself; we only report "reconnecting", then "polling" if it keeps failing.
 * - Once the browser gives up (readyState CLOSED: any non-200 answer or wrong content type),
 *   we reconnect ourselves with jittered exponential backoff and pass the last id we saw as
 *   the `last_event_id` query parameter, because a new EventSource cannot set the header.
 * - While the tab is hidden the stream is closed ("paused") and reopened on return.
 *
 * The class is framework-free so tests drive it with a fake EventSource and fake timers.
 */
import type { TaskEvent } from '../api/types';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'polling' | 'paused';

/** The part of EventSource this client uses. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((this: EventSourceLike, ev: Event) => unknown) | null;
  onerror: ((this: EventSourceLike, ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

/** The part of Document this client uses (visibility). */
export interface VisibilitySource {
  readonly visibilityState: DocumentVisibilityState;
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

export const CLOSED = 2;

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000, factor: 2 };

/**
 * Delay before manual reconnect number `attempt` (0-based): the exponential step, capped,
 * with "equal jitter" (half fixed, half random) so tabs do not reconnect in lockstep after
 * a server restart, yet never retry instantly.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const step = Math.min(options.maxMs, options.initialMs * options.factor ** attempt);
  return step / 2 + random() * (step / 2);
}

export function withLastEventId(url: string, lastEventId: string | null): string {
  if (!lastEventId) return url;
  const separator = url.includes('?') ? '&' : '?';
  return `${url}${separator}last_event_id=${encodeURIComponent(lastEventId)}`;
}

export interface EventStreamOptions {
  url: string;
  onTask: (event: TaskEvent, id: string | null) => void;
  onReset: () => void;
  onStatus: (status: LiveStatus) => void;
  /** The stream opened again after a gap: events may have been missed. */
  onReopen?: () => void;
  /** The browser gave up on the stream (e.g. a 401 after the session expired). */
  onClosed?: () => void;
  eventSourceFactory?: EventSourceFactory;
  visibility?: VisibilitySource | null;
  backoff?: BackoffOptions;
  random?: () => number;
  /** Consecutive failures after which "reconnecting" is reported as "polling". */
  pollingAfterFailures?: number;
  /**
   * A stream that neither opens nor fails within this time (a buffering proxy, say) is
   * reported as "reconnecting", so queries poll meanwhile.
   */
  openTimeoutMs?: number;
}

const defaultFactory: EventSourceFactory = (url) =>
  new EventSource(url, { withCredentials: true }) as unknown as EventSourceLike;

export class EventStreamClient {
  private readonly options: EventStreamOptions;
  private readonly factory: EventSourceFactory;
  private readonly visibility: VisibilitySource | null;
  private source: EventSourceLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private openTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private failures = 0;
  private everOpened = false;
  private started = false;
  private lastId: string | null = null;
  private currentStatus: LiveStatus = 'connecting';

  constructor(options: EventStreamOptions) {
    this.options = options;
    this.factory = options.eventSourceFactory ?? defaultFactory;
    this.visibility =
      options.visibility === undefined ? (typeof document === 'undefined' ? null : document) : options.visibility;
  }

  get status(): LiveStatus {
    return this.currentStatus;
  }

  get lastEventId(): string | null {
    return this.lastId;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.visibility?.addEventListener('visibilitychange', this.onVisibilityChange);
    if (this.visibility?.visibilityState === 'hidden') this.pause();
    else this.connect();
  }

  stop(): void {
    this.started = false;
    this.visibility?.removeEventListener('visibilitychange', this.onVisibilityChange);
    this.teardown();
  }

  /**
   * Reconnect at once instead of waiting out the backoff (the user pressed "Reconnect now",
   * or the network came back). A no-op while live, paused or stopped.
   */
  reconnectNow(): void {
    if (!this.started || this.currentStatus === 'live' || this.currentStatus === 'paused') return;
    this.attempt = 0;
    this.connect();
  }

  private readonly onVisibilityChange = (): void => {
    if (!this.started) return;
    if (this.visibility?.visibilityState === 'hidden') this.pause();
    else if (this.currentStatus === 'paused') this.resume();
  };

  private pause(): void {
    this.teardown();
    this.setStatus('paused');
  }

  private resume(): void {
    this.attempt = 0;
    this.failures = 0;
    this.connect();
  }

  private teardown(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.clearOpenTimer();
    if (this.source) {
      this.source.onopen = null;
      this.source.onerror = null;
      this.source.close();
      this.source = null;
    }
  }

  private clearOpenTimer(): void {
    if (this.openTimer !== null) {
      clearTimeout(this.openTimer);
      this.openTimer = null;
    }
  }

  private setStatus(status: LiveStatus): void {
    if (status === this.currentStatus) return;
    this.currentStatus = status;
    this.options.onStatus(status);
  }

  private connect(): void {
    this.teardown();
    if (this.currentStatus === 'paused' || !this.everOpened) this.setStatus('connecting');
    const source = this.factory(withLastEventId(this.options.url, this.lastId));
    this.source = source;
    this.openTimer = setTimeout(() => {
      this.openTimer = null;
      if (this.source === source && this.currentStatus === 'connecting') this.setStatus('reconnecting');
    }, this.options.openTimeoutMs ?? 10_000);
    source.onopen = () => {
      if (this.source !== source) return;
      this.clearOpenTimer();
      this.attempt = 0;
      this.failures = 0;
      this.setStatus('live');
      if (this.everOpened) this.options.onReopen?.();
      this.everOpened = true;
    };
    source.onerror = () => {
      if (this.source !== source) return;
      this.failures += 1;
      if (source.readyState === CLOSED) {
        this.teardown();
        this.scheduleReconnect();
        this.options.onClosed?.();
      } else {
        this.setStatus(this.disconnectedStatus());
      }
    };
    source.addEventListener('task', (ev) => this.handleTask(source, ev));
    source.addEventListener('reset', (ev) => {
      if (this.source !== source) return;
      this.remember(ev);
      this.options.onReset();
    });
  }

  private disconnectedStatus(): LiveStatus {
    return this.failures >= (this.options.pollingAfterFailures ?? 3) ? 'polling' : 'reconnecting';
  }

  private scheduleReconnect(): void {
    this.setStatus(this.disconnectedStatus());
    const delay = backoffDelay(this.attempt, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random ?? Math.random);
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private remember(ev: MessageEvent<string>): void {
    if (ev.lastEventId) this.lastId = ev.lastEventId;
  }

  private handleTask(source: EventSourceLike, ev: MessageEvent<string>): void {
    if (this.source !== source) return;
    this.remember(ev);
    let data: unknown;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return; // A malformed frame is dropped; the next invalidation heals the cache.
    }
    if (data && typeof data === 'object' && 'id' in data && 'state' in data) {
      this.options.onTask(data as TaskEvent, ev.lastEventId || null);
    }
  }
}
