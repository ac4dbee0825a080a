import { useCallback } from 'react';
import { useSearchParams } from 'react-router';

// Cursors of pages seen in this tab, per view (filters and order): "Previous" walks back
// through them. A reload keeps the page itself (page and cursor are in the URL); going
// back from a reloaded deep page needs the trail, so there only "First" is offered.
const trails = new Map<string, Map<number, string | null>>();

function trailFor(key: string): Map<number, string | null> {
  let trail = trails.get(key);
  if (!trail) {
    trail = new Map([[1, null]]);
    trails.set(key, trail);
  }
  return trail;
}

/**
 * Cursor pagination kept in the address bar (`page` and `cursor`), so a reload or a shared
 * link opens the same page. `resetKey` names the view; the page's own URL parameters
 * (filters, sort) are left alone. Changing filters drops `page` and `cursor`: page 1.
 */
export function useCursorPager(resetKey: string) {
  const [search, setSearch] = useSearchParams();
  const cursor = search.get('cursor');
  const rawPage = Number(search.get('page'));
  const page = cursor && Number.isInteger(rawPage) && rawPage > 1 ? rawPage : 1;
  const trail = trailFor(resetKey);
  if (!trail.has(page)) trail.set(page, page === 1 ? null : cursor);

  const go = useCallback(
    (target: number, targetCursor: string | null) =>
      setSearch((prev) => {
        const next = new URLSearchParams(prev);
        if (target <= 1 || !targetCursor) {
          next.delete('page');
          next.delete('cursor');
        } else {
          next.set('page', String(target));
          next.set('cursor', targetCursor);
        }
        return next;
      }),
    [setSearch],
  );

  const next = useCallback(
    (nextCursor: string) => {
      trailFor(resetKey).set(page + 1, nextCursor);
      go(page + 1, nextCursor);
    },
    [go, page, resetKey],
  );
  const prevCursor = page > 1 ? trail.get(page - 1) : undefined;
  const hasPrev = page > 1 && prevCursor !== undefined;
  const prev = useCallback(() => {
    if (page > 1 && prevCursor !== undefined) go(page - 1, prevCursor);
  }, [go, page, prevCursor]);
  const first = useCallback(() => go(1, null), [go]);

  return { cursor: page === 1 ? null : cursor, page, next, prev, first, hasPrev };
}

/** The URL without paging: what a filter change starts from. */
export function withoutPaging(search: URLSearchParams): URLSearchParams {
  const next = new URLSearchParams(search);
  next.delete('page');
  next.delete('cursor');
  return next;
}
