import { useTenants, useTypeBreakdown } from '../api/queries';
import { useIsAdmin } from '../auth/AuthProvider';

/** Suggestions for the filter bar: known task types (last 7 days) and, for admins, tenants. */
export function useTaskFilterOptions() {
  const isAdmin = useIsAdmin();
  const types = useTypeBreakdown(7 * 24 * 3600);
  const tenants = useTenants(isAdmin);
  const typeOptions = [...new Set((types.data?.items ?? []).map((r) => r.type).filter((t): t is string => !!t))].sort();
  const tenantOptions = isAdmin ? (tenants.data?.items ?? []).map((t) => t.name).sort() : undefined;
  return { typeOptions, tenantOptions, isAdmin };
}
