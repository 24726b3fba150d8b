import type { IngestReply } from '@fieldline/contracts';
import { BAD_REPLY, outcomeOfHttp, outcomeOfWsReply, parseMqttError, parseWsReply } from './replies';

describe('WebSocket replies', () => {
  it('parses IngestReply frames and rejects anything else', () => {
    expect(parseWsReply('{"type":"ack","seq":3,"accepted":1}')).toEqual({ type: 'ack', seq: 3, accepted: 1 });
    expect(
      parseWsReply(Buffer.from('{"type":"error","seq":null,"code":"MALFORMED_JSON","message":"x"}')),
    ).toMatchObject({
      type: 'error',
      code: 'MALFORMED_JSON',
    });
    expect(parseWsReply('not json')).toBeNull();
    expect(parseWsReply('[1]')).toBeNull();
    expect(parseWsReply('{"type":"ack"}')).toBeNull();
  });

  it('counts an ack of one reading', () => {
    expect(outcomeOfWsReply({ type: 'ack', seq: 1, accepted: 1 }, 1)).toEqual({ accepted: 1, refused: 0, codes: {} });
  });

  it('counts a batch ack with refused readings by code', () => {
    const reply: IngestReply = {
      type: 'ack',
      seq: 5,
      seqs: [3, 5],
      accepted: 2,
      errors: [
        { index: 0, seq: 2, code: 'INVALID_METRIC_VALUE', message: 'metric "t" must be a finite number' },
        { index: 2, seq: 4, code: 'INVALID_METRIC_VALUE', message: 'metric "t" must be a finite number' },
        { index: 4, code: 'INVALID_TIMESTAMP', message: 'ts' },
      ],
    };
    const o = outcomeOfWsReply(reply, 5);
    expect(o.accepted).toBe(2);
    expect(o.refused).toBe(3);
    expect(o.codes).toEqual({ INVALID_METRIC_VALUE: 2, INVALID_TIMESTAMP: 1 });
    expect(o.error).toMatchObject({ code: 'INVALID_METRIC_VALUE', seq: 2 });
  });

  it('counts a refused single reading', () => {
    const o = outcomeOfWsReply({ type: 'error', seq: 9, code: 'NO_METRICS', message: 'no metrics' }, 1);
    expect(o).toEqual({
      accepted: 0,
      refused: 1,
      codes: { NO_METRICS: 1 },
      error: { code: 'NO_METRICS', message: 'no metrics', seq: 9 },
    });
  });

  it('counts a refused batch by its per-reading errors, or whole under the message code', () => {
    const perReading = outcomeOfWsReply(
      {
        type: 'error',
        seq: null,
        code: 'NO_METRICS',
        message: 'no reading accepted',
        details: {
          errors: [
            { index: 0, code: 'NO_METRICS' },
            { index: 1, code: 'INVALID_SEQ' },
          ],
        },
      },
      2,
    );
    expect(perReading).toMatchObject({ accepted: 0, refused: 2, codes: { NO_METRICS: 1, INVALID_SEQ: 1 } });
    const whole = outcomeOfWsReply({ type: 'error', seq: null, code: 'MALFORMED_JSON', message: 'bad' }, 10);
    expect(whole).toMatchObject({ accepted: 0, refused: 10, codes: { MALFORMED_JSON: 10 } });
  });
});

describe('HTTP answers', () => {
  it('counts a 202 IngestResponse', () => {
    expect(outcomeOfHttp(202, { accepted: 1, rejected: 0, errors: [] }, 1)).toEqual({
      accepted: 1,
      refused: 0,
      codes: {},
    });
    const partial = outcomeOfHttp(
      202,
      { accepted: 3, rejected: 1, errors: [{ index: 1, seq: 7, code: 'INVALID_TAGS', message: 'tags' }] },
      4,
    );
    expect(partial).toMatchObject({ accepted: 3, refused: 1, codes: { INVALID_TAGS: 1 } });
  });

  it('counts an error body, with or without per-reading errors', () => {
    expect(outcomeOfHttp(400, { code: 'MALFORMED_JSON', message: 'bad' }, 1)).toMatchObject({
      accepted: 0,
      refused: 1,
      codes: { MALFORMED_JSON: 1 },
    });
    expect(
      outcomeOfHttp(
        400,
        {
          code: 'INVALID_SEQ',
          message: 'x',
          details: {
            errors: [
              { index: 0, code: 'INVALID_SEQ' },
              { index: 1, code: 'NO_METRICS' },
            ],
          },
        },
        2,
      ),
    ).toMatchObject({ refused: 2, codes: { INVALID_SEQ: 1, NO_METRICS: 1 } });
    expect(outcomeOfHttp(429, { code: 'RATE_LIMITED', message: 'slow down' }, 5)).toMatchObject({
      refused: 5,
      codes: { RATE_LIMITED: 5 },
    });
  });

  it('counts an answer that is not JSON by status', () => {
    expect(outcomeOfHttp(502, '<html>Bad Gateway</html>', 2)).toMatchObject({ refused: 2, codes: { HTTP_502: 2 } });
  });
});

describe('MQTT error topic payloads', () => {
  it('parses ErrorBody and ReadingError payloads', () => {
    expect(parseMqttError('{"code":"MALFORMED_JSON","message":"message is not valid JSON"}')).toEqual({
      code: 'MALFORMED_JSON',
      message: 'message is not valid JSON',
    });
    expect(parseMqttError(Buffer.from('{"index":0,"seq":12,"code":"NO_METRICS","message":"m"}'))).toEqual({
      code: 'NO_METRICS',
      message: 'm',
      seq: 12,
    });
    expect(parseMqttError('garbage')).toBeNull();
    expect(parseMqttError('{"message":"no code"}')).toBeNull();
    expect(BAD_REPLY).toBe('BAD_REPLY');
  });
});
