import { useTaskTypes, useTenants, useTypeBreakdown } from '../api/queries';
import { useSeesAll } from '../auth/AuthProvider';

/**
 * Suggestions for the filter bar: the task types workers announced (GET /api/task-types)
 * plus any seen in the last 7 days, and, for admins, the tenants.
 */
export function useTaskFilterOptions() {
  // Admins and readers filter by tenant; a tenant key only ever sees its own.
  const isAdmin = useSeesAll();
  const announced = useTaskTypes();
  const recent = useTypeBreakdown(7 * 24 * 3600);
  const tenants = useTenants(isAdmin);
  const typeOptions = [
    ...new Set([
      ...(announced.data?.types ?? []).map((t) => t.name),
      ...(recent.data?.items ?? []).map((r) => r.type).filter((t): t is string => !!t),
    ]),
  ].sort();
  const typesKnown = announced.isSuccess;
  const tenantOptions = isAdmin ? (tenants.data?.items ?? []).map((t) => t.name).sort() : undefined;
  return { typeOptions, typesKnown, tenantOptions, isAdmin };
}

/** Why a list is empty, when the reason is a type no worker or task has: a hint, with the known ones. */
export function unknownTypeHint(type: string, known: string[], typesKnown: boolean): string | null {
  if (!type || !typesKnown || known.includes(type)) return null;
  const listed = known.slice(0, 8).join(', ');
  return `No task type “${type}” is known here${known.length ? ` (known: ${listed}${known.length > 8 ? ', …' : ''})` : ''}. Check its spelling.`;
}
