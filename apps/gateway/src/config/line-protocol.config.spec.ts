import { DEFAULT_LINE_DEVICE_TAG } from '@fieldline/contracts';
import { bridgeAllows, loadLineProtocolConfig } from './line-protocol.config';

// Parsing and refusals of the two variables are in env.spec.ts; this is what a bridge may write for.
describe('line-protocol bridges', () => {
  const b = { name: 'b', tokenSha256: '0'.repeat(64), devices: ['pump-*', 'valve-1'] };

  it('allow exact ids and prefixes ending in *', () => {
    expect(['pump-1', 'pump-', 'valve-1'].map((id) => bridgeAllows(b, id))).toEqual([true, true, true]);
    expect(['valve-10', 'pum', 'x', 'valve-'].map((id) => bridgeAllows(b, id))).toEqual([false, false, false, false]);
  });

  it('allow every device with * alone', () => {
    expect(bridgeAllows({ ...b, devices: ['*'] }, 'anything')).toBe(true);
  });

  it('the default device tag is the one contracts name', () => {
    expect(loadLineProtocolConfig({}).deviceTag).toBe(DEFAULT_LINE_DEVICE_TAG);
  });
});
