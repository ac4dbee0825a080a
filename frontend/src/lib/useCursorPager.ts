import { useCallback, useState } from 'react';

/**
 * A trail of cursors for "next only" pagination. It starts over whenever `resetKey`
 * changes (a new filter), without an effect: the trail is stored with the key it belongs to.
 */
export function useCursorPager(resetKey: string) {
  const [state, setState] = useState<{ key: string; trail: (string | null)[] }>({ key: resetKey, trail: [null] });
  const trail = state.key === resetKey ? state.trail : [null];

  const next = useCallback(
    (cursor: string) => setState((s) => ({ key: resetKey, trail: [...(s.key === resetKey ? s.trail : [null]), cursor] })),
    [resetKey],
  );
  const prev = useCallback(
    () => setState((s) => ({ key: resetKey, trail: s.key === resetKey && s.trail.length > 1 ? s.trail.slice(0, -1) : [null] })),
    [resetKey],
  );
  const first = useCallback(() => setState({ key: resetKey, trail: [null] }), [resetKey]);

  return { cursor: trail[trail.length - 1] ?? null, page: trail.length, next, prev, first };
}
