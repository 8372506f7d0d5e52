import {
  MAX_REPORT_NESTING,
  MAX_REPORT_VALUES,
  nestingTooDeep,
  tooManyValues,
} from '../src/http/nesting';

const report = (insert: string) =>
  `{"schema":1,"id":"3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b",${insert},"pad":"${'x'.repeat(5000)}"}`;
const arrays = (n: number) => '['.repeat(n) + ']'.repeat(n);
const objects = (n: number, key = 'a') => `{"${key}":`.repeat(n) + '1' + '}'.repeat(n);

describe('nestingTooDeep', () => {
  it('names the report field the nesting is in, as a schema error would', () => {
    expect(nestingTooDeep(arrays(100_000))).toBe('');
    expect(nestingTooDeep(report(`"deep":${arrays(50)}`))).toBe('/deep');
    expect(nestingTooDeep(report(`"deep":${objects(50)}`))).toBe('/deep');
    expect(nestingTooDeep(report(`"app":{"name":${arrays(50)}}`))).toBe('/app/name');
    expect(nestingTooDeep(report(`"dump":${objects(50)}`))).toBe('/dump/a');
    expect(nestingTooDeep(report(`"error":{"x~y/z":${arrays(50)}}`))).toBe('/error/x~0y~1z');
    expect(nestingTooDeep(report(`"__proto__":${objects(50)}`))).toBe('/__proto__');
    // a key written with escapes is named as JSON reads it
    expect(nestingTooDeep(report(`"d\\u0065ep":${arrays(50)}`))).toBe('/deep');
  });

  it('leaves alone what is within the bound, short, inside strings, or not JSON', () => {
    expect(nestingTooDeep(report(`"deep":${arrays(MAX_REPORT_NESTING - 1)}`))).toBeNull();
    expect(nestingTooDeep(report(`"deep":${arrays(MAX_REPORT_NESTING)}`))).toBe('/deep');
    // brackets in strings, quotes escaped in them, do not count
    const text = `"description":"${'[{\\"'.repeat(2000)}\\\\"`;
    expect(nestingTooDeep(report(text))).toBeNull();
    expect(nestingTooDeep(arrays(1000))).toBeNull(); // under 4096 characters: parsed cheaply
    expect(nestingTooDeep(`"${'['.repeat(5000)}`)).toBeNull(); // unterminated: the parser says so
  });
});

describe('tooManyValues', () => {
  it('counts structure outside strings only, and leaves short bodies alone', () => {
    const padding = `"pad":"${'x'.repeat(5000)}"`;
    expect(tooManyValues(`{${padding},"a":[${'0,'.repeat(MAX_REPORT_VALUES)}0]}`)).toBe(true);
    expect(tooManyValues(`{${padding},"a":[${'0,'.repeat(500)}0]}`)).toBe(false);
    // commas, colons and brackets inside a string (a dump's ciphertext, a description) are text
    expect(tooManyValues(`{"d":"${'[,:{'.repeat(5000)}"}`)).toBe(false);
    expect(tooManyValues(`{"d":"${'\\"[,'.repeat(3000)}"}`)).toBe(false);
    // the bodies that cost JSON.parse most: small values nested just under the depth limit
    expect(tooManyValues(`${'['.repeat(31)}${']'.repeat(31)},`.repeat(4000))).toBe(true);
    expect(tooManyValues('[' + '0,'.repeat(2000) + '0]')).toBe(false); // under 4 KiB
  });
});
