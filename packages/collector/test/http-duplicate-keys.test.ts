import { duplicateKey } from '../src/http/duplicate-keys';

describe('duplicateKey', () => {
  it.each([
    ['{"username":"a","username":"b"}', '/username'],
    ['{"a":1,"b":{"c":1,"c":2}}', '/b/c'],
    ['{"a":[{"x":1},{"y":1,"y":2}]}', '/a/1/y'],
    // the same key however it is escaped
    ['{"ab":1,"a\\u0062":2}', '/ab'],
    ['{"a/b~":1,"a/b~":2}', '/a~1b~0'],
    ['[1,{"k":[2,3]},{"k":4,"k":5}]', '/2/k'],
  ])('%s names %s twice', (text, path) => {
    JSON.parse(text); // valid JSON, as the caller guarantees
    expect(duplicateKey(text)).toBe(path);
  });

  it.each([
    '{"status":"resolved","resolvedInVersion":"5.3"}',
    // the same key in different objects, and keys inside strings
    '{"a":{"k":1},"b":{"k":2},"k":3}',
    '{"a":"\\"a\\":1,{\\"a\\"","b":"{[,]}","c":["a","a"]}',
    '"username"',
    '[{"a":1},{"a":1}]',
    '{}',
  ])('%s names no key twice', (text) => {
    JSON.parse(text);
    expect(duplicateKey(text)).toBeUndefined();
  });
});
