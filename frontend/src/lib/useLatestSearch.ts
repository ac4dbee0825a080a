import { useEffect, useRef } from 'react';
import { useSearchParams } from 'react-router';

/**
 * The page's query string and a setter, where `latest()` is the newest one asked for even
 * before React has rendered it. The router renders a navigation in a transition, later
 * than the URL changes; a change built on the last render's values (a click, then typing,
 * on a busy machine) would bring the old values back. Once the router renders a query
 * string, whatever its source (this setter, back, a link), that is the truth again.
 */
export function useLatestSearch(): [URLSearchParams, () => URLSearchParams, (next: URLSearchParams) => void] {
  const [search, setSearch] = useSearchParams();
  const asked = useRef<URLSearchParams | null>(null);
  useEffect(() => {
    asked.current = null;
  }, [search]);
  const latest = () => new URLSearchParams(asked.current ?? search);
  const set = (next: URLSearchParams) => {
    asked.current = next;
    setSearch(next, { replace: false });
  };
  return [search, latest, set];
}
