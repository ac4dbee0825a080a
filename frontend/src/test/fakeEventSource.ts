/** A controllable EventSource for tests: emit open, named events, errors and closes. */
import type { EventSourceLike } from '../live/eventStream';

export class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = [];
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;

  readonly url: string;
  readyState = FakeEventSource.CONNECTING;
  onopen: ((this: EventSourceLike, ev: Event) => unknown) | null = null;
  onerror: ((this: EventSourceLike, ev: Event) => unknown) | null = null;
  closed = false;
  private listeners = new Map<string, ((ev: MessageEvent<string>) => void)[]>();

  constructor(url: string) {
    this.url = url;
    FakeEventSource.instances.push(this);
  }

  static reset(): void {
    FakeEventSource.instances = [];
  }

  static latest(): FakeEventSource {
    const last = FakeEventSource.instances[FakeEventSource.instances.length - 1];
    if (!last) throw new Error('no EventSource was created');
    return last;
  }

  static factory = (url: string): EventSourceLike => new FakeEventSource(url);

  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
    this.readyState = FakeEventSource.CLOSED;
  }

  open(): void {
    this.readyState = FakeEventSource.OPEN;
    this.onopen?.call(this, new Event('open'));
  }

  emit(type: string, data: unknown, lastEventId = ''): void {
    const ev = new MessageEvent<string>(type, {
      data: typeof data === 'string' ? data : JSON.stringify(data),
      lastEventId,
    });
    for (const listener of this.listeners.get(type) ?? []) listener(ev);
  }

  /** A dropped connection the browser will retry by itself. */
  failAndRetry(): void {
    this.readyState = FakeEventSource.CONNECTING;
    this.onerror?.call(this, new Event('error'));
  }

  /** A failure the browser gives up on (non-200, wrong content type). */
  failClosed(): void {
    this.readyState = FakeEventSource.CLOSED;
    this.onerror?.call(this, new Event('error'));
  }
}

/** A document stand-in whose visibility tests can flip. */
export class FakeVisibility {
  visibilityState: DocumentVisibilityState = 'visible';
  private listeners: (() => void)[] = [];

  addEventListener(_type: 'visibilitychange', listener: () => void): void {
    this.listeners.push(listener);
  }

  removeEventListener(_type: 'visibilitychange', listener: () => void): void {
    this.listeners = this.listeners.filter((l) => l !== listener);
  }

  set(state: DocumentVisibilityState): void {
    this.visibilityState = state;
    for (const listener of this.listeners) listener();
  }
}
