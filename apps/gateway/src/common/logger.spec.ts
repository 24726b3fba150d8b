import { configureLogging, logger, logSafe } from './logger';

/** What the loggers wrote to stdout and stderr while `fn` ran. */
function captured(fn: () => void): string {
  let out = '';
  const write = (chunk: string | Uint8Array): boolean => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  };
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(write);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(write);
  try {
    fn();
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

const FORGED = 'pump-7\n[Nest] 1  - 01/01/2026, 00:00:00     LOG [Auth] admin logged in\r\u2028';

describe('logger', () => {
  afterEach(() => configureLogging({ format: 'text', level: 'log' }));

  it('writes one line per call in text format, whatever a peer put into the message or a field', () => {
    configureLogging({ format: 'text', level: 'log' });
    const out = captured(() => logger('Test').warn(`mqtt client ${FORGED}: bad packet`, { clientId: FORGED }));
    expect(out.trimEnd().split('\n')).toHaveLength(1);
    expect(out).toContain('pump-7\\n[Nest]');
    expect(out).toContain('clientId=pump-7\\n');
  });

  it('writes one JSON object a line in json format, the peer string intact inside it', () => {
    configureLogging({ format: 'json', level: 'log' });
    const out = captured(() => logger('Test').warn(`client ${FORGED}`, { deviceId: 'pump-7', code: 'X' }));
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 'warn',
      context: 'Test',
      msg: `client ${FORGED}`,
      deviceId: 'pump-7',
      code: 'X',
    });
  });

  it('drops lines under the configured level', () => {
    configureLogging({ format: 'text', level: 'warn' });
    expect(captured(() => logger('Test').log('hidden'))).toBe('');
    expect(captured(() => logger('Test').warn('shown'))).toContain('shown');
  });

  it('bounds and escapes values', () => {
    expect(logSafe('a\tb\u0000c')).toBe('a\\tb\\u0000c');
    expect(logSafe('x'.repeat(5000))).toHaveLength(1001);
  });
});
