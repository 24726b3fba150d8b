import { LINE_PRECISIONS, type LinePoint, type LinePrecision, metricNameOf, parseLines } from './line-protocol.parser';

/** The one point of a one-line body; fails the test when the line was refused. */
function point(line: string, precision?: LinePrecision): LinePoint {
  const { points, errors } = parseLines(line, precision);
  expect(errors).toEqual([]);
  expect(points).toHaveLength(1);
  return points[0].point;
}

/** The error message of a one-line body that must be refused. */
function refusal(line: string): string {
  const { points, errors } = parseLines(line);
  expect(points).toEqual([]);
  expect(errors).toHaveLength(1);
  return errors[0].message;
}

// Cases follow the line protocol reference of InfluxDB 1.x
// (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/).
describe('line protocol parser', () => {
  it('reads measurement, tags, fields and timestamp', () => {
    expect(point('cpu,host=h1,cpu=cpu0 usage_idle=97.5,usage_user=1.25 1700000000123456789')).toEqual({
      measurement: 'cpu',
      tags: [
        ['host', 'h1'],
        ['cpu', 'cpu0'],
      ],
      fields: [
        ['usage_idle', 97.5],
        ['usage_user', 1.25],
      ],
      tsMs: 1700000000123,
    });
  });

  it('leaves tsMs null when the line has no timestamp (the ingest takes the time of receipt)', () => {
    expect(point('mem used_percent=41.5').tsMs).toBeNull();
    expect(point('mem used_percent=41.5   ').tsMs).toBeNull();
  });

  describe('escaping', () => {
    it('measurement: escaped commas and spaces are part of the name; = needs no escape', () => {
      expect(point('my\\,meas\\ ure=x v=1').measurement).toBe('my,meas ure=x');
    });

    it('tag keys and values: escaped commas, equals signs and spaces', () => {
      expect(point('m,tag\\ key\\,1=a\\=b\\,c\\ d v=1').tags).toEqual([['tag key,1', 'a=b,c d']]);
    });

    it('field keys: escaped commas, equals signs and spaces', () => {
      expect(point('m field\\ a\\,b\\=c=2').fields).toEqual([['field a,b=c', 2]]);
    });

    it('a backslash before another character is kept as it is; \\\\ is one backslash', () => {
      expect(point('m,path=C:\\temp\\x v=1').tags).toEqual([['path', 'C:\\temp\\x']]);
      expect(point('m,k=a\\\\ v=1').tags).toEqual([['k', 'a\\']]);
    });

    it('string fields: double quotes, \\" and \\\\ escaped; spaces, commas and = inside are text', () => {
      expect(point('m s="a \\"quoted\\", x=1 \\\\ y",v=2 1').fields).toEqual([
        ['s', { string: 'a "quoted", x=1 \\ y' }],
        ['v', 2],
      ]);
    });
  });

  describe('field values', () => {
    it('floats, with or without a fraction or an exponent', () => {
      expect(point('m a=1,b=-1.5,c=+2.25,d=1e3,e=1.5E-2,f=.5,g=3.').fields).toEqual([
        ['a', 1],
        ['b', -1.5],
        ['c', 2.25],
        ['d', 1000],
        ['e', 0.015],
        ['f', 0.5],
        ['g', 3],
      ]);
    });

    it('integers with the i suffix, unsigned with u', () => {
      expect(point('m a=42i,b=-7i,c=18446744073u,d=0i').fields).toEqual([
        ['a', 42],
        ['b', -7],
        ['c', 18446744073],
        ['d', 0],
      ]);
    });

    it('booleans: t, T, true, True, TRUE and the same for false', () => {
      const p = point('m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE');
      expect(p.fields.map(([, v]) => v)).toEqual([true, true, true, true, true, false, false, false, false, false]);
    });

    it('a string is read (so that the ingest can refuse it by name), not turned into a number', () => {
      expect(point('m status="ok"').fields).toEqual([['status', { string: 'ok' }]]);
    });

    it.each([
      ['m v=1.5i', 'field v: invalid integer 1.5i'],
      ['m v=-3u', 'field v: invalid integer -3u'],
      ['m v=i', 'field v: invalid integer i'],
      ['m v=0x10', 'field v: invalid number 0x10'],
      ['m v=Infinity', 'field v: invalid number Infinity'],
      ['m v=NaN', 'field v: invalid number NaN'],
      ['m v=1e', 'field v: invalid number 1e'],
      ['m v=yes', 'field v: invalid number yes'],
      ['m v=1e999', 'field v: number out of range 1e999'],
      ['m v="open', 'unterminated string in field v'],
      ['m v=', 'missing value for field v'],
    ])('refuses %j: %s', (line, why) => {
      expect(refusal(line)).toContain(why);
    });
  });

  describe('timestamps', () => {
    const cases: [LinePrecision, string, number][] = [
      ['ns', '1700000000123456789', 1700000000123],
      ['u', '1700000000123456', 1700000000123],
      ['ms', '1700000000123', 1700000000123],
      ['s', '1700000000', 1700000000000],
      ['m', '28333333', 28333333 * 60_000],
      ['h', '472222', 472222 * 3_600_000],
    ];
    it.each(cases)('precision %s: %s is %d ms', (precision, ts, ms) => {
      expect(point(`m v=1 ${ts}`, precision).tsMs).toBe(ms);
    });

    it('covers every precision the API takes', () => {
      expect(cases.map(([p]) => p)).toEqual([...LINE_PRECISIONS]);
    });

    it('defaults to nanoseconds', () => {
      expect(point('m v=1 1700000000999999999').tsMs).toBe(1700000000999);
    });

    it('cuts digits beyond milliseconds rather than rounding through a float', () => {
      // 2^53 + 1 ns is not a double; cutting the digits keeps the milliseconds exact.
      expect(point('m v=1 9007199254740993', 'ns').tsMs).toBe(9007199254);
      expect(point('m v=1 999', 'ns').tsMs).toBe(0);
    });

    it('takes a negative timestamp', () => {
      expect(point('m v=1 -5', 's').tsMs).toBe(-5000);
    });

    it.each([
      ['m v=1 12.5', 'invalid timestamp 12.5'],
      ['m v=1 17e9', 'invalid timestamp 17e9'],
      ['m v=1 now', 'invalid timestamp now'],
      ['m v=1 1 2', 'unexpected text after the timestamp'],
    ])('refuses %j: %s', (line, why) => {
      expect(refusal(line)).toContain(why);
    });

    it('refuses a timestamp too long for any date', () => {
      expect(refusal(`m v=1 ${'9'.repeat(30)}`)).toContain('timestamp out of range');
    });
  });

  describe('structure', () => {
    it.each([
      ['m', 'missing fields'],
      ['m,host=a', 'missing fields'],
      [',host=a v=1', 'missing measurement'],
      ['m,=a v=1', 'missing tag key'],
      ['m,host v=1', 'missing tag value for host'],
      ['m,host= v=1', 'missing tag value for host'],
      ['m =1', 'missing field key'],
      ['m v', 'missing value for field v'],
      ['m v=1,', 'missing field key'],
      ['m v=1"x"', 'invalid number 1"x"'],
      ['m s="a"x', 'unexpected character after the fields'],
    ])('refuses %j: %s', (line, why) => {
      expect(refusal(line)).toContain(why);
    });

    it('allows runs of blanks between the sections, leading blanks, CRLF, blank lines and # comments', () => {
      const { points, errors } = parseLines('# written by hand\r\n\r\n  cpu,host=a   v=1   1700000000000000000\r\n\n');
      expect(errors).toEqual([]);
      expect(points).toEqual([
        {
          line: 3,
          point: { measurement: 'cpu', tags: [['host', 'a']], fields: [['v', 1]], tsMs: 1700000000000 },
        },
      ]);
    });
  });

  describe('a body of lines', () => {
    it('keeps the good lines and names each bad one by its number, with an excerpt', () => {
      const body = ['cpu v=1 1', 'cpu v=oops 2', 'cpu v=3 3', 'garbage', 'cpu v=5 5'].join('\n');
      const { points, errors } = parseLines(body, 's');
      expect(points.map((p) => [p.line, p.point.fields[0][1]])).toEqual([
        [1, 1],
        [3, 3],
        [5, 5],
      ]);
      expect(errors).toEqual([
        { line: 2, message: 'line 2: field v: invalid number oops ("cpu v=oops 2")' },
        { line: 4, message: 'line 4: missing fields ("garbage")' },
      ]);
    });

    it('bounds the excerpt of a long bad line and shows control characters', () => {
      const [e] = parseLines(`x${'a'.repeat(500)}\u0001`).errors;
      expect(e.message.length).toBeLessThan(140);
      expect(e.message).toContain('…');
      expect(parseLines('bad\u0007').errors[0].message).toContain('"bad\\u0007"');
    });

    it('counts lines from 1, blank lines and comments included', () => {
      expect(parseLines('\n# c\nm\n').errors.map((e) => e.line)).toEqual([3]);
    });

    it('answers a hostile line (200,000 backslashes, an endless string) with a bounded message', () => {
      // One pass per line: a quadratic parser would hit the spec's timeout here.
      const [tag] = parseLines('m,' + '\\'.repeat(200_000) + ' v=1').errors;
      expect(tag.message).toMatch(/^line 1: missing tag value for \\{40}… \("m,(\\\\){78}…"\)$/);
      const [str] = parseLines('m s="' + '\\"'.repeat(200_000)).errors;
      expect(str.message).toMatch(/^line 1: unterminated string in field s /);
      expect(str.message.length).toBeLessThanOrEqual(250);
    });
  });

  it('names a metric <measurement>_<field>, as Telegraf does', () => {
    expect(metricNameOf('cpu', 'usage_idle')).toBe('cpu_usage_idle');
  });
});
