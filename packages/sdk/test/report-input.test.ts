import { decodeText } from '../src/bin/report-input';

/**
 * Windows-1252's 0x80-0x9F as Microsoft's table gives them (unicode.org's CP1252.TXT), written
 * out here rather than taken from the code under test. Its five undefined bytes (0x81, 0x8D,
 * 0x8F, 0x90, 0x9D) read as the C1 control of the same value, as they always have; the rest of
 * the code page is Latin-1, each byte the code point of its value.
 */
const CP1252_80_9F =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';
const expected = (byte: number) =>
  byte >= 0x80 && byte < 0xa0 ? CP1252_80_9F[byte - 0x80] : String.fromCharCode(byte);

describe('decodeText', () => {
  it('reads each of the 256 byte values of text that is not UTF-8 as Windows-1252', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, byte) => byte));
    const text = Array.from({ length: 256 }, (_, byte) => expected(byte)).join('');
    expect(decodeText(all)).toEqual({ text, guessed: true });
    // Each byte alone between two letters (not UTF-8 for any byte from 0x80 up).
    for (let byte = 0x80; byte < 0x100; byte++) {
      expect(decodeText(Buffer.from([0x41, byte, 0x42]))).toEqual({
        text: `A${expected(byte)}B`,
        guessed: true,
      });
    }
    // Text with none of 0x80-0x9F (Latin-1 as it stands) too.
    expect(decodeText(all.subarray(0xa0))).toEqual({ text: text.slice(0xa0), guessed: true });
  });

  it('reads UTF-8 and UTF-16 with its BOM as they are, not as Windows-1252', () => {
    const text = 'M\u00fcller \u20ac 100';
    expect(decodeText(Buffer.from(text))).toEqual({ text });
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    expect(decodeText(le)).toEqual({ text });
    const be = Buffer.from(le).swap16();
    expect(decodeText(be)).toEqual({ text });
  });
});
