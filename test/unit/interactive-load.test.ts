import { describe, expect, it } from 'vitest';
import { loadWithoutCiDetection } from '../../src/interactive-load.js';

describe('loadWithoutCiDetection', () => {
  it('hides CI and CONTINUOUS_INTEGRATION while loading, then puts them back', async () => {
    const env: NodeJS.ProcessEnv = { CI: 'true', CONTINUOUS_INTEGRATION: '1', PATH: '/bin' };
    const seen = await loadWithoutCiDetection(async () => ({ ...env }), env);
    expect(seen).toEqual({ PATH: '/bin' });
    expect(env).toEqual({ CI: 'true', CONTINUOUS_INTEGRATION: '1', PATH: '/bin' });
  });

  it('puts them back when loading fails, and adds none that were not set', async () => {
    const env: NodeJS.ProcessEnv = { CI: 'yes' };
    await expect(loadWithoutCiDetection(async () => { throw new Error('no module'); }, env)).rejects.toThrow('no module');
    expect(env).toEqual({ CI: 'yes' });
  });
});
