import { useState } from 'react';
import { errorMessage } from '../api/client';
import { useTaskCount, useTaskCountAll, type Total } from '../api/queries';
import type { TaskFilters } from './taskFilters';

export interface ListTotal {
  /** The live count: exact, or "at least" (`exact: false`). */
  total?: Total;
  /** Every match, counted once on request for these filters, and when. */
  counted?: Total & { at: Date };
  counting: boolean;
  error: string | null;
  /** Count every match now (again, if counted before). */
  countAll: () => void;
}

/** The count under a list: the live capped count, and "Count all" for when "at least"
 * is not enough. A count asked for belongs to the filters it was asked with. */
export function useListTotal(filters: TaskFilters, filterKey: string): ListTotal {
  const live = useTaskCount(filters);
  const [askedFor, setAskedFor] = useState<string | null>(null);
  const asked = askedFor === filterKey;
  const all = useTaskCountAll(filters, asked);
  return {
    total: live.data,
    counted: asked && !all.isFetching ? all.data : undefined,
    counting: asked && all.isFetching,
    error: asked && all.error && !all.isFetching ? errorMessage(all.error) : null,
    countAll: () => {
      if (asked) void all.refetch();
      else setAskedFor(filterKey);
    },
  };
}
