import { describe, expect, it } from 'vitest';
import { parseListen } from './cli.ts';
import { acceptsGzip } from './http-util.ts';
import { compilePath } from './route.ts';

describe('HTTP plumbing', () => {
  it('acceptsGzip honours q=0', () => {
    expect(acceptsGzip('gzip, deflate, br')).toBe(true);
    expect(acceptsGzip('br;q=1.0, gzip;q=0.8')).toBe(true);
    expect(acceptsGzip('*')).toBe(true);
    expect(acceptsGzip('gzip;q=0')).toBe(false);
    expect(acceptsGzip('deflate')).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
  });

  it('compilePath matches one segment per parameter and escapes the rest', () => {
    const re = compilePath('/api/v1/agent/actions/{id}/status');
    expect(re.exec('/api/v1/agent/actions/abc/status')?.groups).toEqual({ id: 'abc' });
    expect(re.test('/api/v1/agent/actions/a/b/status')).toBe(false);
    expect(re.test('/api/v1/agent/actions//status')).toBe(false);
    expect(compilePath('/a.b').test('/aXb')).toBe(false);
  });

  it('parseListen reads HOST:PORT forms', () => {
    expect(parseListen('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen(':0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListen('9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseListen('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(() => parseListen('localhost')).toThrow(/HOST:PORT/);
    expect(() => parseListen('h:99999')).toThrow(/HOST:PORT/);
  });
});
