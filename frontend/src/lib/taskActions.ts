import type { TaskState } from '../api/types';

// Which hand-driven action each state allows, as the API decides it (a 409 otherwise).
export const CANCELLABLE: readonly TaskState[] = ['scheduled', 'queued', 'retrying', 'running'];
export const REQUEUEABLE: readonly TaskState[] = ['dead', 'cancelled'];
// Waiting for its run_at (a delayed submission or a retry's backoff): can run at once.
export const RUNNABLE_NOW: readonly TaskState[] = ['scheduled', 'retrying'];
// Never due yet, never run: deleting loses no history.
export const DELETABLE: readonly TaskState[] = ['scheduled'];
