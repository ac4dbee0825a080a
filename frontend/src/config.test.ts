import { describe, expect, it } from 'vitest';
import { normaliseBasePath, readRuntimeConfig } from './config';

function docWith(json: string | null): Document {
  const doc = document.implementation.createHTMLDocument('t');
  if (json !== null) {
    const script = doc.createElement('script');
    script.id = 'skiplock-config';
    script.type = 'application/json';
    script.textContent = json;
    doc.head.appendChild(script);
  }
  return doc;
}

describe('readRuntimeConfig', () => {
  it('defaults to the root when the server injected nothing', () => {
    expect(readRuntimeConfig(docWith(null))).toEqual({ basePath: '', apiBase: '/api', demo: false });
  });

  it('reads basePath from the injected JSON', () => {
    expect(readRuntimeConfig(docWith('{"basePath": "/jobs"}'))).toEqual({ basePath: '/jobs', apiBase: '/jobs/api', demo: false });
  });

  it('offers demo controls only when the server says so', () => {
    expect(readRuntimeConfig(docWith('{"basePath": "", "demo": true}')).demo).toBe(true);
    expect(readRuntimeConfig(docWith('{"basePath": "", "demo": "yes"}')).demo).toBe(false);
    expect(readRuntimeConfig(docWith('{"basePath": ""}')).demo).toBe(false);
  });

  it('decodes the escaped "<" the server writes', () => {
    expect(readRuntimeConfig(docWith('{"basePath": "/a\\u003cb"}')).basePath).toBe('/a<b');
  });

  it('survives a malformed or odd tag', () => {
    expect(readRuntimeConfig(docWith('<!--skiplock-config-->')).basePath).toBe('');
    expect(readRuntimeConfig(docWith('{"basePath": 3}')).basePath).toBe('');
  });

  it('normalises slashes', () => {
    expect(normaliseBasePath('/jobs/')).toBe('/jobs');
    expect(normaliseBasePath('jobs')).toBe('/jobs');
    expect(normaliseBasePath('/')).toBe('');
  });
});
