import { describe, expect, it } from 'vitest';
import { describeFilter, EMPTY_FILTERS, filtersToSearch, parseFilters, toBulkFilter, toListQuery } from './taskFilters';

const NOW = new Date('2026-11-28T12:00:00Z');

describe('task filters in the URL', () => {
  it('round-trips through the query string', () => {
    const filters = { states: ['dead' as const, 'retrying' as const], type: 'email', tenant: 'acme', id: '', range: '1h' as const, q: '' };
    const search = filtersToSearch(filters);
    expect(search.toString()).toBe('state=dead&state=retrying&type=email&tenant=acme&range=1h');
    expect(parseFilters(search)).toEqual(filters);
  });

  it('accepts comma-separated states and drops unknown values', () => {
    const parsed = parseFilters(new URLSearchParams('state=queued,bogus&state=queued&id=abc&range=99y'));
    expect(parsed).toEqual({ ...EMPTY_FILTERS, states: ['queued'] });
  });

  it('builds list parameters with a created_after from the range', () => {
    const query = toListQuery({ ...EMPTY_FILTERS, states: ['queued'], range: '15m', id: '42' }, NOW);
    expect(query).toEqual({ state: ['queued'], type: undefined, tenant: undefined, id: '42', created_after: '2026-11-28T11:45:00.000Z' });
  });

  it('builds a bulk filter with states as a list', () => {
    expect(toBulkFilter({ ...EMPTY_FILTERS, states: ['dead'] }, NOW)).toEqual({ state: ['dead'] });
    expect(toBulkFilter({ ...EMPTY_FILTERS, states: ['dead', 'cancelled'], tenant: 'acme', range: '24h' }, NOW)).toEqual({
      state: ['dead', 'cancelled'],
      tenant: 'acme',
      created_after: '2026-11-27T12:00:00.000Z',
    });
    expect(describeFilter({})).toBe('every task');
    expect(describeFilter({ state: ['dead'], type: 'email' })).toBe('state dead, type email');
  });
});
