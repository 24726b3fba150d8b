import { secretEquals } from './secrets';

describe('secretEquals', () => {
  it('is true only for the same secret, whatever the lengths', () => {
    expect(secretEquals('metrics-token-0123456789', 'metrics-token-0123456789')).toBe(true);
    expect(secretEquals('metrics-token-0123456789', 'metrics-token-012345678')).toBe(false);
    expect(secretEquals('', 'metrics-token-0123456789')).toBe(false);
    expect(secretEquals('Metrics-token-0123456789', 'metrics-token-0123456789')).toBe(false);
  });
});
