import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { mockFetch, renderWithApp } from '../test/render';
import { PageHeader } from './PageHeader';

describe('PageHeader', () => {
  it('is the page\'s h1 and names the browser tab', () => {
    mockFetch({});
    renderWithApp(<PageHeader title="Dead letters" description="x" />);
    expect(screen.getByRole('heading', { level: 1, name: 'Dead letters' })).toBeInTheDocument();
    expect(document.title).toBe('Dead letters · Skiplock');
  });
});
