import { act, render, screen } from '@testing-library/react';
import { MemoryRouter, useLocation } from 'react-router';
import { describe, expect, it } from 'vitest';
import { useLatestSearch } from './useLatestSearch';

function Probe() {
  const [search, latest, set] = useLatestSearch();
  const location = useLocation();
  // Two changes before React renders the first: the second must build on the first.
  const both = () => {
    const first = latest();
    first.delete('state');
    set(first);
    const second = latest();
    second.set('id', '42');
    set(second);
  };
  return (
    <>
      <button onClick={both}>change</button>
      <output data-testid="rendered">{search.toString()}</output>
      <output data-testid="location">{location.search}</output>
    </>
  );
}

describe('useLatestSearch', () => {
  it('builds a change on the one asked for just before, not on the last render', () => {
    render(
      <MemoryRouter initialEntries={['/tasks?state=cancelled&tenant=acme']}>
        <Probe />
      </MemoryRouter>,
    );
    expect(screen.getByTestId('rendered').textContent).toBe('state=cancelled&tenant=acme');
    act(() => screen.getByRole('button', { name: 'change' }).click());
    expect(screen.getByTestId('location').textContent).toBe('?tenant=acme&id=42');
    expect(screen.getByTestId('rendered').textContent).toBe('tenant=acme&id=42');
  });
});
